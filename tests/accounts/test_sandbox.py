"""The sandbox platform's OAuth server (/sandbox/) and the SandboxProvider adapter."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.utils import timezone

from accounts.models import SandboxAccount, SandboxCredential
from accounts.providers import (
    ProviderDefinitiveError,
    ProviderRequestError,
    ProviderTransientError,
    SandboxProvider,
    provider_for,
)
from accounts.providers import http as provider_http
from accounts.providers.base import pkce_challenge, pkce_pair
from accounts.providers.sandbox import SANDBOX_CLIENT_ID

pytestmark = pytest.mark.django_db

AUTHORIZE_URL = "/sandbox/oauth/authorize"
TOKEN_URL = "/sandbox/oauth/token"
REVOKE_URL = "/sandbox/oauth/revoke"
ME_URL = "/sandbox/api/me"
REDIRECT_URI = "https://app.example.com/oauth/callback"


def authorize_params(**overrides) -> tuple[dict, str]:
    """A valid authorize query (PKCE S256) with ``overrides``; ``None`` drops a parameter."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": SANDBOX_CLIENT_ID,
        "platform": "x",
        "redirect_uri": REDIRECT_URI,
        "state": "state-123",
        "scope": "profile:read posts:write offline_access",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "sandbox_user": "ann",
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}, verifier


def get_code(client, **overrides) -> tuple[str, str]:
    """Run the authorize step; the code and the verifier that goes with it."""
    params, verifier = authorize_params(**overrides)
    response = client.get(f"{AUTHORIZE_URL}?{urlencode(params)}")
    assert response.status_code == 302, response.content
    return parse_qs(urlsplit(response["Location"]).query)["code"][0], verifier


def exchange(client, code: str, verifier: str | None, redirect_uri: str = REDIRECT_URI):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return client.post(TOKEN_URL, data)


def issue_tokens(client, **overrides) -> dict:
    code, verifier = get_code(client, **overrides)
    response = exchange(client, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def refresh(client, refresh_token: str):
    return client.post(TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def me(client, access_token: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {access_token}"} if access_token else {}
    return client.get(ME_URL, **headers)


def assert_oauth_error(response, status: int, code: str) -> None:
    """An OAuth error answer: the platform's JSON, not the socialhub envelope."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert "success" not in body


# Authorize ------------------------------------------------------------------------------


def test_authorize_approves_at_once_and_redirects_with_code_and_state(client):
    params, _ = authorize_params(sandbox_followers="4321")

    response = client.get(f"{AUTHORIZE_URL}?{urlencode(params)}")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == ["state-123"]
    assert query["code"][0].startswith("sbx_cod_")
    account = SandboxAccount.objects.get(platform="x", handle="ann")
    assert account.follower_count == 4321
    grant = SandboxCredential.objects.get(kind="code")
    assert grant.account == account
    assert grant.value_hash != query["code"][0]  # stored hashed
    assert grant.code_challenge == params["code_challenge"]


def test_authorize_keeps_the_redirect_uris_own_query(client):
    params, _ = authorize_params(redirect_uri="https://app.example.com/cb?next=%2Fhome&x=1")

    response = client.get(f"{AUTHORIZE_URL}?{urlencode(params)}")

    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["next"] == ["/home"]
    assert query["x"] == ["1"]
    assert "code" in query
    assert query["state"] == ["state-123"]


def test_authorize_without_sandbox_user_gives_the_default_account(client):
    params, _ = authorize_params(sandbox_user=None)

    assert client.get(f"{AUTHORIZE_URL}?{urlencode(params)}").status_code == 302

    assert SandboxAccount.objects.filter(handle="sandbox_creator").exists()


def test_authorize_again_updates_the_follower_count_and_keeps_the_upstream_id(client):
    get_code(client, sandbox_followers="10")
    first = SandboxAccount.objects.get(handle="ann")

    get_code(client, sandbox_followers="20")

    second = SandboxAccount.objects.get(handle="ann")
    assert second.follower_count == 20
    assert second.upstream_id == first.upstream_id


def test_the_same_handle_on_another_platform_is_another_account(client):
    get_code(client, platform="x")
    get_code(client, platform="youtube")

    upstream_ids = set(SandboxAccount.objects.values_list("upstream_id", flat=True))
    assert len(upstream_ids) == 2


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
        ({"redirect_uri": "javascript:alert(1)"}, "invalid_request"),
        ({"redirect_uri": "ftp://files.example.com/cb"}, "invalid_request"),
        ({"redirect_uri": "/relative/callback"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "unsupported_response_type"),
        ({"platform": "myspace"}, "invalid_request"),
        ({"sandbox_followers": "lots"}, "invalid_request"),
        ({"sandbox_followers": "-1"}, "invalid_request"),
    ],
)
def test_authorize_rejects_bad_requests_with_an_oauth_error(client, overrides, error):
    params, _ = authorize_params(**overrides)

    response = client.get(f"{AUTHORIZE_URL}?{urlencode(params)}")

    assert_oauth_error(response, 400, error)
    assert not response.has_header("Location")
    assert not SandboxCredential.objects.exists()


def test_authorize_accepts_only_get(client):
    params, _ = authorize_params()

    assert client.post(AUTHORIZE_URL, params).status_code == 405


# Token endpoint -------------------------------------------------------------------------


def test_code_exchange_returns_tokens(client):
    code, verifier = get_code(client)

    response = exchange(client, code, verifier)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("sbx_acc_")
    assert body["refresh_token"].startswith("sbx_ref_")
    assert body["expires_in"] == 3600
    assert body["scope"].split() == ["profile:read", "posts:write", "offline_access"]


def test_a_code_works_once(client):
    code, verifier = get_code(client)
    assert exchange(client, code, verifier).status_code == 200

    assert_oauth_error(exchange(client, code, verifier), 400, "invalid_grant")


def test_a_code_for_another_redirect_uri_is_invalid_grant(client):
    code, verifier = get_code(client)

    response = exchange(client, code, verifier, redirect_uri="https://evil.example.com/cb")

    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.parametrize("verifier", ["wrong-" + "v" * 60, "", None])
def test_a_wrong_or_missing_pkce_verifier_is_invalid_grant(client, verifier):
    code, _right = get_code(client)

    response = exchange(client, code, verifier)

    assert_oauth_error(response, 400, "invalid_grant")
    assert "access_token" not in response.json()


@pytest.mark.parametrize("mistake", ["redirect_uri", "verifier"])
def test_a_failed_exchange_burns_the_code(client, mistake):
    """Someone who intercepted a code gets one guess, not as many as they like."""
    code, verifier = get_code(client)
    if mistake == "redirect_uri":
        failed = exchange(client, code, verifier, redirect_uri="https://evil.example.com/cb")
    else:
        failed = exchange(client, code, "wrong-" + "v" * 60)
    assert_oauth_error(failed, 400, "invalid_grant")

    retry = exchange(client, code, verifier)

    assert_oauth_error(retry, 400, "invalid_grant")


def test_an_expired_code_is_invalid_grant(client):
    code, verifier = get_code(client)
    SandboxCredential.objects.filter(kind="code").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    assert_oauth_error(exchange(client, code, verifier), 400, "invalid_grant")


def test_an_unknown_code_is_invalid_grant(client):
    _code, verifier = get_code(client)

    assert_oauth_error(exchange(client, "sbx_cod_unknown", verifier), 400, "invalid_grant")


@pytest.mark.parametrize("grant_type", ["password", "client_credentials", ""])
def test_other_grant_types_are_unsupported(client, grant_type):
    response = client.post(TOKEN_URL, {"grant_type": grant_type})

    assert_oauth_error(response, 400, "unsupported_grant_type")


def test_token_endpoint_accepts_only_post(client):
    assert client.get(TOKEN_URL).status_code == 405


def test_refresh_returns_a_new_access_token_and_no_refresh_token(client):
    tokens = issue_tokens(client)

    response = refresh(client, tokens["refresh_token"])

    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    assert body["access_token"] != tokens["access_token"]
    assert body["expires_in"] == 3600
    assert me(client, body["access_token"]).json()["username"] == "ann"


def test_a_revoked_refresh_token_is_invalid_grant(client):
    tokens = issue_tokens(client)
    assert client.post(REVOKE_URL, {"token": tokens["refresh_token"]}).status_code == 200

    assert_oauth_error(refresh(client, tokens["refresh_token"]), 400, "invalid_grant")


def test_an_access_token_cannot_be_used_to_refresh(client):
    tokens = issue_tokens(client)

    assert_oauth_error(refresh(client, tokens["access_token"]), 400, "invalid_grant")


# Profile API ----------------------------------------------------------------------------


def test_me_describes_the_account(client):
    tokens = issue_tokens(client, sandbox_user="ann_lee", sandbox_followers="1500")

    response = me(client, tokens["access_token"])

    assert response.status_code == 200
    body = response.json()
    account = SandboxAccount.objects.get(handle="ann_lee")
    assert body["id"] == account.upstream_id
    assert body["username"] == "ann_lee"
    assert body["name"] == "Ann Lee"
    assert body["followers_count"] == 1500
    assert body["following_count"] == 150
    assert body["posts_count"] == 0


def test_me_with_a_revoked_access_token_is_401_invalid_token(client):
    tokens = issue_tokens(client)
    client.post(REVOKE_URL, {"token": tokens["access_token"]})

    response = me(client, tokens["access_token"])

    assert_oauth_error(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_revoking_the_refresh_token_revokes_its_access_tokens(client):
    tokens = issue_tokens(client)

    client.post(REVOKE_URL, {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"})

    assert_oauth_error(me(client, tokens["access_token"]), 401, "invalid_token")


def test_revoking_the_access_token_leaves_the_refresh_token_usable(client):
    tokens = issue_tokens(client)

    client.post(REVOKE_URL, {"token": tokens["access_token"]})

    assert refresh(client, tokens["refresh_token"]).status_code == 200


def test_me_with_an_expired_access_token_is_401_invalid_token(client):
    tokens = issue_tokens(client)
    SandboxCredential.objects.filter(kind="access").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    assert_oauth_error(me(client, tokens["access_token"]), 401, "invalid_token")


@pytest.mark.parametrize("token", [None, "sbx_acc_unknown"])
def test_me_without_a_valid_token_is_401(client, token):
    assert_oauth_error(me(client, token), 401, "invalid_token")


def test_me_does_not_accept_a_refresh_token(client):
    tokens = issue_tokens(client)

    assert_oauth_error(me(client, tokens["refresh_token"]), 401, "invalid_token")


# Revoke ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["sbx_ref_never-issued", ""])
def test_revoking_an_unknown_token_is_200(client, token):
    response = client.post(REVOKE_URL, {"token": token})

    assert response.status_code == 200
    assert response.json() == {}


def test_revoking_twice_is_200(client):
    tokens = issue_tokens(client)

    assert client.post(REVOKE_URL, {"token": tokens["refresh_token"]}).status_code == 200
    assert client.post(REVOKE_URL, {"token": tokens["refresh_token"]}).status_code == 200


# SandboxProvider over the in-process sandbox ---------------------------------------------


def provider_tokens(client, provider: SandboxProvider, *, handle="ann", followers="77"):
    """Authorize through the provider's own URL, then exchange through the adapter."""
    verifier, challenge = pkce_pair()
    url = provider.authorization_url(
        state="s-1", code_challenge=challenge, redirect_uri=REDIRECT_URI, options={}
    )
    parts = urlsplit(url)
    extra = urlencode({"sandbox_user": handle, "sandbox_followers": followers})
    answer = client.get(f"{parts.path}?{parts.query}&{extra}")
    assert answer.status_code == 302, answer.content
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]
    return provider.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)


def test_provider_for_routes_every_platform_to_the_sandbox():
    provider = provider_for("tiktok_business")

    assert isinstance(provider, SandboxProvider)
    assert provider.platform == "tiktok_business"
    assert provider.base_url == "http://sandbox.test/sandbox"


def test_provider_authorization_url_asks_for_pkce_s256():
    _verifier, challenge = pkce_pair()

    url = SandboxProvider("youtube").authorization_url(
        state="st", code_challenge=challenge, redirect_uri=REDIRECT_URI, options={}
    )

    parts = urlsplit(url)
    assert url.startswith("http://sandbox.test/sandbox/oauth/authorize?")
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": SANDBOX_CLIENT_ID,
        "platform": "youtube",
        "redirect_uri": REDIRECT_URI,
        "state": "st",
        "scope": "profile:read posts:write offline_access",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def test_provider_round_trip_exchange_profile_refresh_revoke(client, sandbox_http):
    provider = SandboxProvider("x")

    tokens = provider_tokens(client, provider, handle="ann", followers="77")
    profile = provider.fetch_profile(access_token=tokens.access_token)
    refreshed = provider.refresh(refresh_token=tokens.refresh_token)
    provider.revoke(access_token=refreshed.access_token, refresh_token=tokens.refresh_token)

    assert tokens.refresh_token
    assert tokens.scopes == ["profile:read", "posts:write", "offline_access"]
    assert tokens.expires_at - timezone.now() > dt.timedelta(minutes=59)
    assert profile.username == "ann"
    assert profile.follower_count == 77
    assert profile.platform_user_id == SandboxAccount.objects.get(handle="ann").upstream_id
    assert refreshed.refresh_token == ""
    assert refreshed.access_token != tokens.access_token
    assert sandbox_http.calls == [
        ("POST", TOKEN_URL),
        ("GET", ME_URL),
        ("POST", TOKEN_URL),
        ("POST", REVOKE_URL),
        ("POST", REVOKE_URL),
    ]
    with pytest.raises(ProviderDefinitiveError):
        provider.fetch_profile(access_token=refreshed.access_token)
    with pytest.raises(ProviderDefinitiveError) as refused:
        provider.refresh(refresh_token=tokens.refresh_token)
    assert refused.value.error_code == "invalid_grant"


def test_provider_exchange_with_a_wrong_verifier_is_definitive(client):
    provider = SandboxProvider("x")
    _verifier, challenge = pkce_pair()
    url = provider.authorization_url(
        state="s", code_challenge=challenge, redirect_uri=REDIRECT_URI, options={}
    )
    parts = urlsplit(url)
    answer = client.get(f"{parts.path}?{parts.query}")
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]

    with pytest.raises(ProviderDefinitiveError) as refused:
        provider.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier="x" * 64)

    assert refused.value.http_status == 400
    assert refused.value.error_code == "invalid_grant"
    assert pkce_challenge("x" * 64) != challenge


# SandboxProvider: classification of platform answers --------------------------------------


def call_exchange():
    return SandboxProvider("x").exchange_code(
        code="c", redirect_uri=REDIRECT_URI, code_verifier="v" * 43
    )


@pytest.mark.parametrize(
    ("status", "body", "error_type", "error_code"),
    [
        (400, b'{"error": "invalid_grant"}', ProviderDefinitiveError, "invalid_grant"),
        (400, b'{"error": "invalid_token"}', ProviderDefinitiveError, "invalid_token"),
        (401, b'{"error": "unauthorized"}', ProviderDefinitiveError, "unauthorized"),
        (401, b"", ProviderDefinitiveError, ""),
        (400, b'{"error": "invalid_request"}', ProviderRequestError, "invalid_request"),
        (403, b"<html>forbidden</html>", ProviderRequestError, ""),
        (500, b"", ProviderTransientError, ""),
        (502, b"<html>bad gateway</html>", ProviderTransientError, ""),
        (503, b'{"error": "temporarily_unavailable"}', ProviderTransientError, ""),
        (429, b'{"error": "slow_down"}', ProviderTransientError, "slow_down"),
    ],
)
def test_provider_classifies_error_answers(platform_answers, status, body, error_type, error_code):
    platform_answers(status=status, body=body)

    with pytest.raises(error_type) as raised:
        call_exchange()

    assert type(raised.value) is error_type
    assert raised.value.http_status == status
    if error_type is not ProviderTransientError or error_code:
        assert raised.value.error_code == error_code


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(503, "12", 12.0), (429, "30", 30.0), (503, None, None), (429, "soon", None)],
)
def test_transient_errors_carry_retry_after(platform_answers, status, retry_after, expected):
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    platform_answers(status=status, headers=headers, body=b"{}")

    with pytest.raises(ProviderTransientError) as raised:
        SandboxProvider("x").refresh(refresh_token="r")

    assert raised.value.retry_after == expected


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("refused"),
        requests.ConnectTimeout("connect timeout"),
        requests.ReadTimeout("read timeout"),
    ],
)
def test_unreachable_platform_is_transient(platform_answers, exc):
    platform_answers(exc=exc)

    with pytest.raises(ProviderTransientError):
        SandboxProvider("x").fetch_profile(access_token="a")


def test_every_provider_call_has_a_timeout(platform_answers, settings):
    seen = {}

    class RecordingSession(requests.Session):
        def request(self, method, url, **kwargs):
            seen[url] = kwargs.get("timeout")
            return super().request(method, url, **kwargs)

    adapter = platform_answers(status=200, body=b'{"access_token": "a"}')
    session = RecordingSession()
    session.mount("http://", adapter)
    provider_http.set_http_session(session)

    call_exchange()

    assert seen == {"http://sandbox.test/sandbox/oauth/token": settings.PROVIDER_HTTP_TIMEOUT}


@pytest.mark.parametrize(
    "body", [b'{"token_type": "Bearer"}', b'{"access_token": ""}', b"[]", b"not json"]
)
def test_a_token_answer_without_access_token_is_a_request_error(platform_answers, body):
    platform_answers(status=200, body=body)

    with pytest.raises(ProviderRequestError):
        call_exchange()


@pytest.mark.parametrize(
    "body", [b'{"username": "no-id"}', b'{"id": "1", "followers_count": "many"}']
)
def test_a_malformed_profile_answer_is_a_request_error(platform_answers, body):
    platform_answers(status=200, body=body)

    with pytest.raises(ProviderRequestError):
        SandboxProvider("x").fetch_profile(access_token="a")


def test_the_access_token_is_sent_as_a_bearer_header(platform_answers):
    adapter = platform_answers(status=200, body=b'{"id": "u1", "username": "ann"}')

    profile = SandboxProvider("x").fetch_profile(access_token="secret-access")

    assert adapter.requests[0].headers["Authorization"] == "Bearer secret-access"
    assert "secret-access" not in adapter.requests[0].url
    assert profile.platform_user_id == "u1"
    assert profile.follower_count == 0


def test_revoke_sends_both_tokens_and_skips_empty_ones(platform_answers):
    adapter = platform_answers(status=200, body=b"{}")

    SandboxProvider("x").revoke(access_token="acc", refresh_token="")

    assert len(adapter.requests) == 1
    assert parse_qs(adapter.requests[0].body) == {
        "token": ["acc"],
        "token_type_hint": ["access_token"],
        "client_id": [SANDBOX_CLIENT_ID],
    }
