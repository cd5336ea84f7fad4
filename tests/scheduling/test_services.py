"""Scheduled posts settle to the status their targets put them in; a disconnecting
account's queued targets are canceled and detached in one pass; posts are created, edited
and canceled without leaving work behind a rolled-back transaction or deadlocking against a
disconnect."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent, Platform, SocialAccount
from accounts.services.actors import Actor
from accounts.services.disconnect import social_account_disconnect
from scheduling.models import PostTarget, ScheduledPost
from scheduling.services import (
    post_targets_cancel_for_disconnect,
    scheduled_post_cancel,
    scheduled_post_create,
    scheduled_post_update,
    scheduled_posts_settle_status,
)
from scheduling.tasks import post_targets_publish_due_task
from socialhub.api.errors import ApplicationError
from tests.factories import (
    PostTargetFactory,
    ScheduledPostFactory,
    SocialAccountFactory,
    UserFactory,
)
from tests.helpers import run_concurrently

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

    # when
    scheduled_posts_settle_status(post_ids=[named.pk])

    # then
    assert ScheduledPost.objects.get(pk=named.pk).status == P.CANCELED
    assert ScheduledPost.objects.get(pk=other.pk).status == P.QUEUED


def test_cancel_for_disconnect_cancels_and_detaches_only_its_queued_targets(user):
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
    canceled = post_targets_cancel_for_disconnect(
        social_account_id=account.pk, reason="account_disconnected"
    )

    # then: the queued ones are canceled and no longer point at the account
    assert canceled == 3
    state = {
        pk: (status, sa)
        for pk, status, sa in PostTarget.objects.values_list("id", "status", "social_account_id")
    }
    assert state[mine[T.QUEUED].pk] == (T.CANCELED, None)
    assert state[second_queued.pk] == (T.CANCELED, None)
    assert state[mine_shared.pk] == (T.CANCELED, None)
    # the rest is untouched (the account's delete detaches it)
    assert state[mine[T.PUBLISHING].pk] == (T.PUBLISHING, account.pk)
    assert state[mine[T.PUBLISHED].pk] == (T.PUBLISHED, account.pk)
    assert state[mine[T.FAILED].pk] == (T.FAILED, account.pk)
    assert state[theirs_shared.pk] == (T.QUEUED, sibling.pk)
    assert set(
        PostTarget.objects.filter(status=T.CANCELED).values_list("canceled_reason", flat=True)
    ) == {"account_disconnected"}
    # and the posts: single-target ones canceled, the shared one still queued
    assert ScheduledPost.objects.get(pk=mine[T.QUEUED].post_id).status == P.CANCELED
    assert ScheduledPost.objects.get(pk=shared.pk).status == P.QUEUED


@pytest.mark.parametrize(
    ("other_target", "settled"),
    [
        (T.CANCELED, P.CANCELED),
        (T.PUBLISHED, P.PARTIALLY_PUBLISHED),
        (T.FAILED, P.FAILED),
        (T.QUEUED, P.QUEUED),
        (T.PUBLISHING, P.QUEUED),
    ],
)
def test_cancel_for_disconnect_settles_a_shared_post_by_its_other_target(
    user, other_target, settled
):
    # given: a post for the leaving account and one other account
    leaving = SocialAccountFactory(user=user, platform=Platform.INSTAGRAM)
    staying = SocialAccountFactory(user=user, platform=Platform.X)
    post = ScheduledPostFactory(author=user)
    PostTargetFactory(post=post, social_account=leaving)
    PostTargetFactory(post=post, social_account=staying, status=other_target)

    # when
    post_targets_cancel_for_disconnect(social_account_id=leaving.pk, reason="account_disconnected")

    # then: the post's status is what its targets now say
    post.refresh_from_db()
    assert post.status == settled


def test_cancel_for_disconnect_is_four_statements_whatever_the_volume(
    user, django_assert_num_queries
):
    # given
    account = SocialAccountFactory(user=user)
    PostTargetFactory.create_batch(30, social_account=account)

    # when: lock the targets, lock their posts, settle the posts, cancel the targets
    with django_assert_num_queries(4):
        canceled = post_targets_cancel_for_disconnect(
            social_account_id=account.pk, reason="account_disconnected"
        )

    # then
    assert canceled == 30
    assert ScheduledPost.objects.filter(status=P.CANCELED).count() == 30


def test_cancel_for_disconnect_with_nothing_queued_changes_nothing(user, django_assert_num_queries):
    # given
    account = SocialAccountFactory(user=user)
    published = PostTargetFactory(social_account=account, status=T.PUBLISHED)

    # when
    with django_assert_num_queries(1):
        canceled = post_targets_cancel_for_disconnect(
            social_account_id=account.pk, reason="account_disconnected"
        )

    # then
    assert canceled == 0
    published.refresh_from_db()
    assert published.status == T.PUBLISHED
    assert ScheduledPost.objects.get().status == P.QUEUED


# Creating, editing and canceling posts ------------------------------------------------------


def _soon(**delta) -> dt.datetime:
    return timezone.now() + dt.timedelta(**delta)


@pytest.fixture
def publish_runs(monkeypatch):
    """The ETAs of publish runs asked for after commit (the task is not run)."""
    etas = []
    monkeypatch.setattr(
        post_targets_publish_due_task, "apply_async", lambda **options: etas.append(options["eta"])
    )
    return etas


def test_a_post_created_in_a_rolled_back_transaction_leaves_nothing_behind(
    user, publish_runs, django_capture_on_commit_callbacks
):
    account = SocialAccountFactory(user=user)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        scheduled_post_create(
            actor=Actor.for_user(user),
            text="never",
            scheduled_at=_soon(minutes=1),
            social_account_ids=[account.pk],
        )
        raise RuntimeError("the caller's transaction fails")

    assert callbacks == []
    assert publish_runs == []
    assert not ScheduledPost.objects.exists()
    assert not AuditEvent.objects.filter(action="scheduled_post.created").exists()


def test_a_post_due_soon_gets_a_publish_run_at_its_time_after_commit(
    user, publish_runs, django_capture_on_commit_callbacks
):
    account = SocialAccountFactory(user=user)
    soon, later = _soon(minutes=2), _soon(hours=3)

    with django_capture_on_commit_callbacks(execute=True):
        scheduled_post_create(
            actor=Actor.for_user(user), text="a", scheduled_at=soon, social_account_ids=[account.pk]
        )
        scheduled_post_create(
            actor=Actor.for_user(user),
            text="b",
            scheduled_at=later,
            social_account_ids=[account.pk],
        )

    assert publish_runs == [soon]  # the later one waits for the periodic claim


def test_moving_a_post_to_soon_asks_for_a_publish_run(
    user, publish_runs, django_capture_on_commit_callbacks
):
    account = SocialAccountFactory(user=user)
    post = scheduled_post_create(
        actor=Actor.for_user(user),
        text="a",
        scheduled_at=_soon(days=1),
        social_account_ids=[account.pk],
    )
    soon = _soon(minutes=5)

    with django_capture_on_commit_callbacks(execute=True):
        scheduled_post_update(post=post, actor=Actor.for_user(user), scheduled_at=soon)
        scheduled_post_update(post=post, actor=Actor.for_user(user), text="b")

    assert publish_runs == [soon]


def test_an_edit_that_changes_nothing_writes_nothing(user):
    account = SocialAccountFactory(user=user)
    post = scheduled_post_create(
        actor=Actor.for_user(user),
        text="same",
        scheduled_at=_soon(days=1),
        social_account_ids=[account.pk],
    )
    stamp = ScheduledPost.objects.get().updated_at

    scheduled_post_update(
        post=post, actor=Actor.for_user(user), text="same", social_account_ids=[account.pk]
    )

    assert ScheduledPost.objects.get().updated_at == stamp
    assert not AuditEvent.objects.filter(action="scheduled_post.updated").exists()


def test_cancel_is_a_constant_number_of_statements(user, django_assert_num_queries):
    accounts = [SocialAccountFactory(user=user, platform=p) for p in PLATFORMS]
    small = scheduled_post_create(
        actor=Actor.for_user(user),
        text="a",
        scheduled_at=_soon(days=1),
        social_account_ids=[accounts[0].pk],
    )
    large = scheduled_post_create(
        actor=Actor.for_user(user),
        text="a",
        scheduled_at=_soon(days=1),
        social_account_ids=[account.pk for account in accounts],
    )

    with CaptureQueriesContext(connection) as one:
        scheduled_post_cancel(post=small, actor=Actor.for_user(user))
    with django_assert_num_queries(len(one.captured_queries)):
        canceled = scheduled_post_cancel(post=large, actor=Actor.for_user(user))

    assert canceled.status == P.CANCELED
    assert {t.status for t in canceled.targets.all()} == {T.CANCELED}


# Writers racing on one post do not deadlock (PostgreSQL, real threads) ---------------------


@pytest.mark.django_db(transaction=True)
def test_a_disconnect_racing_a_cancel_of_the_same_post_both_finish():
    user = UserFactory()
    for round_ in range(5):
        leaving = SocialAccountFactory(user=user, platform=Platform.X)
        staying = SocialAccountFactory(user=user, platform=Platform.INSTAGRAM)
        post = scheduled_post_create(
            actor=Actor.for_user(user),
            text=f"round {round_}",
            scheduled_at=_soon(days=1),
            social_account_ids=[staying.pk, leaving.pk],
        )

        run_concurrently(
            lambda leaving=leaving: social_account_disconnect(
                account=leaving, actor=Actor.for_user(user), reason="revoked_by_user"
            ),
            lambda post=post: scheduled_post_cancel(post=post, actor=Actor.for_user(user)),
        )

        assert ScheduledPost.objects.get(pk=post.pk).status == P.CANCELED
        assert set(PostTarget.objects.filter(post=post).values_list("status", flat=True)) == {
            T.CANCELED
        }
        staying.delete()


@pytest.mark.django_db(transaction=True)
def test_a_disconnect_racing_an_edit_that_drops_the_account_both_finish():
    user = UserFactory()
    for round_ in range(5):
        leaving = SocialAccountFactory(user=user, platform=Platform.X)
        staying = SocialAccountFactory(user=user, platform=Platform.INSTAGRAM)
        post = scheduled_post_create(
            actor=Actor.for_user(user),
            text=f"round {round_}",
            scheduled_at=_soon(days=1),
            social_account_ids=[staying.pk, leaving.pk],
        )

        run_concurrently(
            lambda leaving=leaving: social_account_disconnect(
                account=leaving, actor=Actor.for_user(user), reason="revoked_by_user"
            ),
            lambda post=post, staying=staying: scheduled_post_update(
                post=post, actor=Actor.for_user(user), social_account_ids=[staying.pk]
            ),
        )

        assert ScheduledPost.objects.get(pk=post.pk).status == P.QUEUED
        assert list(
            PostTarget.objects.filter(post=post, status=T.QUEUED).values_list(
                "social_account_id", flat=True
            )
        ) == [staying.pk]
        assert not SocialAccount.objects.filter(pk=leaving.pk).exists()
        staying.delete()


@pytest.mark.django_db(transaction=True)
def test_a_post_created_while_its_account_is_disconnected_is_refused_or_canceled():
    user = UserFactory()
    for round_ in range(5):
        account = SocialAccountFactory(user=user, platform=Platform.X)

        def create(account=account, round_=round_):
            try:
                return scheduled_post_create(
                    actor=Actor.for_user(user),
                    text=f"round {round_}",
                    scheduled_at=_soon(days=1),
                    social_account_ids=[account.pk],
                )
            except ApplicationError as exc:
                return exc.code.value

        created, _report = run_concurrently(
            create,
            lambda account=account: social_account_disconnect(
                account=account, actor=Actor.for_user(user), reason="revoked_by_user"
            ),
        )

        if created == "VALIDATION":
            assert not ScheduledPost.objects.filter(text=f"round {round_}").exists()
        else:
            # Created first: the disconnect then canceled it.
            assert ScheduledPost.objects.get(pk=created.pk).status == P.CANCELED
