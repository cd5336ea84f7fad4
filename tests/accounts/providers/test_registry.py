"""Which adapter serves a platform, where its credentials come from, where its calls go,
and how the shared base reads answers every platform can give."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from accounts.models import Platform
from accounts.providers import (
    ProviderDefinitiveError,
    ProviderNotConfigured,
    ProviderRequestError,
    ProviderTransientError,
    SandboxProvider,
    adapter_classes,
    provider_for,
)
from accounts.providers import http as provider_http
from accounts.providers.oauth2 import Credentials, OAuth2Provider
from tests.test_settings import run_settings

CREDENTIALS = Credentials("fake-client-id", "fake-client-secret")


class Example(OAuth2Provider):
    """A standard OAuth 2 server, for what the base class does on its own."""

    platform = "example"
    authorize_url = "https://example.com/oauth/authorize"
    token_url = "https://api.example.com/oauth/token"
    revoke_url = "https://api.example.com/oauth/revoke"
    default_scopes = ("read", "write")

    def fetch_profile(self, *, access_token):  # pragma: no cover - not used here
        raise NotImplementedError

    def publish(self, *, access_token, text, media_urls, idempotency_key=None, prepared=None):
        raise NotImplementedError


def test_every_platform_has_an_adapter_and_a_credentials_entry(settings):
    assert set(settings.SOCIAL_PLATFORMS) == set(Platform.values)
    assert set(adapter_classes()) == set(Platform.values)
    assert set(settings.PROVIDER_CREDENTIALS) == set(Platform.values)


def test_the_sandbox_serves_every_platform_when_it_is_on(settings):
    settings.SOCIALHUB_SANDBOX = True
    assert all(isinstance(provider_for(p), SandboxProvider) for p in Platform.values)


@pytest.mark.parametrize("platform", Platform.values)
def test_a_configured_platform_gets_its_own_adapter(platform, credentials):
    adapter = provider_for(platform)
    assert type(adapter) is adapter_classes()[platform]
    assert adapter.credentials.client_id == "fake-client-id"


@pytest.mark.parametrize("platform", Platform.values)
def test_a_platform_without_credentials_is_not_configured(platform, settings):
    settings.SOCIALHUB_SANDBOX = False
    settings.PROVIDER_CREDENTIALS = {p: {"client_id": "", "client_secret": ""} for p in Platform}
    with pytest.raises(ProviderNotConfigured) as refused:
        provider_for(platform)
    assert f"{platform.upper()}_CLIENT_ID" in str(refused.value)


def test_an_unknown_platform_is_not_configured(credentials):
    with pytest.raises(ProviderNotConfigured):
        provider_for("myspace")


def test_credentials_come_from_the_environment(tmp_path):
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.PROVIDER_CREDENTIALS))"
    )
    result = run_settings(
        tmp_path,
        code,
        X_CLIENT_ID="x-app",
        X_CLIENT_SECRET="x-secret",
        LINKEDIN_COMPANY_CLIENT_ID=" li-app ",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["x"] == {"client_id": "x-app", "client_secret": "x-secret"}
    assert values["linkedin_company"] == {"client_id": "li-app", "client_secret": ""}
    assert values["youtube"] == {"client_id": "", "client_secret": ""}


def test_origin_overrides_come_from_the_environment(tmp_path):
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.PLATFORM_ORIGIN_OVERRIDES))"
    )
    result = run_settings(
        tmp_path,
        code,
        PLATFORM_ORIGIN_OVERRIDES="https://api.x.com=http://127.0.0.1:9001,*=http://f/{host}",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "https://api.x.com": "http://127.0.0.1:9001",
        "*": "http://f/{host}",
    }


@pytest.mark.parametrize(
    ("overrides", "url", "expected"),
    [
        ({}, "https://api.x.com/2/tweets", "https://api.x.com/2/tweets"),
        (
            {"https://api.x.com": "http://127.0.0.1:9001"},
            "https://api.x.com/2/tweets?a=1",
            "http://127.0.0.1:9001/2/tweets?a=1",
        ),
        (
            {"https://api.x.com": "http://127.0.0.1:9001"},
            "https://x.com/i/oauth2/authorize",
            "https://x.com/i/oauth2/authorize",
        ),
        (
            {"*": "http://fake.test/{host}"},
            "https://graph.instagram.com/me",
            "http://fake.test/graph.instagram.com/me",
        ),
        (
            {"*": "http://fake.test/{host}"},
            "http://fake.test/graph.instagram.com/me",
            "http://fake.test/graph.instagram.com/me",
        ),
    ],
    ids=["none", "one-origin", "other-origin", "every-origin", "already-overridden"],
)
def test_platform_urls_follow_the_overrides(settings, overrides, url, expected):
    settings.PLATFORM_ORIGIN_OVERRIDES = overrides
    assert provider_http.platform_url(url) == expected


# The shared base ------------------------------------------------------------------------


def test_the_base_builds_a_pkce_authorization_url():
    url = Example(CREDENTIALS).authorization_url(
        state="st", code_challenge="ch", redirect_uri="https://app.example.com/cb", options={}
    )
    assert url.startswith("https://example.com/oauth/authorize?")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query == {
        "response_type": "code",
        "client_id": "fake-client-id",
        "redirect_uri": "https://app.example.com/cb",
        "scope": "read write",
        "state": "st",
        "code_challenge": "ch",
        "code_challenge_method": "S256",
    }


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "code", "retry_after"),
    [
        (400, {"error": "invalid_grant"}, {}, ProviderDefinitiveError, "invalid_grant", None),
        (401, {"error": "invalid_client"}, {}, ProviderDefinitiveError, "invalid_client", None),
        (400, {"error": "invalid_request"}, {}, ProviderRequestError, "invalid_request", None),
        (400, {"error": "temporarily_unavailable"}, {}, ProviderTransientError, "", None),
        (429, {"error": "slow_down"}, {"Retry-After": "42"}, ProviderTransientError, "", 42.0),
        (503, "<html>busy</html>", {"Retry-After": "7"}, ProviderTransientError, "", 7.0),
        (500, {"error": "invalid_grant"}, {}, ProviderTransientError, "", None),
    ],
    ids=["invalid-grant", "bad-client", "bad-request", "unavailable", "429", "503", "500"],
)
def test_the_base_classifies_token_answers(
    answers, status, body, headers, error, code, retry_after
):
    answers.post(
        Example.token_url,
        status=status,
        headers=headers,
        **({"json": body} if isinstance(body, dict) else {"body": body}),
    )
    with pytest.raises(error) as raised:
        Example(CREDENTIALS).refresh(refresh_token="rt")
    assert raised.value.http_status == status
    if code:
        assert raised.value.error_code == code
    if error is ProviderTransientError:
        assert raised.value.retry_after == retry_after


def test_the_base_treats_an_unreachable_platform_as_transient(answers):
    answers.post(Example.token_url, body=requests.ConnectionError("refused"))
    with pytest.raises(ProviderTransientError):
        Example(CREDENTIALS).exchange_code(code="c", redirect_uri="https://a/cb", code_verifier="v")


def test_the_base_refuses_a_token_answer_without_an_access_token(answers):
    answers.post(Example.token_url, json={"token_type": "bearer"})
    with pytest.raises(ProviderRequestError):
        Example(CREDENTIALS).refresh(refresh_token="rt")


def test_the_base_exchanges_a_code_with_its_verifier_and_client_secret(answers):
    answers.post(
        Example.token_url,
        json={"access_token": "at", "refresh_token": "rt", "expires_in": 60, "scope": "read"},
    )
    tokens = Example(CREDENTIALS).exchange_code(
        code="the-code", redirect_uri="https://a/cb", code_verifier="the-verifier"
    )
    sent = dict(parse_qsl(answers.calls[0].request.body))
    assert sent == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "code_verifier": "the-verifier",
        "redirect_uri": "https://a/cb",
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
    }
    assert (tokens.access_token, tokens.refresh_token, tokens.scopes) == ("at", "rt", ["read"])
    assert tokens.expires_at is not None


def test_the_base_revokes_the_refresh_token_then_the_access_token(answers):
    answers.post(Example.revoke_url, json={})
    Example(CREDENTIALS).revoke(access_token="at", refresh_token="rt")
    sent = [call.request.body for call in answers.calls]
    assert ["token=rt" in sent[0], "token=at" in sent[1]] == [True, True]
    assert "token_type_hint=refresh_token" in sent[0]


def test_request_urls_are_not_logged_even_at_debug():
    """Graph API calls carry the token in the query: urllib3's request lines stay silent."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(previous)


def test_the_base_refreshes_without_scope_and_keeps_an_unrotated_refresh_token(answers):
    answers.post(Example.token_url, json={"access_token": "at-2", "expires_in": 60})

    tokens = Example(CREDENTIALS).refresh(refresh_token="rt-1")

    assert dict(parse_qsl(answers.calls[0].request.body)) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-1",
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
    }
    assert (tokens.access_token, tokens.refresh_token) == ("at-2", "rt-1")


def test_a_platform_can_read_a_refused_refresh_as_a_dead_grant(answers):
    class SaysItsWay(Example):
        def refresh_token_is_dead(self, refused):
            return "revoked" in str(refused)

    answers.post(
        Example.token_url,
        status=400,
        json={"error": "invalid_request", "error_description": "token revoked"},
    )
    with pytest.raises(ProviderDefinitiveError):
        SaysItsWay(CREDENTIALS).refresh(refresh_token="rt-1")
    answers.replace(
        responses.POST,
        Example.token_url,
        status=400,
        json={"error": "invalid_request", "error_description": "bad scope"},
    )
    with pytest.raises(ProviderRequestError):
        SaysItsWay(CREDENTIALS).refresh(refresh_token="rt-1")
