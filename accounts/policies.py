"""What each workspace role may do. Owners and admins manage; members read."""

from __future__ import annotations

from accounts.models import Membership
from socialhub.api.errors import ApplicationError, ErrorCode

MANAGER_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.ADMIN})


def require_manager(*, role: str | None, doing: str) -> None:
    """403 ``FORBIDDEN_ROLE`` unless ``role`` is owner or admin (``None``: an API key, whose
    reach is limited by its scopes instead)."""
    if role is None or role in MANAGER_ROLES:
        return
    raise ApplicationError(
        ErrorCode.FORBIDDEN_ROLE,
        f"Only workspace owners and admins can {doing}.",
        i18n_key="workspace.forbidden_role",
        i18n_vars={"role": role},
    )


def require_may_grant(*, granter_role: str, role: str) -> None:
    """Owners grant any role; admins grant admin or member."""
    require_manager(role=granter_role, doing="add members")
    if role == Membership.Role.OWNER and granter_role != Membership.Role.OWNER:
        raise ApplicationError(
            ErrorCode.FORBIDDEN_ROLE,
            "Only owners can make someone an owner.",
            i18n_key="workspace.forbidden_role",
            i18n_vars={"role": granter_role},
        )
