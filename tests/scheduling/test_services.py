"""Scheduled posts settle to the status their targets put them in; an account's queued
targets are canceled in one statement."""

from __future__ import annotations

import pytest

from accounts.models import Platform
from scheduling.models import PostTarget, ScheduledPost
from scheduling.services import post_targets_cancel_for_account, scheduled_posts_settle_status
from tests.factories import PostTargetFactory, ScheduledPostFactory, SocialAccountFactory

pytestmark = pytest.mark.django_db

T = PostTarget.Status
P = ScheduledPost.Status

PLATFORMS = [Platform.INSTAGRAM, Platform.X, Platform.YOUTUBE]


def post_with_targets(user, post_status, target_statuses) -> ScheduledPost:
    post = ScheduledPostFactory(author=user, status=post_status)
    for platform, status in zip(PLATFORMS, target_statuses, strict=False):
        account = SocialAccountFactory(user=user, platform=platform)
        PostTargetFactory(post=post, social_account=account, status=status)
    return post


@pytest.mark.parametrize(
    ("post_status", "target_statuses", "settled"),
    [
        (P.QUEUED, [T.CANCELED], P.CANCELED),
        (P.QUEUED, [T.CANCELED, T.CANCELED], P.CANCELED),
        (P.QUEUED, [T.PUBLISHED], P.PUBLISHED),
        (P.PUBLISHING, [T.PUBLISHED, T.PUBLISHED], P.PUBLISHED),
        (P.QUEUED, [T.PUBLISHED, T.CANCELED], P.PARTIALLY_PUBLISHED),
        (P.PUBLISHING, [T.PUBLISHED, T.FAILED], P.PARTIALLY_PUBLISHED),
        (P.QUEUED, [T.PUBLISHED, T.FAILED, T.CANCELED], P.PARTIALLY_PUBLISHED),
        (P.QUEUED, [T.FAILED], P.FAILED),
        (P.QUEUED, [T.FAILED, T.CANCELED], P.FAILED),
        # something still to publish: left alone
        (P.QUEUED, [T.QUEUED, T.CANCELED], P.QUEUED),
        (P.QUEUED, [T.QUEUED, T.PUBLISHED], P.QUEUED),
        (P.PUBLISHING, [T.PUBLISHING, T.PUBLISHED], P.PUBLISHING),
        (P.PUBLISHING, [T.PUBLISHING, T.CANCELED], P.PUBLISHING),
        # a post that already has its final status keeps it
        (P.PUBLISHED, [T.PUBLISHED, T.CANCELED], P.PUBLISHED),
        (P.CANCELED, [T.PUBLISHED], P.CANCELED),
    ],
)
def test_settle_status_rules(user, post_status, target_statuses, settled):
    # given
    post = post_with_targets(user, post_status, target_statuses)

    # when
    changed = scheduled_posts_settle_status(post_ids=[post.pk])

    # then
    post.refresh_from_db()
    assert post.status == settled
    assert changed == (1 if settled != post_status else 0)


def test_settle_touches_only_the_posts_named(user):
    # given
    named = post_with_targets(user, P.QUEUED, [T.CANCELED])
    other = ScheduledPostFactory(author=user)
    PostTargetFactory(
        post=other, social_account=named.targets.get().social_account, status="canceled"
    )

    # when: post ids as a subquery, as the cancel service passes them
    scheduled_posts_settle_status(post_ids=ScheduledPost.objects.filter(pk=named.pk).values("pk"))

    # then
    assert ScheduledPost.objects.get(pk=named.pk).status == P.CANCELED
    assert ScheduledPost.objects.get(pk=other.pk).status == P.QUEUED


def test_cancel_for_account_cancels_only_its_queued_targets(user):
    # given
    account = SocialAccountFactory(user=user, platform=Platform.INSTAGRAM)
    sibling = SocialAccountFactory(user=user, platform=Platform.X)
    mine = {
        status: PostTargetFactory(social_account=account, status=status)
        for status in (T.QUEUED, T.PUBLISHING, T.PUBLISHED, T.FAILED)
    }
    second_queued = PostTargetFactory(social_account=account)
    shared = ScheduledPostFactory(author=user)
    mine_shared = PostTargetFactory(post=shared, social_account=account)
    theirs_shared = PostTargetFactory(post=shared, social_account=sibling)

    # when
    canceled = post_targets_cancel_for_account(
        social_account_id=account.pk, reason="account_disconnected"
    )

    # then
    assert canceled == 3
    status_of = dict(PostTarget.objects.values_list("id", "status"))
    assert status_of[mine[T.QUEUED].pk] == T.CANCELED
    assert status_of[second_queued.pk] == T.CANCELED
    assert status_of[mine_shared.pk] == T.CANCELED
    assert status_of[mine[T.PUBLISHING].pk] == T.PUBLISHING
    assert status_of[mine[T.PUBLISHED].pk] == T.PUBLISHED
    assert status_of[mine[T.FAILED].pk] == T.FAILED
    assert status_of[theirs_shared.pk] == T.QUEUED
    assert set(
        PostTarget.objects.filter(status=T.CANCELED).values_list("canceled_reason", flat=True)
    ) == {"account_disconnected"}
    # and the posts: single-target ones canceled, the shared one still queued
    assert ScheduledPost.objects.get(pk=mine[T.QUEUED].post_id).status == P.CANCELED
    assert ScheduledPost.objects.get(pk=shared.pk).status == P.QUEUED


def test_cancel_for_account_is_three_statements_whatever_the_volume(
    user, django_assert_num_queries
):
    # given
    account = SocialAccountFactory(user=user)
    PostTargetFactory.create_batch(30, social_account=account)

    # when: cancel the targets, lock their posts, settle the posts
    with django_assert_num_queries(3):
        canceled = post_targets_cancel_for_account(
            social_account_id=account.pk, reason="account_disconnected"
        )

    # then
    assert canceled == 30
    assert ScheduledPost.objects.filter(status=P.CANCELED).count() == 30


def test_cancel_for_account_with_nothing_queued_changes_nothing(user, django_assert_num_queries):
    # given
    account = SocialAccountFactory(user=user)
    published = PostTargetFactory(social_account=account, status=T.PUBLISHED)

    # when
    with django_assert_num_queries(1):
        canceled = post_targets_cancel_for_account(
            social_account_id=account.pk, reason="account_disconnected"
        )

    # then
    assert canceled == 0
    published.refresh_from_db()
    assert published.status == T.PUBLISHED
    assert ScheduledPost.objects.get().status == P.QUEUED
