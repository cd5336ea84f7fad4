"""Keeping ``CreatorProfile.total_followers`` equal to the sum over the creator's accounts."""

from __future__ import annotations

import uuid

from django.db import connection, transaction
from django.db.models import F, OuterRef, Subquery, Sum
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


# The recompute in SQL: it runs on every metrics change and every disconnect, where building
# it through the ORM cost more than running it. ``{profiles}`` selects the user ids.
_LOCK_PROFILES = """
    SELECT COUNT(*) FROM (
        SELECT p.id FROM {profile} AS p WHERE p.user_id IN ({users}) ORDER BY p.id FOR UPDATE OF p
    ) AS locked
"""
_SET_TOTALS = """
    UPDATE {profile} AS p
    SET total_followers = COALESCE((
        SELECT SUM(m.follower_count) FROM {metrics} AS m
        JOIN {account} AS a ON a.id = m.social_account_id
        WHERE a.user_id = p.user_id
    ), 0)
    WHERE p.user_id IN ({users})
"""
_OWNER_OF_ACCOUNT = "SELECT user_id FROM {account} WHERE id = %(account)s"


def _recompute_locked(users: str, params: dict) -> None:
    """Lock the profile rows of ``users`` (SQL selecting user ids), then set the sums in a
    second statement.

    Under READ COMMITTED an UPDATE that waited for a concurrent writer of the same profile
    re-checks only that row: its SUM subquery keeps the snapshot taken before the wait and
    misses the other transaction's metrics changes (two accounts disconnected at once left
    the first one's followers in the total). The lock makes the UPDATE start after that
    transaction committed, with a fresh snapshot. (SQLite's write transaction already holds
    the whole database.)
    """
    quote = connection.ops.quote_name
    tables = {
        "profile": quote(CreatorProfile._meta.db_table),
        "metrics": quote(SocialMetrics._meta.db_table),
        "account": quote(SocialAccount._meta.db_table),
    }
    users = users.format(**tables)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.features.has_select_for_update:
            cursor.execute(_LOCK_PROFILES.format(users=users, **tables), params)
        cursor.execute(_SET_TOTALS.format(users=users, **tables), params)


def _uuid(value) -> str | uuid.UUID:
    return SocialAccount._meta.pk.get_db_prep_value(value, connection)


def creator_followers_recompute(*, user_id: uuid.UUID) -> None:
    """The user's total becomes the sum of its remaining accounts' followers."""
    _recompute_locked("%(user)s", {"user": _uuid(user_id)})


def creator_followers_recompute_for_account(*, social_account_id: uuid.UUID) -> None:
    """The same, found through an account id (what a metrics signal knows)."""
    _recompute_locked(_OWNER_OF_ACCOUNT, {"account": _uuid(social_account_id)})


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
        params = {f"user{index}": _uuid(row[0]) for index, row in enumerate(drifted)}
        _recompute_locked(", ".join(f"%({name})s" for name in params), params)
    return [(email, stored, actual) for _user_id, email, stored, actual in drifted]
