"""Webhook endpoints and their deliveries, as the owners and admins who manage them see them."""

from __future__ import annotations

import uuid

from django.db.models import OuterRef, QuerySet, Subquery

from accounts.models import Membership, User, WebhookDelivery, WebhookEndpoint
from accounts.policies import MANAGER_ROLES
from socialhub.api.errors import ApplicationError, not_found

from .workspaces import membership_get_for_user, workspace_not_found


def webhook_not_found() -> ApplicationError:
    return not_found("webhook.not_found", "Webhook not found.")


def webhook_workspace_membership_get(*, user: User, workspace_id: uuid.UUID | None) -> Membership:
    """The user's membership (with the workspace) in the named workspace, or else in their
    personal one; 404 for a workspace the user is not in."""
    if workspace_id is not None:
        return membership_get_for_user(user=user, workspace_id=workspace_id)
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__is_personal=True, role=Membership.Role.OWNER)
        .order_by("workspace__created_at")
        .first()
    )
    if membership is None:
        raise workspace_not_found()
    return membership


def _endpoints() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.defer("secret")


def webhook_endpoint_list_for_manager(
    *, user: User, workspace_id: uuid.UUID | None = None
) -> QuerySet[WebhookEndpoint]:
    """Endpoints of the workspaces the user owns or administers (or of the one named, which
    the caller has already checked the user manages), oldest first, in one query."""
    if workspace_id is not None:
        endpoints = _endpoints().filter(workspace_id=workspace_id)
    else:
        managed = Membership.objects.filter(user=user, role__in=MANAGER_ROLES)
        endpoints = _endpoints().filter(workspace_id__in=managed.values("workspace_id"))
    return endpoints.order_by("created_at", "id")


def webhook_endpoint_get_for_user(*, user: User, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """The endpoint with the user's role in its workspace as ``caller_role``; 404 when the
    user is not a member there (whether it exists elsewhere is not revealed)."""
    role = Membership.objects.filter(workspace_id=OuterRef("workspace_id"), user=user)
    endpoint = (
        _endpoints()
        .annotate(caller_role=Subquery(role.values("role")[:1]))
        .filter(pk=endpoint_id, caller_role__isnull=False)
        .first()
    )
    if endpoint is None:
        raise webhook_not_found()
    return endpoint


def webhook_delivery_list_for_endpoint(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries without their bodies, unordered: the caller pages them."""
    return WebhookDelivery.objects.filter(endpoint=endpoint).defer("body")
