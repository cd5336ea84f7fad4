"""The token revocation outbox: revoke at the platform after a disconnect, retry what is
transient, give up on what is definitive or exhausted, and sweep what a lost task left
behind."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from accounts import crypto
from accounts.models import OAuthState, Platform, SocialAccount, TokenRevocation
from accounts.providers import ProviderTransientError, SandboxProvider
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from accounts.services.refresh import social_account_token_refresh
from accounts.services.revocation import (
    HOLD_RECHECK,
    token_revocation_process,
    token_revocations_due,
)
from accounts.services.sandbox import sandbox_grant_issue
from accounts.tasks import token_revocation_process_task, token_revocations_sweep_task
from tests.factories import UserFactory, sandbox_connected_account
from tests.helpers import (
    authorize,
    bearer_client,
    complete,
    connect,
    live_credentials,
    start_connect,
)

pytestmark = pytest.mark.django_db

REVOKE_URL = "http://sandbox.test/sandbox/oauth/revoke"
REVOKE_CALL = ("POST", "/sandbox/oauth/revoke")


def outbox_row(*, access="acc-tok", refresh="ref-tok", attempts=0, due_in=-1) -> TokenRevocation:
    return TokenRevocation.objects.create(
        platform=Platform.INSTAGRAM,
        account_public_id="sa_00000000-0000-4000-8000-000000000001",
        access_token=access,
        refresh_token=refresh,
        attempts=attempts,
        next_attempt_at=timezone.now() + dt.timedelta(seconds=due_in),
    )


def test_a_due_row_is_revoked_at_the_platform_and_deleted(sandbox_http):
    # given
    tokens = sandbox_grant_issue(platform=Platform.INSTAGRAM, handle="outbox_creator")
    row = outbox_row(access=tokens.access_token, refresh=tokens.refresh_token)

    # when
    outcome = token_revocation_process(revocation_id=row.pk)

    # then
    assert outcome.status == "revoked"
    assert sandbox_http.calls.count(REVOKE_CALL) == 2
    assert live_credentials("outbox_creator") == 0
    assert not TokenRevocation.objects.filter(pk=row.pk).exists()


def test_processing_twice_is_harmless(sandbox_http):
    # given
    row = outbox_row()
    token_revocation_process(revocation_id=row.pk)
    calls = len(sandbox_http.calls)

    # when
    outcome = token_revocation_process(revocation_id=row.pk)

    # then
    assert outcome.status == "not_due"
    assert len(sandbox_http.calls) == calls


def test_a_platform_outage_is_retried_later(platform_answers):
    # given
    outage = platform_answers(
        status=503, body={"error": "temporarily_unavailable"}, url_prefix=REVOKE_URL
    )
    row = outbox_row()
    started = timezone.now()

    # when
    outcome = token_revocation_process(revocation_id=row.pk)

    # then: kept, with the attempt, the error and a backoff recorded
    assert outage.calls == [REVOKE_CALL]
    assert outcome.status == "retry"
    assert outcome.retry_in == 30
    row.refresh_from_db()
    assert row.attempts == 1
    assert "503" in row.last_error
    assert row.next_attempt_at >= started + dt.timedelta(seconds=30)
    assert (row.access_token, row.refresh_token) == ("acc-tok", "ref-tok")


def test_retry_after_from_the_platform_is_honoured(platform_answers):
    # given
    platform_answers(
        status=429,
        body={"error": "slow_down"},
        headers={"Retry-After": "600"},
        url_prefix=REVOKE_URL,
    )
    row = outbox_row()
    started = timezone.now()

    # when
    outcome = token_revocation_process(revocation_id=row.pk)

    # then
    assert (outcome.status, outcome.retry_in) == ("retry", 600)
    row.refresh_from_db()
    assert row.next_attempt_at >= started + dt.timedelta(seconds=600)


def test_backoff_grows_with_the_attempts(monkeypatch):
    # given
    def unreachable(self, **kwargs):
        raise ProviderTransientError("timeout calling revoke")

    monkeypatch.setattr(SandboxProvider, "revoke", unreachable)
    row = outbox_row(attempts=3)

    # when
    outcome = token_revocation_process(revocation_id=row.pk)

    # then: the fourth attempt waits 30 s * 2**3
    assert (outcome.status, outcome.retry_in) == ("retry", 240)
    row.refresh_from_db()
    assert (row.attempts, row.last_error) == (4, "timeout calling revoke")


def test_after_the_last_attempt_the_tokens_are_dropped(platform_answers, settings):
    # given
    settings.TOKEN_REVOCATION_MAX_ATTEMPTS = 3
    platform_answers(status=503, body={}, url_prefix=REVOKE_URL)
    row = outbox_row()
    outcomes = []

    # when: every attempt fails, each run once its backoff is over
    for _ in range(3):
        outcomes.append(token_revocation_process(revocation_id=row.pk).status)
        TokenRevocation.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())

    # then
    assert outcomes == ["retry", "retry", "abandoned"]
    assert not TokenRevocation.objects.filter(pk=row.pk).exists()


def test_a_definitive_refusal_ends_the_revocation(platform_answers):
    # given: the grant is already dead at the platform
    refusal = platform_answers(status=400, body={"error": "invalid_grant"}, url_prefix=REVOKE_URL)
    row = outbox_row()

    # when
    outcome = token_revocation_process(revocation_id=row.pk)

    # then: nothing to retry; the last copy of the tokens is gone
    assert refusal.calls == [REVOKE_CALL]
    assert outcome.status == "refused"
    assert not TokenRevocation.objects.filter(pk=row.pk).exists()


def test_undecryptable_tokens_are_dropped(settings, sandbox_http):
    # given: tokens written under a key that is no longer configured
    row = outbox_row()
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    crypto._multifernet.cache_clear()

    # when
    try:
        outcome = token_revocation_process(revocation_id=row.pk)
    finally:
        crypto._multifernet.cache_clear()

    # then: no ciphertext is sent anywhere, and the row is abandoned
    assert outcome.status == "abandoned"
    assert sandbox_http.calls == []
    assert not TokenRevocation.objects.filter(pk=row.pk).exists()


def test_a_row_not_yet_due_is_left_alone(sandbox_http):
    # given
    row = outbox_row(attempts=2, due_in=300)

    # when
    outcome = token_revocation_process(revocation_id=row.pk)

    # then
    assert outcome.status == "not_due"
    assert sandbox_http.calls == []
    fresh = TokenRevocation.objects.get(pk=row.pk)
    assert (fresh.attempts, fresh.next_attempt_at) == (2, row.next_attempt_at)


def test_an_unknown_row_is_not_due(sandbox_http):
    assert token_revocation_process(revocation_id=987654).status == "not_due"
    assert sandbox_http.calls == []


def test_the_task_processes_one_row(sandbox_http):
    # given
    row = outbox_row()

    # when
    token_revocation_process_task.delay(row.pk)

    # then
    assert sandbox_http.calls.count(REVOKE_CALL) == 2
    assert not TokenRevocation.objects.exists()


def test_the_sweep_processes_due_rows_and_skips_the_rest(sandbox_http):
    # given: two rows whose task was lost, one waiting for its backoff
    lost = [outbox_row(), outbox_row(due_in=-3600)]
    waiting = outbox_row(due_in=600)
    assert set(token_revocations_due()) == {row.pk for row in lost}

    # when
    swept = token_revocations_sweep_task.delay().get()

    # then
    assert swept == 2
    assert sandbox_http.calls.count(REVOKE_CALL) == 4
    assert list(TokenRevocation.objects.values_list("pk", flat=True)) == [waiting.pk]


# The upstream account connected again before its old tokens are revoked --------------------


def _disconnect_holding_the_revoke(account) -> TokenRevocation:
    """Disconnect ``account``; its revoke task is not run, as when the worker is behind."""
    social_account_disconnect(
        account=account, actor=Actor.system("test"), reason=DisconnectReason.REVOKED_BY_USER
    )
    return TokenRevocation.objects.get(account_public_id=account.public_id)


def test_a_revoke_due_after_the_account_was_reconnected_spares_the_new_grant(user, sandbox_http):
    """The sandbox, like platforms that revoke per user and client, would end every grant of
    the upstream account: revoking the old tokens now would disconnect the new account."""
    # given: disconnected, then connected again before the worker revoked the old tokens
    old = sandbox_connected_account(user, Platform.INSTAGRAM, handle="back_again")
    row = _disconnect_holding_the_revoke(old)
    assert row.platform_user_id == old.platform_user_id
    new = sandbox_connected_account(user, Platform.INSTAGRAM, handle="back_again")

    # when
    outcome = token_revocation_process(revocation_id=row.pk)

    # then: the old tokens are dropped without a call, and the new grant still works
    assert outcome.status == "superseded"
    assert REVOKE_CALL not in sandbox_http.calls
    assert not TokenRevocation.objects.exists()
    assert social_account_token_refresh(social_account_id=new.pk).status == "refreshed"


def test_a_revoke_spares_the_grant_another_creator_holds_on_the_same_upstream_account(
    user, sandbox_http
):
    # given: two creators connected one upstream account in their own workspaces
    mine = sandbox_connected_account(user, Platform.X, handle="shared_brand")
    theirs = sandbox_connected_account(UserFactory(), Platform.X, handle="shared_brand")
    row = _disconnect_holding_the_revoke(mine)

    # when
    outcome = token_revocation_process(revocation_id=row.pk)

    # then
    assert outcome.status == "superseded"
    assert social_account_token_refresh(social_account_id=theirs.pk).status == "refreshed"


def test_a_revoke_waits_for_the_creators_connect_in_flight_then_spares_its_grant(
    user, sandbox_http
):
    """Reconnecting: the new grant may already be issued but not stored yet when the old
    tokens' revoke runs; revoking then would end it before the connect commits."""
    # given: disconnected; the creator is back at the consent screen of the same platform
    old = sandbox_connected_account(user, Platform.INSTAGRAM, handle="midway")
    row = _disconnect_holding_the_revoke(old)
    assert row.account_user_id == user.pk
    client = bearer_client(user)
    in_flight = authorize(client, "instagram", handle="midway")

    # when: the revoke runs meanwhile
    outcome = token_revocation_process(revocation_id=row.pk)

    # then: held back (looked at again shortly), its attempt not counted
    row.refresh_from_db()
    assert outcome.status == "postponed"
    assert REVOKE_CALL not in sandbox_http.calls
    assert row.attempts == 0
    assert timezone.now() < row.next_attempt_at <= timezone.now() + HOLD_RECHECK

    # when: the connect commits, and the revoke runs again
    assert complete(client, in_flight).status_code == 200
    TokenRevocation.objects.update(next_attempt_at=timezone.now())
    outcome = token_revocation_process(revocation_id=row.pk)

    # then
    assert outcome.status == "superseded"
    new = SocialAccount.objects.get(user=user, platform=Platform.INSTAGRAM)
    assert social_account_token_refresh(social_account_id=new.pk).status == "refreshed"


def test_a_connect_abandoned_at_the_consent_screen_delays_the_revoke_until_it_expires(
    user, sandbox_http
):
    gone = sandbox_connected_account(user, Platform.INSTAGRAM, handle="changed_mind")
    row = _disconnect_holding_the_revoke(gone)
    start_connect(bearer_client(user), "instagram")
    for _ in range(3):  # looked at again while the state lives
        assert token_revocation_process(revocation_id=row.pk).status == "postponed"
        TokenRevocation.objects.update(next_attempt_at=timezone.now())

    OAuthState.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    TokenRevocation.objects.update(next_attempt_at=timezone.now())

    assert token_revocation_process(revocation_id=row.pk).status == "revoked"
    assert live_credentials("changed_mind") == 0


def test_the_connect_that_made_the_account_does_not_hold_its_revoke(user, sandbox_http):
    """Connected through the API a moment ago (its state still live), then disconnected."""
    client = bearer_client(user)
    assert connect(client, "instagram", handle="quick_change").status_code == 200
    row = _disconnect_holding_the_revoke(SocialAccount.objects.get(user=user))

    assert token_revocation_process(revocation_id=row.pk).status == "revoked"
    assert live_credentials("quick_change") == 0


def test_a_finished_connect_of_another_upstream_account_does_not_hold_the_revoke(
    user, sandbox_http
):
    old = sandbox_connected_account(user, Platform.INSTAGRAM, handle="old_brand")
    row = _disconnect_holding_the_revoke(old)
    assert connect(bearer_client(user), "instagram", handle="new_brand").status_code == 200

    assert token_revocation_process(revocation_id=row.pk).status == "revoked"
    assert live_credentials("old_brand") == 0
    assert live_credentials("new_brand") == 2


def test_another_platforms_connect_does_not_hold_the_revoke(user, sandbox_http):
    gone = sandbox_connected_account(user, Platform.INSTAGRAM, handle="other_platform")
    row = _disconnect_holding_the_revoke(gone)
    start_connect(bearer_client(user), "x")

    assert token_revocation_process(revocation_id=row.pk).status == "revoked"


def test_control_with_the_upstream_account_gone_for_good_the_tokens_are_revoked(user, sandbox_http):
    gone = sandbox_connected_account(user, Platform.INSTAGRAM, handle="left_for_good")
    row = _disconnect_holding_the_revoke(gone)

    outcome = token_revocation_process(revocation_id=row.pk)

    assert outcome.status == "revoked"
    assert live_credentials("left_for_good") == 0


def test_tokens_of_a_refused_connect_name_their_upstream_account(user, sandbox_http):
    """A refused connect whose upstream account another creator holds must not end that
    creator's grant either."""
    theirs = sandbox_connected_account(UserFactory(), Platform.INSTAGRAM, handle="taken_brand")
    sandbox_connected_account(user, Platform.INSTAGRAM, handle="first_brand")
    client = bearer_client(user)

    response = connect(client, "instagram", handle="taken_brand")

    assert response.status_code == 409
    row = TokenRevocation.objects.get()
    assert row.platform_user_id == theirs.platform_user_id
    assert token_revocation_process(revocation_id=row.pk).status == "superseded"
    assert social_account_token_refresh(social_account_id=theirs.pk).status == "refreshed"
