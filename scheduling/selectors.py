"""Scheduled posts as a workspace caller (a member, or the workspace's API key) sees them.

A post of a workspace the caller is not in is reported as absent (404), never forbidden.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from accounts.models import Membership, SocialAccount
from accounts.selectors.social import social_accounts_visible_to
from accounts.selectors.workspaces import workspace_check_for_caller
from accounts.services.actors import Actor
from socialhub.api.errors import not_found

from .models import PostTarget, ScheduledPost


def scheduled_post_not_found():
    return not_found("scheduled_post.not_found", "Scheduled post not found.")


def _workspaces_of(actor: Actor):
    """The ids of the workspaces the caller acts in (a subquery for users)."""
    if actor.api_key is not None:
        return [actor.api_key.workspace_id]
    return Membership.objects.filter(user=actor.user).values("workspace_id")


def scheduled_post_get_for_caller(*, actor: Actor, post_id: uuid.UUID) -> ScheduledPost:
    """The post with its targets if the caller may see it, else 404. For users,
    ``caller_role`` is their role in the post's workspace (``None`` for keys)."""
    posts = ScheduledPost.objects.prefetch_related("targets")
    if actor.api_key is not None:
        posts = posts.filter(workspace_id=actor.api_key.workspace_id)
    else:
        role = Membership.objects.filter(workspace_id=OuterRef("workspace_id"), user=actor.user)
        posts = posts.annotate(caller_role=Subquery(role.values("role")[:1])).filter(
            caller_role__isnull=False
        )
    post = posts.filter(pk=post_id).first()
    if post is None:
        raise scheduled_post_not_found()
    return post


def scheduled_posts_for_caller(
    *,
    actor: Actor,
    workspace_id: uuid.UUID | None = None,
    status: str | None = None,
    social_account_id: uuid.UUID | None = None,
    scheduled_after: datetime | None = None,
    scheduled_before: datetime | None = None,
) -> QuerySet[ScheduledPost]:
    """The caller's posts, filtered, with their targets prefetched (unordered: page it).

    ``workspace_id`` must be one of the caller's workspaces (404 otherwise, one query for
    users); ``scheduled_after`` is inclusive, ``scheduled_before`` exclusive.
    """
    if workspace_id is not None:
        workspace_check_for_caller(actor=actor, workspace_id=workspace_id)
        posts = ScheduledPost.objects.filter(workspace_id=workspace_id)
    else:
        posts = ScheduledPost.objects.filter(workspace_id__in=_workspaces_of(actor))
    if status is not None:
        posts = posts.filter(status=status)
    if social_account_id is not None:
        posts = posts.filter(
            Exists(
                PostTarget.objects.filter(
                    post_id=OuterRef("pk"), social_account_id=social_account_id
                )
            )
        )
    if scheduled_after is not None:
        posts = posts.filter(scheduled_at__gte=scheduled_after)
    if scheduled_before is not None:
        posts = posts.filter(scheduled_at__lt=scheduled_before)
    return posts.prefetch_related("targets")


def social_accounts_for_targets(*, actor: Actor) -> QuerySet[SocialAccount]:
    """The accounts the caller may schedule to: those it can see (tokens not loaded)."""
    return social_accounts_visible_to(actor)
