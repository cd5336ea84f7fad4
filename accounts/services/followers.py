"""Keeping ``CreatorProfile.total_followers`` equal to the sum over the creator's accounts."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from accounts.models import CreatorProfile, SocialAccount, SocialMetrics
from socialhub.db import lock_rows


def _follower_sum_for_outer_user() -> Subquery:
    totals = (
        SocialMetrics.objects.filter(social_account__user_id=OuterRef("user_id"))
        .order_by()
        .values("social_account__user_id")
        .annotate(total=Sum("follower_count"))
        .values("total")
    )
    return Coalesce(Subquery(totals), 0)


def _recompute_locked(profiles: QuerySet) -> None:
    """Lock the profile row, then set the sum in a second statement.

    Under READ COMMITTED an UPDATE that waited for a concurrent writer of the same profile
    re-checks only that row: its SUM subquery keeps the snapshot taken before the wait and
    misses the other transaction's metrics changes (two accounts disconnected at once left
    the first one's followers in the total). The lock makes the UPDATE start after that
    transaction committed, with a fresh snapshot.
    """
    with transaction.atomic(savepoint=False):
        lock_rows(profiles)
        profiles.update(total_followers=_follower_sum_for_outer_user())


def creator_followers_recompute(*, user_id: uuid.UUID) -> None:
    """The user's total becomes the sum of its remaining accounts' followers."""
    _recompute_locked(CreatorProfile.objects.filter(user_id=user_id))


def creator_followers_recompute_for_account(*, social_account_id: int | uuid.UUID) -> None:
    """The same, found through an account id (what a metrics signal knows)."""
    owner = SocialAccount.objects.filter(pk=social_account_id).values("user_id")[:1]
    _recompute_locked(CreatorProfile.objects.filter(user_id=Subquery(owner)))


def creator_followers_repair(
    *, user_ids: list[uuid.UUID] | None = None
) -> list[tuple[str, int, int]]:
    """Correct the totals that differ from the sum (of ``user_ids``' profiles, or every one).

    Returns ``(email, stored, actual)`` for each profile that was off. The correction is the
    locked recompute above, so a disconnect committing meanwhile cannot leave a stale total.
    """
    profiles = CreatorProfile.objects.all()
    if user_ids is not None:
        profiles = profiles.filter(user_id__in=user_ids)
    drifted = list(
        profiles.annotate(actual=_follower_sum_for_outer_user())
        .exclude(total_followers=F("actual"))
        .order_by("user__email")
        .values_list("user_id", "user__email", "total_followers", "actual")
    )
    if drifted:
        _recompute_locked(CreatorProfile.objects.filter(user_id__in=[row[0] for row in drifted]))
    return [(email, stored, actual) for _user_id, email, stored, actual in drifted]
