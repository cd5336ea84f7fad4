"""Who may change a scheduled post: its author, the workspace's owners and admins, and the
workspace's API keys (whose reach is limited by their scopes instead)."""

from __future__ import annotations

from accounts.policies import MANAGER_ROLES
from accounts.services.actors import Actor
from socialhub.api.errors import ApplicationError, ErrorCode

from .models import ScheduledPost


def require_may_change_post(*, actor: Actor, post: ScheduledPost) -> None:
    """403 ``FORBIDDEN_ROLE`` for a member who did not write the post. ``post`` comes from
    ``scheduled_post_get_for_caller`` (``caller_role`` set for users)."""
    if actor.api_key is not None or post.author_id == actor.user.pk:
        return
    role = getattr(post, "caller_role", None)
    if role in MANAGER_ROLES:
        return
    raise ApplicationError(
        ErrorCode.FORBIDDEN_ROLE,
        "Only the post's author or a workspace owner or admin can change it.",
        i18n_key="scheduled_post.forbidden_role",
        i18n_vars={"role": role},
    )
