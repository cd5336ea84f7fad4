"""Keeping ``CreatorProfile.total_followers`` equal to the sum over the creator's accounts."""

from __future__ import annotations

import uuid

from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from accounts.models import CreatorProfile, SocialAccount, SocialMetrics


def _follower_sum_for_outer_user() -> Subquery:
    totals = (
        SocialMetrics.objects.filter(social_account__user_id=OuterRef("user_id"))
        .order_by()
        .values("social_account__user_id")
        .annotate(total=Sum("follower_count"))
        .values("total")
    )
    return Coalesce(Subquery(totals), 0)


def creator_followers_recompute(*, user_id: uuid.UUID) -> None:
    """One UPDATE: the user's total becomes the sum of its remaining accounts' followers."""
    CreatorProfile.objects.filter(user_id=user_id).update(
        total_followers=_follower_sum_for_outer_user()
    )


def creator_followers_recompute_for_account(*, social_account_id: int | uuid.UUID) -> None:
    """The same, found through an account id (what a metrics signal knows) in one statement."""
    owner = SocialAccount.objects.filter(pk=social_account_id).values("user_id")[:1]
    CreatorProfile.objects.filter(user_id=Subquery(owner)).update(
        total_followers=_follower_sum_for_outer_user()
    )


def creator_followers_recompute_all() -> int:
    """Every creator's total, in one statement; returns how many profiles were updated."""
    return CreatorProfile.objects.update(total_followers=_follower_sum_for_outer_user())
