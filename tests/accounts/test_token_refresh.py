"""Token refresh: what each platform answer does to the account, the claim that keeps two
workers off one grant, a disconnect racing a refresh, the token_expired side effects and
the periodic selection."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import requests
from celery.exceptions import Retry
from django.utils import timezone

from accounts.models import AuditEvent, Platform, SandboxAccount, SocialAccount, TokenRevocation
from accounts.providers import SandboxProvider
from accounts.services import refresh as refresh_module
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from accounts.services.refresh import (
    RefreshOutcome,
    social_account_token_refresh,
    social_accounts_refresh_due,
)
from accounts.services.sandbox import sandbox_grant_issue
from accounts.services.webhooks import WebhookEvent
from accounts.tasks import social_account_token_refresh_task, social_accounts_refresh_due_task
from tests.factories import SocialAccountFactory
from tests.helpers import live_credentials, raw_tokens, run_concurrently

pytestmark = pytest.mark.django_db

TOKEN_CALL = ("POST", "/sandbox/oauth/token")
ACTIVE = SocialAccount.Status.ACTIVE
TOKEN_EXPIRED = SocialAccount.Status.TOKEN_EXPIRED


def sandbox_account(*, handle: str = "fresh_creator", expires_in=dt.timedelta(minutes=5), **fields):
    """An account holding real sandbox tokens whose access token expires in ``expires_in``."""
    tokens = sandbox_grant_issue(platform=Platform.INSTAGRAM, handle=handle)
    upstream = SandboxAccount.objects.get(platform=Platform.INSTAGRAM, handle=handle)
    return SocialAccountFactory(
        platform=Platform.INSTAGRAM,
        platform_user_id=upstream.upstream_id,
        platform_username=handle,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_expires_at=timezone.now() + expires_in,
        **fields,
    )


def refresh(account, **kwargs) -> RefreshOutcome:
    return social_account_token_refresh(social_account_id=account.pk, **kwargs)


def release_claim(account) -> None:
    """As if the last attempt was long ago (the next run may claim the account again)."""
    SocialAccount.objects.filter(pk=account.pk).update(
        last_refresh_attempt_at=timezone.now() - dt.timedelta(hours=1)
    )


@pytest.fixture
def emitted(monkeypatch) -> list[dict]:
    """The webhook events the refresh emits (recorded, not delivered)."""
    events: list[dict] = []

    def record(**kwargs) -> int:
        events.append(kwargs)
        return 1

    monkeypatch.setattr(refresh_module, "webhook_event_emit", record)
    return events


# --- what each platform answer does -----------------------------------------------------


def expired(reason_code: str) -> dict:
    return {
        "outcome": "token_expired",
        "status": TOKEN_EXPIRED,
        "status_reason": f"refresh refused by the platform: {reason_code}",
    }


STILL_ACTIVE = {"status": ACTIVE, "status_reason": ""}


@pytest.mark.parametrize(
    ("answer", "expected", "http_status", "error_says"),
    [
        pytest.param(
            {"status": 400, "body": {"error": "invalid_grant", "error_description": "revoked"}},
            expired("invalid_grant"),
            400,
            "invalid_grant: revoked",
            id="400-invalid_grant",
        ),
        pytest.param({"status": 401, "body": {}}, expired("HTTP 401"), 401, "HTTP 401", id="401"),
        pytest.param(
            {"status": 400, "body": {"error": "invalid_token"}},
            expired("invalid_token"),
            400,
            "invalid_token",
            id="400-invalid_token",
        ),
        pytest.param(
            {"status": 400, "body": {"error": "unauthorized_client"}},
            expired("unauthorized_client"),
            400,
            "unauthorized_client",
            id="400-unauthorized_client",
        ),
        pytest.param(
            {"status": 400, "body": {"error": "invalid_request"}},
            {"outcome": "failed", **STILL_ACTIVE},
            400,
            "invalid_request",
            id="400-invalid_request",
        ),
        pytest.param(
            {"status": 400, "body": {"error": "invalid_client", "error_description": "bad id"}},
            {"outcome": "failed", **STILL_ACTIVE},
            400,
            "invalid_client: bad id",
            id="400-invalid_client",
        ),
        *(
            pytest.param(
                {"status": status, "body": {"error": "server_error"}},
                {"outcome": "retry", **STILL_ACTIVE},
                status,
                f"answered {status}",
                id=str(status),
            )
            for status in (500, 502, 503)
        ),
        pytest.param(
            {"status": 429, "body": {"error": "slow_down"}, "headers": {"Retry-After": "120"}},
            {"outcome": "retry", **STILL_ACTIVE},
            429,
            "answered 429",
            id="429-retry-after",
        ),
        pytest.param(
            {"exc": requests.Timeout("read timed out")},
            {"outcome": "retry", **STILL_ACTIVE},
            None,
            "timeout calling",
            id="timeout",
        ),
        pytest.param(
            {"exc": requests.ConnectionError("connection refused")},
            {"outcome": "retry", **STILL_ACTIVE},
            None,
            "cannot reach",
            id="connection-refused",
        ),
    ],
)
def test_each_platform_answer_is_classified_and_recorded(
    platform_answers, emitted, answer, expected, http_status, error_says
):
    # given
    account = SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))
    platform = platform_answers(**answer)
    started = timezone.now()

    # when
    outcome = refresh(account)

    # then: one call to the token endpoint, the answer recorded, the tokens kept
    assert platform.calls == [TOKEN_CALL]
    assert outcome.status == expected["outcome"]
    fresh = SocialAccount.objects.get(pk=account.pk)
    assert fresh.status == expected["status"]
    assert fresh.status_reason == expected["status_reason"]
    assert fresh.last_refresh_http_status == http_status
    assert error_says in fresh.last_refresh_error
    assert fresh.last_refresh_attempt_at >= started
    assert (fresh.access_token, fresh.refresh_token) == (
        account.access_token,
        account.refresh_token,
    )
    assert fresh.token_expires_at == account.token_expires_at
    assert fresh.last_refreshed_at is None
    if outcome.status == "retry":
        assert outcome.retry_in >= (120 if http_status == 429 else 1)
    else:
        assert outcome.retry_in is None
    assert len(emitted) == (1 if fresh.status == TOKEN_EXPIRED else 0)
    assert AuditEvent.objects.filter(action="social_account.token_expired").count() == len(emitted)


def test_the_backoff_grows_with_the_attempts_and_is_capped(platform_answers):
    # given
    platform_answers(status=503, body={"error": "temporarily_unavailable"})
    account = SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))
    delays = []

    # when
    for attempt in (1, 2, 3, 10):
        release_claim(account)
        delays.append(refresh(account, attempt=attempt).retry_in)

    # then: always beyond the claim's lease, doubling, at most an hour
    assert delays == [180, 360, 720, 3600]


def test_a_long_retry_after_is_honoured_up_to_an_hour(platform_answers):
    # given
    platform_answers(status=429, body={}, headers={"Retry-After": "900"})
    account = SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))

    # when / then
    assert refresh(account).retry_in == 900
    release_claim(account)
    platform_answers(status=429, body={}, headers={"Retry-After": "86400"})
    assert refresh(account).retry_in == 3600


# --- success ------------------------------------------------------------------------------


def test_a_refresh_stores_the_new_access_token_and_keeps_the_refresh_token(sandbox_http):
    # given: the sandbox, like several platforms, sends no new refresh token
    account = sandbox_account(handle="fresh_creator", last_refresh_error="platform answered 503")
    SocialAccount.objects.filter(pk=account.pk).update(last_refresh_http_status=503)
    started = timezone.now()

    # when
    outcome = refresh(account)

    # then
    assert outcome == RefreshOutcome("refreshed")
    assert sandbox_http.calls == [TOKEN_CALL]
    fresh = SocialAccount.objects.get(pk=account.pk)
    assert fresh.access_token != account.access_token
    assert fresh.refresh_token == account.refresh_token
    assert fresh.token_expires_at >= started + dt.timedelta(minutes=59)
    assert fresh.last_refreshed_at >= started
    assert (fresh.last_refresh_error, fresh.last_refresh_http_status) == ("", None)
    assert fresh.status == ACTIVE
    # stored encrypted
    stored_access, stored_refresh = raw_tokens(SocialAccount, account.pk)
    assert stored_access and fresh.access_token not in stored_access
    assert stored_refresh and fresh.refresh_token not in stored_refresh
    # and the platform takes the new token
    profile = SandboxProvider(Platform.INSTAGRAM).fetch_profile(access_token=fresh.access_token)
    assert profile.username == "fresh_creator"


@pytest.mark.parametrize(
    ("sent_refresh_token", "kept"),
    [("rotated-refresh-token", False), ("", True)],
    ids=["replaced", "blank-is-ignored"],
)
def test_a_refresh_token_is_replaced_only_when_the_platform_sends_one(
    platform_answers, sent_refresh_token, kept
):
    # given
    platform_answers(
        status=200,
        body={
            "access_token": "rotated-access-token",
            "refresh_token": sent_refresh_token,
            "expires_in": 7200,
            "scope": "profile:read offline_access",
        },
    )
    account = SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))

    # when
    outcome = refresh(account)

    # then
    assert outcome.status == "refreshed"
    fresh = SocialAccount.objects.get(pk=account.pk)
    assert fresh.access_token == "rotated-access-token"
    assert fresh.refresh_token == (account.refresh_token if kept else "rotated-refresh-token")
    assert fresh.scopes == ["profile:read", "offline_access"]
    assert fresh.token_expires_at >= timezone.now() + dt.timedelta(minutes=119)


def test_a_refresh_runs_the_same_queries_for_any_account(
    platform_answers, django_assert_num_queries
):
    # given
    platform_answers(status=200, body={"access_token": "new-access", "expires_in": 3600})
    accounts = [
        SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))
        for _ in range(2)
    ]

    # when / then: claim, read, then lock and save in one transaction (two savepoint
    # statements in this test's transaction)
    for account in accounts:
        with django_assert_num_queries(6):
            assert refresh(account).status == "refreshed"


# --- no refresh token ---------------------------------------------------------------------


def test_an_expired_token_without_refresh_token_expires_the_account(sandbox_http, emitted):
    # given
    account = SocialAccountFactory(
        refresh_token="", token_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )

    # when
    outcome = refresh(account)

    # then: nothing to ask the platform; the account says why it stopped
    assert outcome.status == "token_expired"
    assert sandbox_http.calls == []
    fresh = SocialAccount.objects.get(pk=account.pk)
    assert fresh.status == TOKEN_EXPIRED
    assert "no refresh token" in fresh.status_reason
    assert fresh.last_refresh_http_status is None
    assert [event["data"]["reason"] for event in emitted] == [fresh.status_reason]


def test_a_valid_token_without_refresh_token_is_left_alone(sandbox_http, emitted):
    # given
    account = SocialAccountFactory(
        refresh_token="", token_expires_at=timezone.now() + dt.timedelta(minutes=5)
    )

    # when
    outcome = refresh(account)

    # then
    assert outcome.status == "skipped"
    assert sandbox_http.calls == []
    assert SocialAccount.objects.get(pk=account.pk).status == ACTIVE
    assert emitted == []


# --- the claim ------------------------------------------------------------------------------


def test_an_account_attempted_moments_ago_is_skipped(sandbox_http):
    # given: another worker took it 30 seconds ago
    attempted_at = timezone.now() - dt.timedelta(seconds=30)
    account = sandbox_account(last_refresh_attempt_at=attempted_at)

    # when
    outcome = refresh(account)

    # then
    assert outcome.status == "skipped"
    assert sandbox_http.calls == []
    assert SocialAccount.objects.get(pk=account.pk).last_refresh_attempt_at == attempted_at


def test_an_account_attempted_long_ago_is_refreshed(sandbox_http):
    # given
    account = sandbox_account(last_refresh_attempt_at=timezone.now() - dt.timedelta(minutes=10))

    # when / then
    assert refresh(account).status == "refreshed"


def test_expired_and_gone_accounts_are_skipped(sandbox_http):
    # given
    expired_account = sandbox_account(status=TOKEN_EXPIRED)
    gone = uuid.uuid4()

    # when / then
    assert refresh(expired_account).status == "skipped"
    assert social_account_token_refresh(social_account_id=gone).status == "skipped"
    assert sandbox_http.calls == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_one_account_call_the_platform_once(sandbox_http):
    # given
    account = sandbox_account(handle="busy_creator")

    # when: both released together, each on its own connection
    outcomes = run_concurrently(lambda: refresh(account), lambda: refresh(account))

    # then: the grant was used once
    assert sorted(outcome.status for outcome in outcomes) == ["refreshed", "skipped"]
    assert sandbox_http.calls.count(TOKEN_CALL) == 1
    assert SocialAccount.objects.get(pk=account.pk).access_token != account.access_token


# --- races with the account's other writers -------------------------------------------------


def test_a_disconnect_during_the_refresh_sends_the_new_tokens_to_revocation(
    monkeypatch, sandbox_http, django_capture_on_commit_callbacks
):
    # given: the account is disconnected while the platform answers the refresh
    account = sandbox_account(handle="leaving_creator")
    real_refresh = SandboxProvider.refresh
    issued = []

    def refresh_during_disconnect(self, **kwargs):
        tokens = real_refresh(self, **kwargs)
        issued.append(tokens)
        social_account_disconnect(
            account=account, actor=Actor.system("cli"), reason=DisconnectReason.REVOKED_BY_STAFF
        )
        return tokens

    monkeypatch.setattr(SandboxProvider, "refresh", refresh_during_disconnect)

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = refresh(account)

    # then: no account came back, and the outbox holds the old and the new tokens
    assert outcome.status == "skipped"
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    queued = set(TokenRevocation.objects.values_list("access_token", flat=True))
    assert queued == {account.access_token, issued[0].access_token}

    # when the revocations run after commit
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()

    # then: nothing stays alive at the platform
    assert live_credentials("leaving_creator") == 0
    assert not TokenRevocation.objects.exists()


def test_a_reconnect_during_the_refresh_keeps_the_new_grant(monkeypatch, platform_answers, emitted):
    # given: the platform refuses the old grant while the user re-authorises
    platform_answers(status=400, body={"error": "invalid_grant"})
    account = SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))
    real_refresh = SandboxProvider.refresh

    def refresh_during_reconnect(self, **kwargs):
        SocialAccount.objects.filter(pk=account.pk).update(
            access_token="reconnected-access", refresh_token="reconnected-refresh"
        )
        return real_refresh(self, **kwargs)

    monkeypatch.setattr(SandboxProvider, "refresh", refresh_during_reconnect)

    # when
    outcome = refresh(account)

    # then: the refusal was about the old grant; the account stays usable
    assert outcome.status == "skipped"
    fresh = SocialAccount.objects.get(pk=account.pk)
    assert (fresh.status, fresh.refresh_token) == (ACTIVE, "reconnected-refresh")
    assert emitted == []


# --- token_expired: audit event and webhook -------------------------------------------------


def test_a_dead_grant_writes_the_audit_event_and_emits_the_webhook(platform_answers, emitted):
    # given
    platform_answers(status=400, body={"error": "invalid_grant"})
    account = SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))
    reason = "refresh refused by the platform: invalid_grant"

    # when
    refresh(account)

    # then
    event = AuditEvent.objects.get(action="social_account.token_expired")
    assert (event.actor_type, event.actor_id) == ("system", "token-refresh")
    assert event.workspace_id == account.workspace.public_id
    assert event.subject_ids == [account.public_id, account.user.public_id]
    assert event.data == {
        "platform": "instagram",
        "handle": account.platform_username,
        "reason": reason,
        "httpStatus": 400,
    }
    assert emitted == [
        {
            "workspace_id": account.workspace_id,
            "event": WebhookEvent.ACCOUNT_TOKEN_EXPIRED,
            "data": {
                "socialAccountId": account.public_id,
                "platform": "instagram",
                "handle": account.platform_username,
                "reason": reason,
                "httpStatus": 400,
            },
        }
    ]


def test_a_failure_while_expiring_the_account_rolls_it_all_back(platform_answers, monkeypatch):
    # given: the webhook cannot be queued
    platform_answers(status=400, body={"error": "invalid_grant"})
    account = SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))

    def fail(**kwargs):
        raise RuntimeError("webhook store unavailable")

    monkeypatch.setattr(refresh_module, "webhook_event_emit", fail)

    # when
    with pytest.raises(RuntimeError, match="webhook store unavailable"):
        refresh(account)

    # then: neither the status change nor the audit event was kept
    fresh = SocialAccount.objects.get(pk=account.pk)
    assert (fresh.status, fresh.status_reason, fresh.last_refresh_error) == (ACTIVE, "", "")
    assert not AuditEvent.objects.filter(action="social_account.token_expired").exists()


# --- the task and the periodic selection ----------------------------------------------------


def run_task_attempt(account, *, retries: int, monkeypatch) -> tuple[str | None, list[int]]:
    """Run the task as a worker's attempt number ``retries + 1``; its result and the
    countdowns it asked to be retried after."""
    countdowns: list[int] = []

    def retry(self, countdown=None, **kwargs):
        countdowns.append(countdown)
        return Retry("retry", when=countdown)

    task = social_account_token_refresh_task
    monkeypatch.setattr(type(task._get_current_object()), "retry", retry)
    task.push_request(retries=retries, is_eager=False)
    try:
        return task.run(str(account.pk)), countdowns
    except Retry:
        return None, countdowns
    finally:
        task.pop_request()


def test_the_task_retries_transient_failures_until_the_last_attempt(
    platform_answers, monkeypatch, settings
):
    # given
    settings.TOKEN_REFRESH_MAX_ATTEMPTS = 3
    platform_answers(status=503, body={})
    account = SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))

    # when: the first and the last attempt
    first = run_task_attempt(account, retries=0, monkeypatch=monkeypatch)
    release_claim(account)
    last = run_task_attempt(account, retries=2, monkeypatch=monkeypatch)

    # then
    assert first == (None, [180])
    assert last == ("retry", [])
    assert SocialAccount.objects.get(pk=account.pk).status == ACTIVE


def test_the_task_does_not_retry_a_dead_grant(platform_answers, monkeypatch, emitted):
    # given
    platform_answers(status=400, body={"error": "invalid_grant"})
    account = SocialAccountFactory(token_expires_at=timezone.now() + dt.timedelta(minutes=5))

    # when / then
    assert run_task_attempt(account, retries=0, monkeypatch=monkeypatch) == ("token_expired", [])


def test_due_accounts_are_the_active_ones_expiring_soon_and_not_held(
    settings, django_assert_num_queries
):
    # given
    settings.TOKEN_REFRESH_AHEAD = dt.timedelta(minutes=15)
    now = timezone.now()
    expiring = SocialAccountFactory(token_expires_at=now + dt.timedelta(minutes=5))
    expired_attempted_earlier = SocialAccountFactory(
        token_expires_at=now - dt.timedelta(hours=1),
        last_refresh_attempt_at=now - dt.timedelta(minutes=10),
    )
    SocialAccountFactory(token_expires_at=now + dt.timedelta(hours=2))  # not yet
    SocialAccountFactory(token_expires_at=None)  # never expires
    SocialAccountFactory(  # an attempt holds it
        token_expires_at=now + dt.timedelta(minutes=5),
        last_refresh_attempt_at=now - dt.timedelta(seconds=30),
    )
    SocialAccountFactory(token_expires_at=now - dt.timedelta(minutes=5), status=TOKEN_EXPIRED)

    # when
    with django_assert_num_queries(1):
        due = social_accounts_refresh_due()

    # then: soonest first
    assert due == [expired_attempted_earlier.pk, expiring.pk]

    # and with more accounts, still one query, bounded by the limit
    SocialAccountFactory.create_batch(4, token_expires_at=now + dt.timedelta(minutes=1))
    with django_assert_num_queries(1):
        assert len(social_accounts_refresh_due()) == 6
    with django_assert_num_queries(1):
        assert len(social_accounts_refresh_due(limit=3)) == 3


def test_the_periodic_task_refreshes_what_is_due(sandbox_http):
    # given
    due = [sandbox_account(handle=f"due_{n}") for n in range(2)]
    later = sandbox_account(handle="later", expires_in=dt.timedelta(hours=2))
    started = timezone.now()

    # when
    enqueued = social_accounts_refresh_due_task.delay().get()

    # then
    assert enqueued == 2
    assert sandbox_http.calls == [TOKEN_CALL, TOKEN_CALL]
    for account in due:
        assert SocialAccount.objects.get(pk=account.pk).token_expires_at >= started + dt.timedelta(
            minutes=59
        )
    assert SocialAccount.objects.get(pk=later.pk).access_token == later.access_token

    # and right after, nothing is due any more
    assert social_accounts_refresh_due_task.delay().get() == 0
