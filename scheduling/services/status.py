"""A post's status follows its targets; an account's queued targets are canceled at once."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from scheduling.models import PostTarget, ScheduledPost

TargetStatus = PostTarget.Status
PostStatus = ScheduledPost.Status


# The settle rule in SQL, written once: the statement runs for every disconnected account,
# where building it through the ORM cost more than running it. ``{leaving}`` is empty, or
# excludes the queued targets of the account being disconnected (they count as canceled).
_SETTLE = """
    UPDATE {posts} AS p
    SET status = CASE
            WHEN NOT EXISTS (SELECT 1 FROM {targets} AS t WHERE t.post_id = p.id
                             AND t.status <> %(canceled)s {leaving}) THEN %(post_canceled)s
            WHEN NOT EXISTS (SELECT 1 FROM {targets} AS t WHERE t.post_id = p.id
                             AND t.status <> %(published)s) THEN %(post_published)s
            WHEN EXISTS (SELECT 1 FROM {targets} AS t WHERE t.post_id = p.id
                         AND t.status = %(published)s) THEN %(post_partially_published)s
            ELSE %(post_failed)s
        END,
        updated_at = %(now)s
    WHERE p.id IN ({selection}) AND p.status IN (%(post_queued)s, %(post_publishing)s)
      AND NOT EXISTS (SELECT 1 FROM {targets} AS t WHERE t.post_id = p.id
                      AND t.status IN (%(queued)s, %(publishing)s) {leaving})
"""
_LOCK_OPEN_POSTS = """
    SELECT COUNT(*) FROM (
        SELECT p.id FROM {posts} AS p
        WHERE p.id IN ({selection}) AND p.status IN (%(post_queued)s, %(post_publishing)s)
        ORDER BY p.id FOR UPDATE
    ) AS locked
"""
_LEAVING = "AND NOT (t.social_account_id = %(account)s AND t.status = %(queued)s)"
_OF_LEAVING_ACCOUNT = (
    "SELECT post_id FROM {targets} WHERE social_account_id = %(account)s AND status = %(queued)s"
)
_LOCK_QUEUED_TARGETS = """
    SELECT COUNT(*) FROM (
        SELECT t.id FROM {targets} AS t
        WHERE t.social_account_id = %(account)s AND t.status = %(queued)s
        ORDER BY t.id {for_update}
    ) AS locked
"""
_CANCEL_QUEUED_TARGETS = """
    UPDATE {targets}
    SET status = %(canceled)s, canceled_reason = %(reason)s, updated_at = %(now)s,
        social_account_id = NULL
    WHERE social_account_id = %(account)s AND status = %(queued)s
"""


def _uuid_param(value):
    """A UUID as the backend stores it (SQLite keeps them as hex text)."""
    return PostTarget._meta.pk.get_db_prep_value(value, connection)


def _sql(statement: str, **parts: str) -> str:
    quote = connection.ops.quote_name
    return statement.format(
        posts=quote(ScheduledPost._meta.db_table),
        targets=quote(PostTarget._meta.db_table),
        # SQLite has no row locks: its write transaction already holds the whole database.
        for_update="FOR UPDATE" if connection.features.has_select_for_update else "",
        **parts,
    )


def _params(**params) -> dict:
    return {
        **params,
        **{value: value for value in TargetStatus.values},
        **{f"post_{value}": value for value in PostStatus.values},
        "now": ScheduledPost._meta.get_field("updated_at").get_db_prep_value(
            timezone.now(), connection
        ),
    }


def _settle(cursor, *, selection: str, leaving: str, params: dict) -> int:
    # Lock the posts first, in id order (two settlers cannot deadlock). Under READ COMMITTED
    # the UPDATE below then starts after any other transaction settling the same posts has
    # committed, and sees its canceled targets: without the lock, two accounts of one post
    # disconnected at once each saw the other's target still queued, and the post stayed
    # queued for ever.
    selection = _sql(selection)
    if connection.features.has_select_for_update:
        cursor.execute(_sql(_LOCK_OPEN_POSTS, selection=selection), params)
    cursor.execute(_sql(_SETTLE, selection=selection, leaving=leaving), params)
    return cursor.rowcount


def scheduled_posts_settle_status(*, post_ids: Iterable[uuid.UUID]) -> int:
    """Give every post of ``post_ids`` that has no target left to publish its final status,
    in one UPDATE.

    A post with a target still queued or publishing is left alone. Otherwise: all targets
    canceled → canceled; all published → published; some published → partially_published;
    none published → failed.
    """
    post_ids = list(post_ids)
    if not post_ids:
        return 0
    params = {f"post{index}": _uuid_param(post_id) for index, post_id in enumerate(post_ids)}
    selection = ", ".join(f"%({name})s" for name in params)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        return _settle(cursor, selection=selection, leaving="", params=_params(**params))


def post_targets_cancel_for_disconnect(*, social_account_id, reason: str) -> int:
    """Cancel the queued targets of an account about to be deleted and detach them from it,
    in one pass over them; settle the posts left with nothing to publish. Returns the number
    of targets canceled.

    The targets are locked first, then their posts (the order every writer of posts and
    targets follows), and the posts are settled before the targets change, counting this
    account's queued targets as canceled. Each target row is written once: the disconnect's
    own detach of the account's other targets (published, failed, canceled) finds these
    already detached. Four statements, whatever the number of targets.
    """
    params = _params(account=_uuid_param(social_account_id), reason=reason)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_sql(_LOCK_QUEUED_TARGETS), params)
        if not cursor.fetchone()[0]:
            return 0
        _settle(cursor, selection=_OF_LEAVING_ACCOUNT, leaving=_LEAVING, params=params)
        cursor.execute(_sql(_CANCEL_QUEUED_TARGETS), params)
        return cursor.rowcount
