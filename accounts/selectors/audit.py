"""The audit trail as workspace owners and admins read it."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet

from accounts.models import AuditEvent, Membership, User, Workspace
from accounts.policies import MANAGER_ROLES
from socialhub.api.ids import format_public_id


def audit_event_list_for_manager(
    *,
    user: User,
    workspace_id: uuid.UUID | None = None,
    action: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events of the workspaces the user owns or administers (or of the one named, which
    the caller has already been checked to manage), unordered: the caller pages them."""
    if workspace_id is not None:
        workspace_ids = [format_public_id(Workspace.ID_PREFIX, workspace_id)]
    else:
        managed = Membership.objects.filter(user=user, role__in=MANAGER_ROLES)
        workspace_ids = [
            format_public_id(Workspace.ID_PREFIX, pk)
            for pk in managed.values_list("workspace_id", flat=True)
        ]
    events = AuditEvent.objects.filter(workspace_id__in=workspace_ids)
    if action:
        events = events.filter(action=action)
    if created_after is not None:
        events = events.filter(created_at__gt=created_after)
    if created_before is not None:
        events = events.filter(created_at__lt=created_before)
    return events
