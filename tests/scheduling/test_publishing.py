"""Publishing due targets: the claim, the platform call through the in-process sandbox,
retries and failures, leases that run out, and publishers racing each other."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Platform, SandboxPost, SocialAccount
from accounts.providers import ProviderRequestError, SandboxProvider
from accounts.services.actors import Actor
from accounts.services.disconnect import social_account_disconnect
from accounts.services.webhooks import WebhookEvent
from scheduling.models import PostTarget, ScheduledPost
from scheduling.services import (
    post_target_publish,
    post_targets_claim_due,
    publishing,
    scheduled_post_update,
)
from scheduling.tasks import post_target_publish_task, post_targets_publish_due_task
from socialhub.api.errors import ApplicationError
from tests.celery_worker import broker_unreachable
from tests.factories import (
    PostTargetFactory,
    ScheduledPostFactory,
    UserFactory,
    sandbox_connected_account,
)
from tests.helpers import run_concurrently

pytestmark = pytest.mark.django_db

T = PostTarget.Status
P = ScheduledPost.Status
POSTS_URL = "http://sandbox.test/sandbox/api/posts"
POSTS_CALL = ("POST", "/sandbox/api/posts")


@pytest.fixture
def webhooks(monkeypatch):
    """The webhook events publishing emits, as (workspace id, event, data)."""
    emitted = []
    monkeypatch.setattr(
        publishing,
        "webhook_event_emit",
        lambda *, workspace_id, event, data: emitted.append((workspace_id, event, data)),
    )
    return emitted


@pytest.fixture
def creator():
    return UserFactory()


def due_post(user, *accounts, seconds_ago: int = 60, text: str = "Out now!") -> ScheduledPost:
    post = ScheduledPostFactory(
        author=user,
        workspace=accounts[0].workspace,
        text=text,
        media_urls=["https://cdn.example.com/cover.png"],
        scheduled_at=timezone.now() - dt.timedelta(seconds=seconds_ago),
    )
    for account in accounts:
        PostTargetFactory(post=post, social_account=account)
    return post


def status_of(obj) -> str:
    return type(obj).objects.values_list("status", flat=True).get(pk=obj.pk)


def claim_and_publish(capture) -> list:
    """One periodic run with its on-commit work: claim, then the publish tasks (eager)."""
    with capture(execute=True):
        return post_targets_claim_due(limit=50)


def expire_lease(target_or_id) -> None:
    PostTarget.objects.filter(pk=getattr(target_or_id, "pk", target_or_id)).update(
        claimed_until=timezone.now() - dt.timedelta(seconds=1)
    )


# The happy path ----------------------------------------------------------------------------


def test_a_due_post_is_published_to_every_account_through_the_sandbox(
    creator, webhooks, django_capture_on_commit_callbacks
):
    # given
    instagram = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="pub_ig")
    x = sandbox_connected_account(creator, Platform.X, handle="pub_x")
    post = due_post(creator, instagram, x)

    # when
    claimed = claim_and_publish(django_capture_on_commit_callbacks)

    # then
    targets = {t.social_account_id: t for t in PostTarget.objects.filter(post=post)}
    assert set(claimed) == {t.pk for t in targets.values()}
    for account, handle in ((instagram, "pub_ig"), (x, "pub_x")):
        target = targets[account.pk]
        upstream = SandboxPost.objects.get(account__handle=handle)
        assert target.status == T.PUBLISHED
        assert target.platform_post_id == upstream.upstream_id
        assert target.published_at is not None and target.claimed_until is None
        assert (target.attempts, target.error) == (1, "")
        assert (upstream.text, upstream.media_urls) == (post.text, post.media_urls)
        assert upstream.idempotency_key == target.public_id
    assert status_of(post) == P.PUBLISHED
    assert [event for _ws, event, _data in webhooks] == [WebhookEvent.POST_PUBLISHED] * 2
    workspace_id, _event, last = webhooks[-1]
    assert workspace_id == post.workspace_id
    assert last["postStatus"] == "published"
    assert last["postId"] == post.public_id
    assert {data["targetId"] for _ws, _e, data in webhooks} == {
        t.public_id for t in targets.values()
    }
    published = next(data for _ws, _e, data in webhooks if data["socialAccountId"] == x.public_id)
    assert published["platformPostId"] == targets[x.pk].platform_post_id
    assert (published["platform"], published["accountHandle"]) == ("x", "pub_x")


def test_the_periodic_task_claims_and_publishes(creator, django_capture_on_commit_callbacks):
    account = sandbox_connected_account(creator, Platform.THREADS, handle="periodic")
    post = due_post(creator, account)

    with django_capture_on_commit_callbacks(execute=True):
        claimed = post_targets_publish_due_task.delay().get()

    assert claimed == 1
    assert status_of(post) == P.PUBLISHED
    assert SandboxPost.objects.filter(account__handle="periodic").count() == 1


def test_posts_not_due_yet_are_left_alone(
    creator, sandbox_http, django_capture_on_commit_callbacks
):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="later")
    later = due_post(creator, account, seconds_ago=-120)
    canceled = due_post(creator, account)
    PostTarget.objects.filter(post=canceled).update(status=T.CANCELED)
    ScheduledPost.objects.filter(pk=canceled.pk).update(status=P.CANCELED)
    calls = len(sandbox_http.calls)

    claimed = claim_and_publish(django_capture_on_commit_callbacks)

    assert claimed == []
    assert status_of(later) == P.QUEUED
    assert set(PostTarget.objects.filter(post=later).values_list("status", "attempts")) == {
        (T.QUEUED, 0)
    }
    assert len(sandbox_http.calls) == calls
    assert not SandboxPost.objects.exists()


def test_the_claim_leases_the_targets_and_publishes_only_after_commit(
    creator, settings, django_capture_on_commit_callbacks
):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="leased")
    posts = [due_post(creator, account, seconds_ago=s) for s in (30, 90)]

    with django_capture_on_commit_callbacks() as callbacks:
        claimed = post_targets_claim_due(limit=50)

    # oldest first
    assert claimed == [
        PostTarget.objects.get(post=posts[1]).pk,
        PostTarget.objects.get(post=posts[0]).pk,
    ]
    assert len(callbacks) == 2
    assert not SandboxPost.objects.exists()
    for target in PostTarget.objects.all():
        assert (target.status, target.attempts) == (T.PUBLISHING, 1)
        lease = target.claimed_until - timezone.now()
        assert settings.PUBLISH_CLAIM_LEASE - dt.timedelta(minutes=1) < lease
        assert lease <= settings.PUBLISH_CLAIM_LEASE
    assert {status_of(post) for post in posts} == {P.PUBLISHING}


def test_the_claim_takes_at_most_the_limit(creator):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="many")
    for seconds in range(10, 60, 10):
        due_post(creator, account, seconds_ago=seconds)

    first = post_targets_claim_due(limit=3)
    second = post_targets_claim_due(limit=3)

    assert (len(first), len(second)) == (3, 2)
    assert not set(first) & set(second)


def test_claim_query_count_does_not_grow_with_the_targets(creator, django_assert_num_queries):
    accounts = [
        sandbox_connected_account(creator, platform, handle=f"q_{platform}")
        for platform in (Platform.INSTAGRAM, Platform.X, Platform.THREADS)
    ]
    due_post(creator, accounts[0])
    with CaptureQueriesContext(connection) as small:
        assert len(post_targets_claim_due(limit=50)) == 1
    for _ in range(6):
        due_post(creator, *accounts)

    with django_assert_num_queries(len(small.captured_queries)):
        assert len(post_targets_claim_due(limit=50)) == 18


# Failures ------------------------------------------------------------------------------------


def test_a_platform_outage_keeps_the_target_publishing_and_retries_later(
    creator, platform_answers, webhooks, settings
):
    outage = platform_answers(status=503, body={"error": "unavailable"}, url_prefix=POSTS_URL)
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="outage")
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)
    started = timezone.now()

    outcome = post_target_publish(target_id=target_id)

    assert outage.calls == [POSTS_CALL]
    assert (outcome.status, outcome.retry_in) == ("retry", 30)
    target = PostTarget.objects.get(pk=target_id)
    assert (target.status, target.attempts) == (T.PUBLISHING, 2)
    assert "503" in target.error
    assert target.claimed_until >= started + dt.timedelta(seconds=30) + settings.PUBLISH_CLAIM_LEASE
    assert status_of(post) == P.PUBLISHING
    assert webhooks == []
    # The lease covers the backoff: the periodic claim does not hand it out meanwhile.
    assert post_targets_claim_due(limit=50) == []


def test_retry_after_from_the_platform_is_honoured(creator, platform_answers):
    platform_answers(status=429, body={}, headers={"Retry-After": "600"}, url_prefix=POSTS_URL)
    account = sandbox_connected_account(creator, Platform.X, handle="slow_down")
    due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    outcome = post_target_publish(target_id=target_id)

    assert (outcome.status, outcome.retry_in) == ("retry", 600)


def test_when_the_attempts_run_out_the_target_fails(creator, platform_answers, settings, webhooks):
    settings.PUBLISH_MAX_ATTEMPTS = 3
    platform_answers(status=500, body={}, url_prefix=POSTS_URL)
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="down")
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    outcomes = [post_target_publish(target_id=target_id) for _ in range(3)]

    assert [o.status for o in outcomes] == ["retry", "retry", "failed"]
    assert [o.retry_in for o in outcomes[:2]] == [30, 60]
    target = PostTarget.objects.get(pk=target_id)
    assert (target.status, target.attempts, target.claimed_until) == (T.FAILED, 3, None)
    assert "after 3 attempts" in target.error and "500" in target.error
    assert status_of(post) == P.FAILED
    [(_ws, event, data)] = webhooks
    assert event == WebhookEvent.POST_FAILED
    assert (data["error"], data["postStatus"]) == (target.error, "failed")
    assert post_target_publish(target_id=target_id).status == "skipped"


@pytest.mark.parametrize(
    ("status", "body"),
    [(401, {"error": "invalid_token"}), (400, {"error": "invalid_request"}), (403, {})],
)
def test_a_refusal_fails_the_target_at_once(creator, platform_answers, webhooks, status, body):
    refusal = platform_answers(status=status, body=body, url_prefix=POSTS_URL)
    account = sandbox_connected_account(creator, Platform.PINTEREST, handle="refused")
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    outcome = post_target_publish(target_id=target_id)

    assert outcome.status == "failed"
    assert refusal.calls == [POSTS_CALL]
    target = PostTarget.objects.get(pk=target_id)
    assert target.status == T.FAILED
    assert target.error.startswith(f"pinterest refused the post ({status})")
    assert status_of(post) == P.FAILED
    assert [event for _ws, event, _data in webhooks] == [WebhookEvent.POST_FAILED]


# An access token at its end --------------------------------------------------------------

TOKEN_URL = "http://sandbox.test/sandbox/oauth/token"


def expire_token(account) -> None:
    SocialAccount.objects.filter(pk=account.pk).update(
        token_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )


def test_an_expired_access_token_is_refreshed_before_publishing(creator, sandbox_http):
    account = sandbox_connected_account(creator, Platform.YOUTUBE, handle="stale_token")
    expire_token(account)
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    outcome = post_target_publish(target_id=target_id)

    assert outcome.status == "published"
    calls = [path for _method, path in sandbox_http.calls]
    assert calls.index("/sandbox/oauth/token") < calls.index("/sandbox/api/posts")
    account.refresh_from_db()
    assert account.token_expires_at > timezone.now()
    assert status_of(post) == P.PUBLISHED


def test_a_refresh_the_platform_refuses_fails_the_target_and_expires_the_account(
    creator, platform_answers
):
    platform_answers(status=400, body={"error": "invalid_grant"}, url_prefix=TOKEN_URL)
    account = sandbox_connected_account(creator, Platform.X, handle="dead_grant")
    expire_token(account)
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    outcome = post_target_publish(target_id=target_id)

    assert outcome.status == "failed"
    assert status_of(account) == SocialAccount.Status.TOKEN_EXPIRED
    assert "expired" in PostTarget.objects.get(pk=target_id).error
    assert not SandboxPost.objects.filter(account__handle="dead_grant").exists()
    assert status_of(post) == P.FAILED


def test_a_refresh_that_cannot_run_yet_retries_the_post_instead_of_failing_it(
    creator, platform_answers
):
    platform_answers(status=503, body={}, url_prefix=TOKEN_URL)
    account = sandbox_connected_account(creator, Platform.THREADS, handle="token_outage")
    expire_token(account)
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    outcome = post_target_publish(target_id=target_id)

    assert outcome.status == "retry"
    assert status_of(account) == SocialAccount.Status.ACTIVE
    assert PostTarget.objects.get(pk=target_id).status == T.PUBLISHING
    assert not SandboxPost.objects.filter(account__handle="token_outage").exists()
    assert status_of(post) == P.PUBLISHING


@pytest.mark.parametrize(
    "status", [SocialAccount.Status.TOKEN_EXPIRED, SocialAccount.Status.REVOKED]
)
def test_an_account_that_is_not_active_at_due_time_fails_its_target(
    creator, sandbox_http, webhooks, status
):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="expired")
    healthy = sandbox_connected_account(creator, Platform.X, handle="healthy")
    post = due_post(creator, account, healthy)
    SocialAccount.objects.filter(pk=account.pk).update(status=status)
    calls = len(sandbox_http.calls)

    claimed = post_targets_claim_due(limit=50)

    failed = PostTarget.objects.get(social_account=account)
    assert claimed == [PostTarget.objects.get(social_account=healthy).pk]
    assert failed.status == T.FAILED and "reconnect" in failed.error
    assert len(sandbox_http.calls) == calls
    assert status_of(post) == P.PUBLISHING  # the healthy target is on its way
    [(_ws, event, data)] = webhooks
    assert (event, data["targetId"], data["postStatus"]) == (
        WebhookEvent.POST_FAILED,
        failed.public_id,
        "publishing",
    )


def test_a_due_target_whose_account_is_gone_fails_instead_of_staying_queued(creator, webhooks):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="gone")
    post = due_post(creator, account)
    # Removed without the disconnect (e.g. its user was deleted): the target is orphaned.
    SocialAccount.objects.filter(pk=account.pk).delete()

    assert post_targets_claim_due(limit=50) == []

    target = PostTarget.objects.get(post=post)
    assert (target.status, target.error) == (T.FAILED, publishing.ACCOUNT_GONE)
    assert status_of(post) == P.FAILED
    assert webhooks[0][2]["socialAccountId"] is None


def test_an_undecryptable_token_fails_the_target(creator, monkeypatch):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="garbled")
    due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SocialAccount._meta.db_table} SET access_token = 'garbage' WHERE id = %s",
            [account.pk],
        )

    outcome = post_target_publish(target_id=target_id)

    assert outcome.status == "failed"
    assert PostTarget.objects.get(pk=target_id).error == publishing.TOKEN_UNREADABLE


# Disconnects while publishing ---------------------------------------------------------------


def test_a_disconnect_after_the_claim_fails_the_target_cleanly(creator, sandbox_http, webhooks):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="left")
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    report = social_account_disconnect(
        account=account, actor=Actor.for_user(creator), reason="revoked_by_user"
    )
    calls = len(sandbox_http.calls)
    outcome = post_target_publish(target_id=target_id)

    assert report.canceled_scheduled_posts == 0  # it was publishing, not queued
    assert outcome.status == "failed"
    target = PostTarget.objects.get(pk=target_id)
    assert (target.status, target.error, target.social_account_id) == (
        T.FAILED,
        publishing.ACCOUNT_GONE,
        None,
    )
    assert target.account_handle == "left"
    assert status_of(post) == P.FAILED
    assert len(sandbox_http.calls) == calls  # no platform call without a token


def test_a_disconnect_during_the_platform_call_still_records_the_post(
    creator, monkeypatch, webhooks
):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="mid_call")
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)
    original = SandboxProvider.publish

    def publish_then_disconnect(self, **kwargs):
        result = original(self, **kwargs)
        social_account_disconnect(
            account=account, actor=Actor.for_user(creator), reason="revoked_by_user"
        )
        return result

    monkeypatch.setattr(SandboxProvider, "publish", publish_then_disconnect)

    outcome = post_target_publish(target_id=target_id)

    assert outcome.status == "published"
    target = PostTarget.objects.get(pk=target_id)
    assert target.social_account_id is None
    assert target.platform_post_id == SandboxPost.objects.get().upstream_id
    assert status_of(post) == P.PUBLISHED
    assert webhooks[0][2]["socialAccountId"] is None


# Running twice, dying midway ----------------------------------------------------------------


def test_the_same_publish_task_twice_makes_one_post(creator):
    account = sandbox_connected_account(creator, Platform.BLUESKY, handle="twice")
    due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    first = post_target_publish_task.delay(str(target_id)).get()
    second = post_target_publish_task.delay(str(target_id)).get()

    assert (first, second) == ("published", "skipped")
    assert SandboxPost.objects.count() == 1


def test_a_lease_that_runs_out_is_claimed_again_and_published_once(creator):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="lost_task")
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)  # its task is never run: lost
    assert post_targets_claim_due(limit=50) == []  # still leased
    expire_lease(target_id)

    reclaimed = post_targets_claim_due(limit=50)
    outcome = post_target_publish(target_id=target_id)

    assert reclaimed == [target_id]
    assert outcome.status == "published"
    target = PostTarget.objects.get(pk=target_id)
    assert (target.status, target.attempts) == (T.PUBLISHED, 2)
    assert SandboxPost.objects.count() == 1
    assert status_of(post) == P.PUBLISHED


def test_a_worker_that_died_after_the_platform_call_does_not_publish_twice(creator, monkeypatch):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="crashed")
    due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    def crash(*args, **kwargs):
        raise SystemExit("worker killed")

    with monkeypatch.context() as patched:
        patched.setattr(publishing, "_finish", crash)
        with pytest.raises(SystemExit):
            post_target_publish(target_id=target_id)
    first_post = SandboxPost.objects.get()
    assert PostTarget.objects.get(pk=target_id).status == T.PUBLISHING
    expire_lease(target_id)

    assert post_targets_claim_due(limit=50) == [target_id]
    outcome = post_target_publish(target_id=target_id)

    assert outcome.status == "published"
    assert SandboxPost.objects.count() == 1
    assert PostTarget.objects.get(pk=target_id).platform_post_id == first_post.upstream_id


def test_a_target_whose_leases_keep_running_out_fails(creator, settings):
    settings.PUBLISH_MAX_ATTEMPTS = 2
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="dying")
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)
    expire_lease(target_id)
    assert post_targets_claim_due(limit=50) == [target_id]
    expire_lease(target_id)

    assert post_targets_claim_due(limit=50) == []

    target = PostTarget.objects.get(pk=target_id)
    assert (target.status, target.attempts) == (T.FAILED, 2)
    assert "did not finish after 2 attempts" in target.error
    assert status_of(post) == P.FAILED


# Post status follows the targets -------------------------------------------------------------


def test_a_post_with_one_published_and_one_failed_target_is_partially_published(
    creator, platform_answers, django_capture_on_commit_callbacks
):
    instagram = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="part_ok")
    x = sandbox_connected_account(creator, Platform.X, handle="part_ko")
    post = due_post(creator, instagram, x)
    SocialAccount.objects.filter(pk=x.pk).update(status=SocialAccount.Status.TOKEN_EXPIRED)

    claim_and_publish(django_capture_on_commit_callbacks)

    assert status_of(post) == P.PARTIALLY_PUBLISHED
    assert dict(PostTarget.objects.values_list("social_account_id", "status")) == {
        instagram.pk: T.PUBLISHED,
        x.pk: T.FAILED,
    }


@pytest.mark.django_db(transaction=True)
def test_publishes_the_broker_cannot_take_are_claimed_again_when_their_lease_runs_out(caplog):
    creator = UserFactory()
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="no_broker_pub")
    post = due_post(creator, account)

    # when: the periodic claim commits, then finds no broker for the publish task
    with broker_unreachable():
        claimed = post_targets_publish_due_task()

    # then: the claim stands (nothing lost, nothing raised), and nothing was published
    assert claimed == 1
    [target_id] = PostTarget.objects.values_list("pk", flat=True)
    assert "Broker unavailable" in caplog.text
    assert status_of(PostTarget(pk=target_id)) == T.PUBLISHING
    assert not SandboxPost.objects.exists()
    assert post_targets_claim_due(limit=50) == []  # still leased

    # when: the lease runs out and the broker is back
    expire_lease(target_id)
    reclaimed = post_targets_claim_due(limit=50)  # its publish task runs eagerly

    # then: published once
    assert reclaimed == [target_id]
    assert status_of(PostTarget(pk=target_id)) == T.PUBLISHED
    assert SandboxPost.objects.count() == 1
    assert status_of(post) == P.PUBLISHED


# Races on PostgreSQL ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_publishers_racing_publish_each_target_exactly_once():
    # given: 3 posts to 2 accounts each, all due
    creator = UserFactory()
    accounts = [
        sandbox_connected_account(creator, Platform.INSTAGRAM, handle="race_ig"),
        sandbox_connected_account(creator, Platform.X, handle="race_x"),
    ]
    posts = [due_post(creator, *accounts, seconds_ago=10 + i) for i in range(3)]
    every_target = list(PostTarget.objects.values_list("pk", flat=True))

    def publisher():
        # The claim's on-commit tasks run eagerly; then a duplicate delivery of every task.
        claimed = post_targets_claim_due(limit=50)
        again = [post_target_publish(target_id=pk).status for pk in every_target]
        return claimed, again

    # when
    (first, first_again), (second, second_again) = run_concurrently(publisher, publisher)

    # A target can be skipped by both in one round: a claimer that locked the target row but
    # found its post row locked by the other skips it yet holds the row until commit. The
    # next periodic run takes it.
    leftovers = post_targets_claim_due(limit=50)

    # then
    assert not set(first) & set(second)
    assert not (set(first) | set(second)) & set(leftovers)
    assert set(first) | set(second) | set(leftovers) == set(every_target)
    # A duplicate that ran while the first delivery was still at the platform got the
    # platform's existing post back (same idempotency key) and recorded it; either way:
    assert set(first_again) | set(second_again) <= {"skipped", "published"}
    assert SandboxPost.objects.count() == len(every_target) == 6
    assert set(SandboxPost.objects.values_list("idempotency_key", flat=True)) == {
        PostTarget(pk=pk).public_id for pk in every_target
    }
    assert set(PostTarget.objects.values_list("status", "attempts")) == {(T.PUBLISHED, 1)}
    assert {status_of(post) for post in posts} == {P.PUBLISHED}


@pytest.mark.django_db(transaction=True)
def test_the_platform_is_called_outside_any_transaction(monkeypatch):
    creator = UserFactory()
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="no_txn")
    due_post(creator, account)
    seen = []
    original = SandboxProvider.publish

    def watched(self, **kwargs):
        seen.append(connection.in_atomic_block)
        return original(self, **kwargs)

    monkeypatch.setattr(SandboxProvider, "publish", watched)

    post_targets_claim_due(limit=50)  # its task runs eagerly after the claim commits

    assert seen == [False]
    assert PostTarget.objects.get().status == T.PUBLISHED


@pytest.mark.django_db(transaction=True)
def test_an_edit_racing_the_claim_either_wins_or_gets_409():
    creator = UserFactory()
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="edit_race")
    outcomes = set()
    for round_ in range(6):
        post = due_post(creator, account, text=f"v1-{round_}")

        def edit(post=post, round_=round_):
            try:
                scheduled_post_update(post=post, actor=Actor.for_user(creator), text=f"v2-{round_}")
            except ApplicationError as exc:
                return exc.code.value
            return "edited"

        edited, _claimed = run_concurrently(edit, lambda: post_targets_claim_due(limit=50))
        post_targets_claim_due(limit=50)  # whatever the racing claim skipped

        published = SandboxPost.objects.get(text__endswith=f"-{round_}")
        stored = ScheduledPost.objects.get(pk=post.pk)
        if edited == "edited":
            assert published.text == stored.text == f"v2-{round_}"
        else:
            assert edited == "CONFLICT"
            assert published.text == stored.text == f"v1-{round_}"
        assert stored.status == P.PUBLISHED
        outcomes.add(edited)
    assert outcomes <= {"edited", "CONFLICT"}


# The sandbox honours the idempotency key ---------------------------------------------------


def test_the_sandbox_answers_a_repeated_key_with_the_first_post(creator):
    account = sandbox_connected_account(creator, Platform.INSTAGRAM, handle="idem")
    token = SocialAccount.objects.get(pk=account.pk).access_token
    provider = SandboxProvider(Platform.INSTAGRAM)

    def publish(text, key):
        return provider.publish(
            access_token=token, text=text, media_urls=[], idempotency_key=key
        ).platform_post_id

    first = publish("one", "pt_a")
    repeated = publish("one, edited", "pt_a")
    other_key = publish("two", "pt_b")
    unkeyed = [publish("three", None), publish("three", None)]

    assert repeated == first
    assert len({first, other_key, *unkeyed}) == 4
    assert SandboxPost.objects.get(upstream_id=first).text == "one"
    assert SandboxPost.objects.count() == 4


def test_the_sandbox_refuses_an_overlong_idempotency_key(creator):
    account = sandbox_connected_account(creator, Platform.X, handle="idem_long")
    token = SocialAccount.objects.get(pk=account.pk).access_token

    with pytest.raises(ProviderRequestError):
        SandboxProvider(Platform.X).publish(
            access_token=token, text="hi", media_urls=[], idempotency_key="k" * 192
        )

    assert not SandboxPost.objects.exists()


# The publisher racing a disconnect ---------------------------------------------------------


class Timeline:
    """What happened, in order, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[str] = []

    def add(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    def before(self, first: str, then: str) -> bool:
        return self.events.index(first) < self.events.index(then)


def _committed_or_waiting_on_a_lock(timeline: Timeline, timeout: float = 10) -> None:
    """Block until the disconnect committed, or another connection waits on a lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            if "disconnect committed" in timeline.events:
                return
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.005)
    raise AssertionError("the disconnect neither committed nor waited")


def _in_thread(call) -> threading.Thread:
    failures = []

    def run():
        try:
            call()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.failures = failures
    thread.start()
    return thread


def _joined(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(timeout=20)
        assert not thread.is_alive()
        assert not thread.failures, thread.failures


ORDERINGS = ["publish_first", "disconnect_during_the_call", "disconnect_first", "together"]


@pytest.mark.django_db(transaction=True)
def test_a_disconnect_racing_the_publisher_never_lets_a_post_out_after_it(monkeypatch, idle_broker):
    """The real publish task and the real disconnect, on their own threads and connections,
    in every order: the platform call is held at its start until the test lets it go. The
    revocation waits on the broker for a worker, as in production, so a token stays valid
    upstream for a while after the disconnect: only the service can stop the post.

    Either the post went out before the disconnect committed (and stays in the history), or
    the target ended failed or canceled and the platform has no post."""
    timeline = Timeline()
    at_platform, go = threading.Event(), threading.Event()
    original = SandboxProvider.publish

    def held_publish(self, **kwargs):
        at_platform.set()
        assert go.wait(timeout=10)
        return original(self, **kwargs)

    def upstream_post_created(sender, created, **kwargs):
        if created:
            timeline.add("upstream post created")

    monkeypatch.setattr(SandboxProvider, "publish", held_publish)
    post_save.connect(upstream_post_created, sender=SandboxPost, weak=False)
    outcomes = []
    try:
        for round_ in range(12):
            ordering = ORDERINGS[round_ % len(ORDERINGS)]
            timeline.events.clear()
            at_platform.clear()
            go.clear()
            creator = UserFactory()
            account = sandbox_connected_account(creator, Platform.X, handle=f"racer_{round_}")
            post = due_post(creator, account)
            later = PostTargetFactory(social_account=account)  # queued for tomorrow
            [target_id] = post_targets_claim_due(limit=50)  # its task waits on the broker

            def publish(target_id=target_id):
                post_target_publish_task.apply(args=[str(target_id)])

            def disconnect(account=account, creator=creator):
                with transaction.atomic():
                    transaction.on_commit(lambda: timeline.add("disconnect committed"))
                    social_account_disconnect(
                        account=account, actor=Actor.for_user(creator), reason="revoked_by_user"
                    )

            if ordering == "publish_first":
                go.set()
                _joined(_in_thread(publish))
                _joined(_in_thread(disconnect))
            elif ordering == "disconnect_during_the_call":
                publisher = _in_thread(publish)
                assert at_platform.wait(timeout=10)
                disconnector = _in_thread(disconnect)
                _committed_or_waiting_on_a_lock(timeline)
                go.set()
                _joined(publisher, disconnector)
            elif ordering == "disconnect_first":
                go.set()
                _joined(_in_thread(disconnect))
                _joined(_in_thread(publish))
            else:
                go.set()
                run_concurrently(publish, disconnect)

            target = PostTarget.objects.get(pk=target_id)
            upstream = list(SandboxPost.objects.filter(idempotency_key=target.public_id))
            if upstream or target.status == T.PUBLISHED:
                # published before the disconnect, and kept in the history
                assert timeline.before("upstream post created", "disconnect committed"), (
                    ordering,
                    timeline.events,
                )
                assert target.status == T.PUBLISHED
                assert target.platform_post_id == upstream[0].upstream_id
                assert status_of(post) == P.PUBLISHED
            else:
                assert target.status in {T.FAILED, T.CANCELED}, (ordering, target.status)
                assert status_of(post) in {P.FAILED, P.CANCELED}
            assert len(upstream) <= 1
            assert (target.social_account_id, target.account_handle) == (None, f"racer_{round_}")
            later.refresh_from_db()
            assert (later.status, later.canceled_reason) == (T.CANCELED, "account_disconnected")
            assert not SocialAccount.objects.filter(pk=account.pk).exists()
            outcomes.append((ordering, target.status))
    finally:
        post_save.disconnect(upstream_post_created, sender=SandboxPost)

    # both orderings really occurred
    assert ("disconnect_during_the_call", T.PUBLISHED) in outcomes
    assert ("disconnect_first", T.FAILED) in outcomes


@pytest.mark.django_db(transaction=True)
def test_a_disconnect_does_not_wait_for_media_being_prepared(monkeypatch, idle_broker):
    """Uploads and processing (``prepare_publish``) run before the publisher takes the
    account's lock: a disconnect meanwhile commits at once, and the post never goes out."""
    preparing, go = threading.Event(), threading.Event()

    def slow_prepare(self, **kwargs):
        preparing.set()
        assert go.wait(timeout=20)
        return "uploaded-media"

    published_with = []
    original = SandboxProvider.publish

    def recording_publish(self, **kwargs):
        published_with.append(kwargs["prepared"])
        return original(self, **kwargs)

    monkeypatch.setattr(SandboxProvider, "prepare_publish", slow_prepare)
    monkeypatch.setattr(SandboxProvider, "publish", recording_publish)
    creator = UserFactory()
    account = sandbox_connected_account(creator, Platform.X, handle="uploader")
    post = due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    publisher = _in_thread(lambda: post_target_publish_task.apply(args=[str(target_id)]))
    assert preparing.wait(timeout=10)
    disconnector = _in_thread(
        lambda: social_account_disconnect(
            account=account, actor=Actor.for_user(creator), reason="revoked_by_user"
        )
    )
    disconnector.join(timeout=10)
    finished_while_preparing = not disconnector.is_alive() and not go.is_set()
    go.set()
    _joined(publisher, disconnector)

    assert finished_while_preparing
    target = PostTarget.objects.get(pk=target_id)
    assert target.status in {T.FAILED, T.CANCELED}
    assert status_of(post) in {P.FAILED, P.CANCELED}
    assert published_with == []
    assert not SandboxPost.objects.filter(idempotency_key=target.public_id).exists()


def test_what_was_prepared_is_handed_to_the_post(creator, monkeypatch):
    monkeypatch.setattr(SandboxProvider, "prepare_publish", lambda self, **kw: ["media-1"])
    handed = []
    original = SandboxProvider.publish

    def recording_publish(self, **kwargs):
        handed.append(kwargs["prepared"])
        return original(self, **kwargs)

    monkeypatch.setattr(SandboxProvider, "publish", recording_publish)
    account = sandbox_connected_account(creator, Platform.X, handle="prepared")
    due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    assert post_target_publish(target_id=target_id).status == "published"
    assert handed == [["media-1"]]


def test_media_refused_while_preparing_fails_the_target(creator, monkeypatch):
    def refuse(self, **kwargs):
        raise ProviderRequestError("x takes JPEG, PNG, WebP, GIF or MP4 media")

    monkeypatch.setattr(SandboxProvider, "prepare_publish", refuse)
    account = sandbox_connected_account(creator, Platform.X, handle="refused")
    due_post(creator, account)
    [target_id] = post_targets_claim_due(limit=50)

    assert post_target_publish(target_id=target_id).status == "failed"
    target = PostTarget.objects.get(pk=target_id)
    assert "takes JPEG" in target.error
    assert not SandboxPost.objects.filter(idempotency_key=target.public_id).exists()
