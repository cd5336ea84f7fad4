"""Social accounts as a workspace caller (a member, or the workspace's API key) sees them."""

from __future__ import annotations

import uuid

from django.db.models import Count, F, OuterRef, QuerySet, Subquery

from accounts.models import Membership, Platform, SocialAccount
from accounts.services.actors import Actor
from scheduling.models import PostTarget
from socialhub.api.errors import not_found

from .workspaces import workspace_check_for_caller


def social_accounts_visible_to(actor: Actor) -> QuerySet[SocialAccount]:
    """Accounts of the key's workspace, or of every workspace the user belongs to, with
    the user's role there as ``caller_role`` (``None`` for keys)."""
    accounts = SocialAccount.objects.defer("access_token", "refresh_token").annotate(
        follower_count=F("metrics__follower_count")
    )
    if actor.api_key is not None:
        return accounts.filter(workspace_id=actor.api_key.workspace_id)
    role = Membership.objects.filter(workspace_id=OuterRef("workspace_id"), user=actor.user)
    return accounts.annotate(caller_role=Subquery(role.values("role")[:1])).filter(
        caller_role__isnull=False
    )


def _account_not_found():
    return not_found("social_account.not_found", "Social account not found.")


def social_accounts_by_platform_for_caller(
    *, actor: Actor, workspace_id: uuid.UUID | None = None
) -> dict[str, list[SocialAccount]]:
    """Every platform as a key (empty lists included), accounts oldest first. One query
    (two for a user naming a workspace: membership is checked first, so a workspace the
    user is not in is a 404 rather than an empty list)."""
    accounts = social_accounts_visible_to(actor)
    if workspace_id is not None:
        workspace_check_for_caller(actor=actor, workspace_id=workspace_id)
        accounts = accounts.filter(workspace_id=workspace_id)
    grouped: dict[str, list[SocialAccount]] = {platform: [] for platform in Platform.values}
    for account in accounts.order_by("connected_at", "id"):
        grouped[account.platform].append(account)
    return grouped


def social_account_get_for_caller(*, actor: Actor, account_id: uuid.UUID) -> SocialAccount:
    """The account if the caller may see it (``caller_role`` set for users); else 404."""
    account = social_accounts_visible_to(actor).filter(pk=account_id).first()
    if account is None:
        raise _account_not_found()
    return account


def post_target_usage_for_account(*, account: SocialAccount) -> list[dict]:
    """The account's post targets counted by status, in one query."""
    return list(
        PostTarget.objects.filter(social_account_id=account.pk)
        .order_by("status")
        .values("status")
        .annotate(count=Count("*"))
    )
