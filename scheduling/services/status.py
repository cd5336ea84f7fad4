"""A post's status follows its targets; an account's queued targets are canceled at once."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Case as SqlCase
from django.db.models import Exists, OuterRef, Value, When
from django.utils import timezone

from scheduling.models import PostTarget, ScheduledPost
from socialhub.db import lock_rows

TargetStatus = PostTarget.Status
PostStatus = ScheduledPost.Status


def scheduled_posts_settle_status(*, post_ids) -> int:
    """Give every post that has no target left to publish its final status, in one UPDATE.

    ``post_ids`` may be a list or a subquery. A post with a target still queued or
    publishing is left alone. Otherwise: all targets canceled → canceled; all published →
    published; some published → partially_published; none published → failed.
    """
    targets = PostTarget.objects.filter(post_id=OuterRef("pk"))
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
        return open_posts.exclude(
            Exists(targets.filter(status__in=[TargetStatus.QUEUED, TargetStatus.PUBLISHING]))
        ).update(
            status=SqlCase(
                When(
                    ~Exists(targets.exclude(status=TargetStatus.CANCELED)),
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


def post_targets_cancel_for_account(*, social_account_id, reason: str) -> int:
    """Cancel every queued target of one account in one UPDATE, then settle the posts that
    have nothing left to publish. Returns the number of targets canceled."""
    now = timezone.now()
    canceled = PostTarget.objects.filter(
        social_account_id=social_account_id, status=TargetStatus.QUEUED
    ).update(status=TargetStatus.CANCELED, canceled_reason=reason, updated_at=now)
    if canceled:
        affected_posts = PostTarget.objects.filter(
            social_account_id=social_account_id, status=TargetStatus.CANCELED
        ).values("post_id")
        scheduled_posts_settle_status(post_ids=affected_posts)
    return canceled
