"""Writing the audit trail."""

from __future__ import annotations

from typing import Any

from accounts.models import AuditEvent
from socialhub.api.correlation import get_correlation_id

from .actors import Actor


def audit_event_record(
    *,
    actor: Actor,
    action: str,
    workspace_id: str = "",
    subject_ids: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event; call it inside the transaction of the change it records."""
    return AuditEvent.objects.create(
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        workspace_id=workspace_id or "",
        subject_ids=subject_ids or [],
        data=data or {},
        correlation_id=get_correlation_id() or "",
    )
