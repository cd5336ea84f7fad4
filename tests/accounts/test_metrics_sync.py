"""Metrics sync: what the platform reports reaches the account, its counters, the creator's
total and the daily history; what it must not touch stays as it was."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import requests
from django.utils import timezone

from accounts.models import (
    MetricsSnapshot,
    Platform,
    SandboxAccount,
    SocialAccount,
    SocialMetrics,
)
from accounts.providers import SandboxProvider
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from accounts.services.metrics import (
    social_account_metrics_sync,
    social_accounts_metrics_sync_due,
)
from accounts.services.sandbox import sandbox_account_get_or_create, sandbox_grant_issue
from accounts.tasks import social_accounts_metrics_sync_due_task
from tests.factories import MetricsSnapshotFactory, SocialAccountFactory, UserFactory
from tests.helpers import bearer_client, followers_of, profile_total

pytestmark = pytest.mark.django_db

PROFILE_CALL = ("GET", "/sandbox/api/me")


def sandbox_account(
    *, handle: str, followers: int, platform=Platform.INSTAGRAM, synced: bool = True, **fields
):
    """An account holding real sandbox tokens; with ``synced``, its metrics row holds what
    the platform says now."""
    tokens = sandbox_grant_issue(platform=platform, handle=handle, followers=followers)
    upstream = SandboxAccount.objects.get(platform=platform, handle=handle)
    return SocialAccountFactory(
        followers=followers if synced else None,
        platform=platform,
        platform_user_id=upstream.upstream_id,
        platform_username=handle,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        **fields,
    )


def followers_at_platform(account, followers: int) -> None:
    sandbox_account_get_or_create(
        platform=account.platform, handle=account.platform_username, followers=followers
    )


def sync(account) -> str:
    return social_account_metrics_sync(social_account_id=account.pk).status


def snapshots(account) -> list[tuple[dt.date, int]]:
    return list(
        MetricsSnapshot.objects.filter(social_account=account)
        .order_by("day")
        .values_list("day", "follower_count")
    )


def test_a_follower_change_reaches_the_account_and_the_creator_total(sandbox_http):
    # given: two accounts, 1000 + 500 followers
    user = UserFactory()
    account = sandbox_account(user=user, handle="growing_creator", followers=1000)
    SocialAccountFactory(user=user, platform=Platform.X, followers=500)
    assert followers_of(user) == 1500

    # when: the platform now says 1800
    followers_at_platform(account, 1800)
    started = timezone.now()
    outcome = sync(account)

    # then
    assert outcome == "synced"
    assert sandbox_http.calls == [PROFILE_CALL]
    metrics = SocialMetrics.objects.get(social_account=account)
    assert (metrics.follower_count, metrics.following_count) == (1800, 180)
    assert metrics.synced_at >= started
    assert followers_of(user) == 2300
    assert profile_total(bearer_client(user)) == 2300
    assert snapshots(account) == [(timezone.localdate(), 1800)]


def test_a_second_sync_the_same_day_updates_that_days_snapshot(sandbox_http):
    # given: yesterday's history, and a first sync today
    account = sandbox_account(handle="daily_creator", followers=1000)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    MetricsSnapshotFactory(social_account=account, day=yesterday, follower_count=900)
    sync(account)

    # when
    followers_at_platform(account, 1100)
    outcome = sync(account)

    # then: one row per day, today's carrying the latest counts
    assert outcome == "synced"
    assert snapshots(account) == [(yesterday, 900), (timezone.localdate(), 1100)]


def test_a_renamed_account_shows_its_new_handle(sandbox_http):
    # given: the creator renamed the account on the platform
    account = sandbox_account(handle="old_name", followers=300)
    SandboxAccount.objects.filter(upstream_id=account.platform_user_id).update(handle="new_name")
    untouched = account.updated_at

    # when
    outcome = sync(account)

    # then
    assert outcome == "synced"
    fresh = SocialAccount.objects.get(pk=account.pk)
    assert (fresh.platform_username, fresh.display_name) == ("new_name", "New Name")
    assert fresh.avatar_url.endswith(f"{account.platform_user_id}.png")
    assert fresh.updated_at > untouched


def test_an_unchanged_profile_leaves_the_account_row_alone(sandbox_http):
    # given: a first sync stored the profile
    account = sandbox_account(handle="steady_creator", followers=300)
    sync(account)
    stored = SocialAccount.objects.get(pk=account.pk).updated_at

    # when
    followers_at_platform(account, 310)
    sync(account)

    # then: the counters moved, the account's updatedAt did not
    assert SocialAccount.objects.get(pk=account.pk).updated_at == stored
    assert SocialMetrics.objects.get(social_account=account).follower_count == 310


def test_a_disconnected_account_is_skipped(sandbox_http):
    # given
    account = sandbox_account(handle="gone_creator", followers=300)
    social_account_disconnect(
        account=account, actor=Actor.system("cli"), reason=DisconnectReason.REVOKED_BY_STAFF
    )
    calls = len(sandbox_http.calls)

    # when / then
    assert social_account_metrics_sync(social_account_id=account.pk).status == "skipped"
    assert social_account_metrics_sync(social_account_id=uuid.uuid4()).status == "skipped"
    assert len(sandbox_http.calls) == calls


def test_a_disconnect_during_the_sync_is_not_undone(monkeypatch, sandbox_http):
    # given: the account is disconnected while the platform answers
    user = UserFactory()
    account = sandbox_account(user=user, handle="leaving_creator", followers=300)
    SocialAccountFactory(user=user, platform=Platform.X, followers=500)
    real_fetch = SandboxProvider.fetch_profile

    def fetch_during_disconnect(self, **kwargs):
        profile = real_fetch(self, **kwargs)
        social_account_disconnect(
            account=account, actor=Actor.system("cli"), reason=DisconnectReason.REVOKED_BY_STAFF
        )
        return profile

    monkeypatch.setattr(SandboxProvider, "fetch_profile", fetch_during_disconnect)

    # when
    outcome = sync(account)

    # then: no metrics or history came back for it, and the total only counts what is left
    assert outcome == "skipped"
    assert not SocialMetrics.objects.filter(social_account_id=account.pk).exists()
    assert not MetricsSnapshot.objects.filter(social_account_id=account.pk).exists()
    assert followers_of(user) == 500


def test_another_upstream_account_behind_the_token_is_not_stored(sandbox_http):
    # given: the token answers for an upstream account this row is not
    account = sandbox_account(handle="someone_else", followers=300)
    SocialAccount.objects.filter(pk=account.pk).update(platform_user_id="another-upstream-id")
    followers_at_platform(account, 9000)

    # when
    outcome = sync(account)

    # then
    assert outcome == "skipped"
    assert SocialMetrics.objects.get(social_account=account).follower_count == 300
    assert snapshots(account) == []


def test_an_account_with_an_expired_token_is_left_to_the_refresh(sandbox_http):
    # given
    account = sandbox_account(
        handle="stale_creator",
        followers=300,
        token_expires_at=timezone.now() - dt.timedelta(minutes=1),
    )

    # when / then
    assert sync(account) == "skipped"
    assert sandbox_http.calls == []


def test_an_account_that_is_not_active_is_skipped(sandbox_http):
    account = sandbox_account(
        handle="expired_creator", followers=300, status=SocialAccount.Status.TOKEN_EXPIRED
    )

    assert sync(account) == "skipped"
    assert sandbox_http.calls == []


@pytest.mark.parametrize(
    ("answer", "outcome", "retry_at_least"),
    [
        pytest.param({"status": 401, "body": {"error": "invalid_token"}}, "failed", None, id="401"),
        pytest.param(
            {"status": 400, "body": {"error": "invalid_request"}}, "failed", None, id="400"
        ),
        pytest.param({"status": 503, "body": {}}, "retry", 60, id="503"),
        pytest.param(
            {"status": 429, "body": {}, "headers": {"Retry-After": "300"}},
            "retry",
            300,
            id="429-retry-after",
        ),
        pytest.param({"exc": requests.Timeout("read timed out")}, "retry", 60, id="timeout"),
        pytest.param(
            {"exc": requests.ConnectionError("connection refused")},
            "retry",
            60,
            id="connection-refused",
        ),
    ],
)
def test_a_failed_sync_changes_nothing(platform_answers, answer, outcome, retry_at_least):
    # given
    account = SocialAccountFactory(followers=300)
    before = SocialAccount.objects.filter(pk=account.pk).values().get()
    platform = platform_answers(**answer)

    # when
    result = social_account_metrics_sync(social_account_id=account.pk)

    # then: the status is the refresh's business; counters and history stay
    assert platform.calls == [PROFILE_CALL]
    assert result.status == outcome
    if retry_at_least is None:
        assert result.retry_in is None
    else:
        assert result.retry_in >= retry_at_least
    assert SocialAccount.objects.filter(pk=account.pk).values().get() == before
    assert SocialMetrics.objects.get(social_account=account).follower_count == 300
    assert snapshots(account) == []


def test_a_sync_runs_the_same_queries_whatever_the_history(
    platform_answers, django_assert_num_queries
):
    # given: the platform reports the same profile shape for both
    platform_answers(status=200, body={"id": "upstream", "username": "same", "followers_count": 10})
    short = SocialAccountFactory(platform_user_id="upstream", followers=1)
    long = SocialAccountFactory(platform_user_id="upstream", followers=1)
    MetricsSnapshotFactory.create_batch(40, social_account=long)

    # when / then
    for account in (short, long):
        with django_assert_num_queries(SYNC_QUERIES):
            assert sync(account) == "synced"


# read; savepoint; lock; account save; metrics select-for-update, savepoint, update, release;
# the receiver's profile lock and total update; snapshot upsert; release.
SYNC_QUERIES = 12


def test_due_accounts_are_the_active_ones_with_missing_or_stale_metrics(
    settings, django_assert_num_queries
):
    # given
    settings.METRICS_SYNC_STALE_AFTER = dt.timedelta(hours=1)
    now = timezone.now()
    never_synced = SocialAccountFactory()
    stale = SocialAccountFactory(followers=10)
    SocialMetrics.objects.filter(social_account=stale).update(synced_at=now - dt.timedelta(hours=3))
    SocialAccountFactory(followers=10)  # fresh
    SocialAccountFactory(status=SocialAccount.Status.TOKEN_EXPIRED)  # not active
    SocialAccountFactory(token_expires_at=now - dt.timedelta(minutes=1))  # token to refresh first
    no_expiry = SocialAccountFactory(token_expires_at=None)

    # when
    with django_assert_num_queries(1):
        due = social_accounts_metrics_sync_due()

    # then: the never-synced first, then the stalest
    assert set(due[:2]) == {never_synced.pk, no_expiry.pk}
    assert due[2:] == [stale.pk]

    # and with more accounts, still one query, bounded by the limit
    SocialAccountFactory.create_batch(4)
    with django_assert_num_queries(1):
        assert len(social_accounts_metrics_sync_due()) == 7
    with django_assert_num_queries(1):
        assert len(social_accounts_metrics_sync_due(limit=2)) == 2


def test_the_periodic_task_syncs_what_is_due(sandbox_http):
    # given: one account whose counters were never read, one read moments ago
    user = UserFactory()
    due = sandbox_account(user=user, handle="new_creator", followers=700, synced=False)
    fresh = sandbox_account(user=user, handle="fresh_creator", followers=200, platform=Platform.X)

    # when
    enqueued = social_accounts_metrics_sync_due_task.delay().get()

    # then
    assert enqueued == 1
    assert SocialMetrics.objects.get(social_account=due).follower_count == 700
    assert snapshots(due) == [(timezone.localdate(), 700)]
    assert snapshots(fresh) == []
    assert followers_of(user) == 900

    # and right after, nothing is due any more
    assert social_accounts_metrics_sync_due_task.delay().get() == 0
