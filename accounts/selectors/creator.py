"""The creator's own accounts and profile."""

from __future__ import annotations

from django.db import connection

from accounts.models import CreatorProfile, SocialAccount, User
from socialhub.api.errors import ApplicationError, not_found
from socialhub.db import select_rows

CREATOR_LIST_LIMIT = 50

# Written once: building this through the ORM on every request cost more than running it.
_CREATOR_LIST_FIELDS = ("platform", "platform_username", "verified", "connected_at")
_CREATOR_LIST_SQL = f"""
    SELECT {", ".join(_CREATOR_LIST_FIELDS)}
    FROM {SocialAccount._meta.db_table}
    WHERE user_id = %s
    ORDER BY connected_at, id
    LIMIT %s
"""  # noqa: S608 - names come from this module and model metadata, values are parameters


def social_account_list_for_creator(*, user: User) -> list[dict]:
    """The creator's accounts, oldest first, at most 50, public fields only: one dict per
    account, keyed by field name."""
    rows = select_rows(
        _CREATOR_LIST_SQL,
        [User._meta.pk.get_db_prep_value(user.pk, connection), CREATOR_LIST_LIMIT],
        [SocialAccount._meta.get_field(name) for name in _CREATOR_LIST_FIELDS],
    )
    return [dict(zip(_CREATOR_LIST_FIELDS, row, strict=True)) for row in rows]


def social_account_get_for_creator(*, user: User, platform: str) -> SocialAccount:
    account = (
        SocialAccount.objects.filter(user=user, platform=platform)
        .only("id", "platform", "user_id", "workspace_id", "platform_username")
        .first()
    )
    if account is None:
        raise creator_social_not_found(platform)
    return account


def creator_social_not_found(platform: str) -> ApplicationError:
    """The creator endpoints' 404 for a platform with no account connected."""
    return not_found(
        "creator.social.not_found", f"No {platform} account is connected for this user."
    )


def creator_profile_get(*, user: User) -> CreatorProfile:
    profile = CreatorProfile.objects.filter(user=user).first()
    if profile is None:
        raise not_found("creator.profile.not_found", "This user has no creator profile.")
    profile.user = user  # already loaded by authentication; spares a query
    return profile
