"""A post's status follows its targets; an account's queued targets are canceled at once."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Case as SqlCase
from django.db.models import Exists, OuterRef, Q, Value, When
from django.utils import timezone

from scheduling.models import PostTarget, ScheduledPost
from socialhub.db import lock_rows

TargetStatus = PostTarget.Status
PostStatus = ScheduledPost.Status


def scheduled_posts_settle_status(*, post_ids, canceling_account_id=None) -> int:
    """Give every post that has no target left to publish its final status, in one UPDATE.

    ``post_ids`` may be a list or a subquery. A post with a target still queued or
    publishing is left alone. Otherwise: all targets canceled → canceled; all published →
    published; some published → partially_published; none published → failed.

    With ``canceling_account_id``, that account's queued targets count as canceled: the
    caller holds their row locks and cancels them next, in the same transaction.
    """
    targets = PostTarget.objects.filter(post_id=OuterRef("pk"))
    open_targets = targets.filter(status__in=[TargetStatus.QUEUED, TargetStatus.PUBLISHING])
    not_canceled = targets.exclude(status=TargetStatus.CANCELED)
    if canceling_account_id is not None:
        canceling = Q(social_account_id=canceling_account_id, status=TargetStatus.QUEUED)
        open_targets = open_targets.exclude(canceling)
        not_canceled = not_canceled.exclude(canceling)
    open_posts = ScheduledPost.objects.filter(
        pk__in=post_ids, status__in=[PostStatus.QUEUED, PostStatus.PUBLISHING]
    )
    with transaction.atomic(savepoint=False):
        # Lock the posts first, in id order (two settlers cannot deadlock). Under READ
        # COMMITTED the UPDATE below then starts after any other transaction settling the
        # same posts has committed, and sees its canceled targets: without the lock, two
        # accounts of one post disconnected at once each saw the other's target still
        # queued, and the post stayed queued for ever.
        lock_rows(open_posts)
        return open_posts.exclude(Exists(open_targets)).update(
            status=SqlCase(
                When(
                    ~Exists(not_canceled),
                    then=Value(PostStatus.CANCELED),
                ),
                When(
                    ~Exists(targets.exclude(status=TargetStatus.PUBLISHED)),
                    then=Value(PostStatus.PUBLISHED),
                ),
                When(
                    Exists(targets.filter(status=TargetStatus.PUBLISHED)),
                    then=Value(PostStatus.PARTIALLY_PUBLISHED),
                ),
                default=Value(PostStatus.FAILED),
            ),
            updated_at=timezone.now(),
        )


def post_targets_cancel_for_disconnect(*, social_account_id, reason: str) -> int:
    """Cancel the queued targets of an account about to be deleted and detach them from it,
    in one pass over them; settle the posts left with nothing to publish. Returns the number
    of targets canceled.

    The targets are locked first, then their posts (the order every writer of posts and
    targets follows), and the posts are settled before the targets change, counting this
    account's queued targets as canceled. Each target row is written once: the disconnect's
    own detach of the account's other targets (published, failed, canceled) finds these
    already detached.
    """
    queued = PostTarget.objects.filter(
        social_account_id=social_account_id, status=TargetStatus.QUEUED
    )
    with transaction.atomic(savepoint=False):
        if not lock_rows(queued):
            return 0
        scheduled_posts_settle_status(
            post_ids=queued.values("post_id"), canceling_account_id=social_account_id
        )
        return queued.update(
            status=TargetStatus.CANCELED,
            canceled_reason=reason,
            updated_at=timezone.now(),
            social_account=None,
        )
