"""HTTP tests of the OAuth connect flow: connect/start, the sandbox authorize step, connect."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection
from django.utils import timezone

from accounts.crypto import decrypt_token
from accounts.models import AuditEvent, OAuthState, SocialAccount, SocialMetrics, TokenRevocation
from accounts.providers import Profile, SandboxProvider, TokenSet
from accounts.providers.base import pkce_challenge, pkce_pair
from accounts.services import sandbox as sandbox_services
from accounts.services.connect import social_account_store_authorization
from accounts.tasks import token_revocations_sweep_task
from tests.celery_worker import broker_unreachable
from tests.factories import SocialAccountFactory, UserFactory
from tests.helpers import (
    CONNECT_URL,
    PROFILE_URL,
    REDIRECT_URI,
    START_URL,
    assert_error,
    assert_success,
    authorize,
    bearer_client,
    complete,
    connect,
    live_credentials,
    profile_total,
    raw_tokens,
    run_concurrently,
    start_connect,
)

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/creators/social"
CONNECT_KEYS = {
    "id",
    "platform",
    "platformUsername",
    "verified",
    "status",
    "connectedAt",
    "reconnected",
}


# connect/start ----------------------------------------------------------------------


def test_start_returns_an_authorization_url_with_pkce_and_state(user, user_client):
    data = assert_success(start_connect(user_client, "youtube"))

    assert set(data) == {"authorizationUrl", "state"}
    parts = urlsplit(data["authorizationUrl"])
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query["response_type"] == "code"
    assert query["platform"] == "youtube"
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["state"] == data["state"]
    assert query["code_challenge_method"] == "S256"
    pending = OAuthState.objects.get(user=user)
    assert pending.platform == "youtube"
    assert pending.state_hash == hashlib.sha256(data["state"].encode()).hexdigest()
    assert pending.state_hash != data["state"]
    assert pkce_challenge(pending.code_verifier) == query["code_challenge"]
    assert pending.code_verifier not in data["authorizationUrl"]
    assert pending.expires_at > timezone.now()


def test_start_stores_the_pkce_verifier_encrypted(user, user_client):
    assert_success(start_connect(user_client))
    pending = OAuthState.objects.get(user=user)

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT code_verifier FROM {OAuthState._meta.db_table} WHERE id = %s", [pending.pk]
        )
        (stored,) = cursor.fetchone()

    assert stored != pending.code_verifier
    assert decrypt_token(stored) == pending.code_verifier


def test_each_start_issues_a_fresh_state(user_client):
    first = assert_success(start_connect(user_client))
    second = assert_success(start_connect(user_client))

    assert first["state"] != second["state"]
    assert first["authorizationUrl"] != second["authorizationUrl"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "myspace", "redirectUri": REDIRECT_URI}, "platform"),
        ({"platform": 3, "redirectUri": REDIRECT_URI}, "platform"),
        ({"redirectUri": REDIRECT_URI}, "platform"),
        ({"platform": "instagram"}, "redirectUri"),
        ({"platform": "instagram", "redirectUri": None}, "redirectUri"),
        ({"platform": "instagram", "redirectUri": ["https://a.example"]}, "redirectUri"),
        ({"platform": "instagram", "redirectUri": "javascript:alert(1)"}, "redirectUri"),
        ({"platform": "instagram", "redirectUri": "ftp://x"}, "redirectUri"),
        ({"platform": "instagram", "redirectUri": "/relative/callback"}, "redirectUri"),
        ({"platform": "instagram", "redirectUri": ""}, "redirectUri"),
    ],
)
def test_start_validates_its_body(user, user_client, body, field):
    error = assert_error(user_client.post(START_URL, body, format="json"), 400, "VALIDATION")

    assert field in [item["field"] for item in error["details"]]
    assert not OAuthState.objects.filter(user=user).exists()


def test_start_with_a_list_body_is_400(user_client):
    response = user_client.post(START_URL, [{"platform": "x"}], format="json")

    assert_error(response, 400, "VALIDATION")


def test_start_without_token_is_401(api_client):
    response = api_client.post(
        START_URL, {"platform": "x", "redirectUri": REDIRECT_URI}, format="json"
    )

    assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert not OAuthState.objects.exists()


def test_start_for_a_platform_not_configured_is_400_not_500(user, user_client, settings):
    settings.SOCIALHUB_SANDBOX = False

    response = start_connect(user_client, "instagram")

    error = assert_error(response, 400, "VALIDATION", "creator.social.platform_not_configured")
    assert error["details"][0]["field"] == "platform"
    assert not OAuthState.objects.filter(user=user).exists()


# connect: success ---------------------------------------------------------------------


def test_full_flow_connects_the_account(user, user_client, sandbox_http):
    response = connect(user_client, "instagram", handle="ann", followers=1234)

    data = assert_success(response)
    assert set(data) == CONNECT_KEYS
    assert data["id"].startswith("sa_")
    assert data["platform"] == "instagram"
    assert data["platformUsername"] == "ann"
    assert data["verified"] is True
    assert data["status"] == "active"
    assert data["reconnected"] is False
    account = SocialAccount.objects.get(user=user, platform="instagram")
    assert data["id"] == account.public_id
    assert data["connectedAt"].replace("Z", "+00:00") == account.connected_at.isoformat()
    assert account.platform_user_id
    assert account.access_token.startswith("sbx_acc_")
    assert account.refresh_token.startswith("sbx_ref_")
    assert account.token_expires_at > timezone.now()
    assert ("POST", "/sandbox/oauth/token") in sandbox_http.calls
    assert ("GET", "/sandbox/api/me") in sandbox_http.calls
    assert AuditEvent.objects.filter(action="social_account.connected").count() == 1


def test_connected_account_is_listed(user_client):
    assert_success(connect(user_client, "x", handle="ann"))

    rows = assert_success(user_client.get(LIST_URL))

    assert [(row["platform"], row["platformUsername"]) for row in rows] == [("x", "ann")]


def test_connect_stores_metrics_and_total_followers(user, user_client):
    assert_success(connect(user_client, "instagram", handle="ann", followers=1234))
    assert_success(connect(user_client, "youtube", handle="ann", followers=66))

    metrics = SocialMetrics.objects.get(
        social_account__user=user, social_account__platform="instagram"
    )
    assert metrics.follower_count == 1234
    assert profile_total(user_client) == 1234 + 66


def test_tokens_are_encrypted_at_rest_and_never_in_a_response(user, user_client):
    auth = authorize(user_client, "instagram", handle="ann")
    responses = [complete(user_client, auth), user_client.get(LIST_URL)]
    responses.append(user_client.get(PROFILE_URL))
    account = SocialAccount.objects.get(user=user)

    stored_access, stored_refresh = raw_tokens(SocialAccount, account.pk)

    assert stored_access != account.access_token
    assert stored_refresh != account.refresh_token
    assert decrypt_token(stored_access) == account.access_token
    assert decrypt_token(stored_refresh) == account.refresh_token
    bodies = [auth.start_body] + [response.content for response in responses]
    for body in bodies:
        for secret in (account.access_token, account.refresh_token, stored_access):
            assert secret.encode() not in body
        assert account.platform_user_id.encode() not in body


def test_reconnecting_the_same_upstream_account_replaces_the_tokens(user, user_client):
    first = assert_success(connect(user_client, "instagram", handle="ann", followers=1234))
    before = SocialAccount.objects.get(user=user)

    second = assert_success(connect(user_client, "instagram", handle="ann", followers=2000))

    after = SocialAccount.objects.get(user=user)
    assert second["reconnected"] is True
    assert second["id"] == first["id"] == after.public_id
    assert second["connectedAt"] == first["connectedAt"]
    assert after.access_token != before.access_token
    assert after.refresh_token  # never blanked
    assert SocialAccount.objects.filter(user=user).count() == 1
    assert after.metrics.follower_count == 2000
    assert profile_total(user_client) == 2000
    assert AuditEvent.objects.filter(action="social_account.reconnected").count() == 1


def test_reconnect_keeps_the_refresh_token_when_the_platform_sends_none(
    user, user_client, monkeypatch
):
    assert_success(connect(user_client, "instagram", handle="ann"))
    before = SocialAccount.objects.get(user=user)
    exchange = sandbox_services.sandbox_exchange_code

    def exchange_without_refresh_token(**kwargs):
        return dataclasses.replace(exchange(**kwargs), refresh_token="")

    monkeypatch.setattr(sandbox_services, "sandbox_exchange_code", exchange_without_refresh_token)

    data = assert_success(connect(user_client, "instagram", handle="ann"))

    after = SocialAccount.objects.get(user=user)
    assert data["reconnected"] is True
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token


def test_store_authorization_never_blanks_the_refresh_token(user):
    account = SocialAccountFactory(user=user, platform="x", refresh_token="keep-me")
    profile = Profile(platform_user_id=account.platform_user_id, username="ann")

    result = social_account_store_authorization(
        user=user,
        platform="x",
        tokens=TokenSet(access_token="new-access", refresh_token=""),
        profile=profile,
    )

    account.refresh_from_db()
    assert result.reconnected is True
    assert account.access_token == "new-access"
    assert account.refresh_token == "keep-me"


def test_reconnect_brings_an_expired_account_back_to_active(user, user_client):
    assert_success(connect(user_client, "instagram", handle="ann"))
    SocialAccount.objects.filter(user=user).update(
        status=SocialAccount.Status.TOKEN_EXPIRED,
        last_refresh_error="invalid_grant",
        last_refresh_http_status=400,
    )

    data = assert_success(connect(user_client, "instagram", handle="ann"))

    account = SocialAccount.objects.get(user=user)
    assert data["status"] == "active"
    assert data["reconnected"] is True
    assert account.status == SocialAccount.Status.ACTIVE
    assert account.last_refresh_error == ""
    assert account.last_refresh_http_status is None


def test_a_different_upstream_account_on_a_connected_platform_is_409(user, user_client):
    assert_success(connect(user_client, "instagram", handle="ann", followers=1234))
    before = SocialAccount.objects.get(user=user)

    response = connect(user_client, "instagram", handle="bob", followers=9)

    error = assert_error(response, 409, "CONFLICT", "creator.social.already_connected")
    assert error["i18nVars"] == {"platform": "instagram"}
    after = SocialAccount.objects.get(user=user)
    assert after.pk == before.pk
    assert after.platform_username == "ann"
    assert after.platform_user_id == before.platform_user_id
    assert after.access_token == before.access_token
    assert after.refresh_token == before.refresh_token
    assert after.metrics.follower_count == 1234
    assert profile_total(user_client) == 1234


def test_the_same_upstream_account_for_two_users_in_their_own_workspaces(user_client):
    other_client = bearer_client(UserFactory())

    assert_success(connect(user_client, "x", handle="ann"))
    data = assert_success(connect(other_client, "x", handle="ann"))

    assert data["reconnected"] is False
    assert SocialAccount.objects.filter(platform="x").count() == 2


# connect: state, code and PKCE ---------------------------------------------------------


def test_a_state_is_single_use(user, user_client):
    auth = authorize(user_client)
    assert_success(complete(user_client, auth))

    error = assert_error(complete(user_client, auth), 400, "VALIDATION")

    assert error["i18nKey"] == "creator.social.invalid_state"
    assert error["details"][0]["field"] == "state"
    assert SocialAccount.objects.filter(user=user).count() == 1


def test_an_expired_state_is_refused(user, user_client, sandbox_http):
    auth = authorize(user_client)
    OAuthState.objects.filter(user=user).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    response = complete(user_client, auth)

    assert_error(response, 400, "VALIDATION", "creator.social.invalid_state")
    assert not SocialAccount.objects.exists()
    assert ("POST", "/sandbox/oauth/token") not in sandbox_http.calls


def test_a_state_expires_after_the_configured_ttl(user, user_client, settings):
    settings.OAUTH_STATE_TTL = dt.timedelta(seconds=0)
    auth = authorize(user_client)

    assert_error(complete(user_client, auth), 400, "VALIDATION", "creator.social.invalid_state")


def test_another_users_state_is_refused_and_left_usable(user, user_client):
    auth = authorize(user_client)
    intruder = UserFactory()

    response = complete(bearer_client(intruder), auth)

    assert_error(response, 400, "VALIDATION", "creator.social.invalid_state")
    assert not SocialAccount.objects.filter(user=intruder).exists()
    assert_success(complete(user_client, auth))


def test_a_state_issued_for_another_platform_is_refused(user, user_client):
    auth = authorize(user_client, "instagram")

    response = complete(user_client, auth, platform="x")

    assert_error(response, 400, "VALIDATION", "creator.social.invalid_state")
    assert not SocialAccount.objects.filter(user=user).exists()
    assert assert_success(complete(user_client, auth))["platform"] == "instagram"


def test_an_unknown_state_is_refused(user, user_client):
    auth = authorize(user_client)

    response = complete(user_client, auth, state="forged-" + auth.state)

    assert_error(response, 400, "VALIDATION", "creator.social.invalid_state")
    assert not SocialAccount.objects.exists()


def test_a_wrong_code_is_refused(user, user_client):
    auth = authorize(user_client)

    response = complete(user_client, auth, code="sbx_cod_not-a-real-code")

    error = assert_error(response, 400, "VALIDATION", "creator.social.oauth_failed")
    assert error["details"][0]["field"] == "code"
    assert not SocialAccount.objects.exists()
    assert profile_total(user_client) == 0


def test_a_code_issued_for_another_redirect_uri_is_refused(user, user_client):
    auth = authorize(user_client, redirect_uri="https://elsewhere.example/cb")
    OAuthState.objects.filter(user=user).update(redirect_uri=REDIRECT_URI)

    response = complete(user_client, auth)

    assert_error(response, 400, "VALIDATION", "creator.social.oauth_failed")
    assert not SocialAccount.objects.exists()


def test_pkce_is_verified_by_the_platform(user, user_client):
    auth = authorize(user_client)
    pending = OAuthState.objects.get(user=user)
    pending.code_verifier = pkce_pair()[0]
    pending.save(update_fields=["code_verifier"])

    response = complete(user_client, auth)

    error = assert_error(response, 400, "VALIDATION", "creator.social.oauth_failed")
    assert "PKCE" in error["details"][0]["message"]
    assert not SocialAccount.objects.exists()


def test_redirect_uri_with_its_own_query_survives_the_round_trip(user_client):
    auth = authorize(user_client, redirect_uri="https://app.example.com/cb?next=%2Fhome")

    assert_success(complete(user_client, auth))


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"code": None}, "code"),
        ({"code": 123}, "code"),
        ({"code": ["abc"]}, "code"),
        ({"state": None}, "state"),
        ({"state": {"v": 1}}, "state"),
        ({"platform": "myspace"}, "platform"),
        ({"platform": 1}, "platform"),
    ],
)
def test_connect_validates_its_body(user, user_client, override, field):
    auth = authorize(user_client)

    error = assert_error(complete(user_client, auth, **override), 400, "VALIDATION")

    assert field in [item["field"] for item in error["details"]]
    assert not SocialAccount.objects.exists()
    assert OAuthState.objects.get(user=user).used_at is None  # still usable


@pytest.mark.parametrize("missing", ["code", "state", "platform"])
def test_connect_requires_every_field(user_client, missing):
    body = {"platform": "x", "code": "c", "state": "s"}
    del body[missing]

    error = assert_error(user_client.post(CONNECT_URL, body, format="json"), 400, "VALIDATION")

    assert [item["field"] for item in error["details"]] == [missing]


def test_connect_without_token_is_401(api_client):
    response = api_client.post(
        CONNECT_URL, {"platform": "x", "code": "c", "state": "s"}, format="json"
    )

    assert_error(response, 401, "AUTH_UNAUTHORIZED")


def test_connect_rejects_get_with_405(user_client):
    assert_error(user_client.get(CONNECT_URL), 405, "METHOD_NOT_ALLOWED")


# connect: the platform misbehaves --------------------------------------------------------


def assert_nothing_connected(user, client) -> None:
    assert not SocialAccount.objects.filter(user=user).exists()
    assert not SocialMetrics.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="social_account.").exists()
    assert profile_total(client) == 0


def test_platform_unavailable_is_503_with_retry_after(user, user_client, platform_answers):
    auth = authorize(user_client)
    stub = platform_answers(status=503, headers={"Retry-After": "7"}, body=b"<html>down</html>")

    response = complete(user_client, auth)

    error = assert_error(response, 503, "UNAVAILABLE", "creator.social.platform_unavailable")
    assert response["Retry-After"] == "7"
    assert error["message"]
    assert stub.calls == [("POST", "/sandbox/oauth/token")]
    assert_nothing_connected(user, user_client)


def test_platform_rate_limiting_us_is_503(user, user_client, platform_answers):
    auth = authorize(user_client)
    platform_answers(status=429, headers={"Retry-After": "30"}, body=b'{"error": "slow_down"}')

    response = complete(user_client, auth)

    assert_error(response, 503, "UNAVAILABLE")
    assert response["Retry-After"] == "30"
    assert_nothing_connected(user, user_client)


def test_platform_unreachable_is_503(user, user_client, platform_answers):
    auth = authorize(user_client)
    platform_answers(exc=requests.ConnectionError("connection refused"))

    response = complete(user_client, auth)

    assert_error(response, 503, "UNAVAILABLE")
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert_nothing_connected(user, user_client)


def test_profile_endpoint_down_after_a_good_token_exchange_is_503(
    user, user_client, platform_answers
):
    auth = authorize(user_client)
    stub = platform_answers(url_prefix="http://sandbox.test/sandbox/api/", status=502)

    response = complete(user_client, auth)

    assert_error(response, 503, "UNAVAILABLE")
    assert stub.calls == [("GET", "/sandbox/api/me")]
    assert_nothing_connected(user, user_client)


def test_a_malformed_token_answer_is_oauth_failed_not_500(user, user_client, platform_answers):
    auth = authorize(user_client)
    platform_answers(status=200, body=b'{"token_type": "Bearer"}')

    response = complete(user_client, auth)

    assert_error(response, 400, "VALIDATION", "creator.social.oauth_failed")
    assert_nothing_connected(user, user_client)


@pytest.mark.django_db(transaction=True)
def test_a_refused_connect_while_the_broker_is_down_is_409_and_its_tokens_wait_to_be_revoked(
    user, user_client, caplog
):
    # given: instagram is connected; a second instagram account is authorized
    assert_success(connect(user_client, "instagram", handle="kept_ig"))
    auth = authorize(user_client, "instagram", handle="refused_ig")

    # when: the refusal commits its revocation while the broker refuses connections
    with broker_unreachable():
        response = complete(user_client, auth)

    # then: still the 409 (not a 500), and the refused grant waits in the outbox
    assert_error(response, 409, "CONFLICT", "creator.social.already_connected")
    assert "Broker unavailable" in caplog.text
    assert TokenRevocation.objects.count() == 1
    assert live_credentials("refused_ig") == 2

    # when: the broker is back, the periodic sweep sends it (eagerly here)
    assert token_revocations_sweep_task() == 1

    # then
    assert live_credentials("refused_ig") == 0
    assert live_credentials("kept_ig") == 2
    assert not TokenRevocation.objects.exists()


# Concurrency ----------------------------------------------------------------------------


@pytest.fixture
def profiles_in_step(monkeypatch):
    """Hold each connect after its profile read until both have one, so both reach the
    store step together."""
    barrier = threading.Barrier(2)
    fetch = SandboxProvider.fetch_profile

    def fetch_then_wait(self, **kwargs):
        profile = fetch(self, **kwargs)
        barrier.wait(timeout=10)
        return profile

    monkeypatch.setattr(SandboxProvider, "fetch_profile", fetch_then_wait)


@pytest.mark.django_db(transaction=True)
def test_parallel_connects_of_one_upstream_account_end_with_one_row(user, profiles_in_step, caplog):
    clients = [bearer_client(user), bearer_client(user)]
    authorizations = [authorize(clients[0], "x"), authorize(clients[1], "x")]

    responses = run_concurrently(
        *(
            lambda client=client, auth=auth: complete(client, auth)
            for client, auth in zip(clients, authorizations, strict=True)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses in ([200, 200], [200, 409]), [r.content for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "CONFLICT")
    assert SocialAccount.objects.filter(user=user, platform="x").count() == 1
    ids = {response.json()["data"]["id"] for response in responses if response.status_code == 200}
    assert ids == {SocialAccount.objects.get(user=user).public_id}
    if statuses == [200, 200]:  # the loser of the insert race became a re-authorisation
        assert sorted(r.json()["data"]["reconnected"] for r in responses) == [False, True]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "IntegrityError" not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_parallel_connects_of_two_upstream_accounts_on_one_platform_one_wins_one_is_409(
    user, profiles_in_step
):
    # given: two consents for instagram, as two different upstream accounts
    clients = [bearer_client(user), bearer_client(user)]
    authorizations = [
        authorize(clients[0], "instagram", handle="first_ig", followers=100),
        authorize(clients[1], "instagram", handle="second_ig", followers=200),
    ]

    # when: both reach the store step together
    responses = run_concurrently(
        *(
            lambda client=client, auth=auth: complete(client, auth)
            for client, auth in zip(clients, authorizations, strict=True)
        )
    )

    # then: one account connected, the other told so
    assert sorted(response.status_code for response in responses) == [200, 409]
    won = next(response for response in responses if response.status_code == 200)
    lost = next(response for response in responses if response.status_code == 409)
    winner = assert_success(won)["platformUsername"]
    loser = ({"first_ig", "second_ig"} - {winner}).pop()
    assert_error(lost, 409, "CONFLICT", "creator.social.already_connected")
    account = SocialAccount.objects.get(user=user)
    assert (account.platform, account.platform_username) == ("instagram", winner)
    assert profile_total(clients[0]) == {"first_ig": 100, "second_ig": 200}[winner]
    assert AuditEvent.objects.filter(action="social_account.connected").count() == 1
    # the refused grant is revoked at the platform, the kept one is live
    assert live_credentials(loser) == 0
    assert live_credentials(winner) == 2


@pytest.mark.django_db(transaction=True)
def test_one_state_used_by_two_threads_connects_once(user):
    clients = [bearer_client(user), bearer_client(user)]
    auth = authorize(clients[0], "youtube")

    responses = run_concurrently(
        *(lambda client=client: complete(client, auth) for client in clients)
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 400]
    refused = next(response for response in responses if response.status_code == 400)
    assert_error(refused, 400, "VALIDATION", "creator.social.invalid_state")
    assert SocialAccount.objects.filter(user=user).count() == 1
