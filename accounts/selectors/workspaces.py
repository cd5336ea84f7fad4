"""Workspaces, their members and their API keys, as a signed-in user sees them."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from accounts.models import ApiKey, Membership, User, Workspace
from socialhub.api.errors import not_found


def workspace_not_found():
    return not_found("workspace.not_found", "Workspace not found.")


def workspace_list_for_user(*, user: User) -> QuerySet[Membership]:
    """The user's memberships with their workspaces, oldest workspace first."""
    return (
        Membership.objects.filter(user=user)
        .select_related("workspace")
        .order_by("workspace__created_at", "workspace_id")
    )


def membership_get_for_user(*, user: User, workspace_id: uuid.UUID) -> Membership:
    """The user's membership in the workspace (with the workspace); 404 for non-members."""
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace_id=workspace_id)
        .first()
    )
    if membership is None:
        raise workspace_not_found()
    return membership


def workspace_check_for_caller(*, actor, workspace_id: uuid.UUID) -> None:
    """404 unless the workspace is the API key's, or one the user belongs to (any role)."""
    if actor.api_key is not None:
        if actor.api_key.workspace_id != workspace_id:
            raise workspace_not_found()
    elif not Membership.objects.filter(user=actor.user, workspace_id=workspace_id).exists():
        raise workspace_not_found()


def membership_list_for_workspace(*, workspace: Workspace) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("created_at", "id")
    )


def api_key_list_for_workspace(*, workspace: Workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(workspace=workspace).order_by("created_at", "id")


def api_key_get_for_workspace(*, workspace: Workspace, api_key_id: uuid.UUID) -> ApiKey:
    api_key = ApiKey.objects.filter(workspace=workspace, pk=api_key_id).first()
    if api_key is None:
        raise not_found("api_key.not_found", "API key not found.")
    return api_key
