"""The creator's own accounts and profile."""

from __future__ import annotations

from accounts.models import CreatorProfile, SocialAccount, User
from socialhub.api.errors import not_found

CREATOR_LIST_LIMIT = 50


def social_account_list_for_creator(*, user: User):
    """The creator's accounts, oldest first, at most 50, public fields only."""
    return (
        SocialAccount.objects.filter(user=user)
        .order_by("connected_at", "id")
        .values("platform", "platform_username", "verified", "connected_at")[:CREATOR_LIST_LIMIT]
    )


def social_account_get_for_creator(*, user: User, platform: str) -> SocialAccount:
    account = (
        SocialAccount.objects.filter(user=user, platform=platform)
        .only("id", "platform", "user_id", "workspace_id", "platform_username")
        .first()
    )
    if account is None:
        raise not_found(
            "creator.social.not_found", f"No {platform} account is connected for this user."
        )
    return account


def creator_profile_get(*, user: User) -> CreatorProfile:
    profile = CreatorProfile.objects.filter(user=user).first()
    if profile is None:
        raise not_found("creator.profile.not_found", "This user has no creator profile.")
    profile.user = user  # already loaded by authentication; spares a query
    return profile
