"""Meta's adapters (Instagram, Facebook Pages, Threads) together: the registry, the
authorization URLs, the Graph errors they all read the same way, then end to end against
their local fakes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.providers import (
    ProviderDefinitiveError,
    ProviderRequestError,
    ProviderTransientError,
    adapter_classes,
    provider_for,
)
from accounts.providers.meta import (
    FacebookPageProvider,
    InstagramProvider,
    ThreadsProvider,
)
from tests.accounts.providers.meta_answers import (
    CREDENTIALS,
    FB_GRAPH,
    IG_GRAPH,
    REDIRECT,
    TH_GRAPH,
    V,
    authorize_through,
    graph_error,
    record_naps,
)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    """Container polling does not really sleep; the naps taken are recorded."""
    return record_naps(monkeypatch)


def auth_query(provider, *, state: str = "st4te") -> tuple[str, dict[str, list[str]]]:
    url = provider.authorization_url(
        state=state, code_challenge="ch4llenge", redirect_uri=REDIRECT, options={}
    )
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


def test_the_registry_serves_the_three_adapters(credentials):
    classes = adapter_classes()
    assert classes["instagram"] is InstagramProvider
    assert classes["facebook_page"] is FacebookPageProvider
    assert classes["threads"] is ThreadsProvider
    assert isinstance(provider_for("threads"), ThreadsProvider)


# --- authorization URLs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_class", "where", "scopes"),
    [
        (
            InstagramProvider,
            "https://www.instagram.com/oauth/authorize",
            "instagram_business_basic,instagram_business_content_publish",
        ),
        (
            FacebookPageProvider,
            f"https://www.facebook.com/{V}/dialog/oauth",
            "pages_show_list,pages_read_engagement,pages_manage_posts",
        ),
        (
            ThreadsProvider,
            "https://threads.net/oauth/authorize",
            "threads_basic,threads_content_publish,threads_manage_insights",
        ),
    ],
)
def test_the_authorization_url_names_the_app_scopes_state_and_no_pkce(
    provider_class, where, scopes
):
    url, params = auth_query(provider_class(CREDENTIALS))

    assert url == where
    assert params["client_id"] == ["fake-client-id"]
    assert params["redirect_uri"] == [REDIRECT]
    assert params["response_type"] == ["code"]
    assert params["scope"] == [scopes]
    assert params["state"] == ["st4te"]
    # Meta documents no PKCE for these flows: none is sent.
    assert "code_challenge" not in params and "code_challenge_method" not in params


# --- errors every Meta adapter reads the same way --------------------------------------------


def refresh_call(provider, answers, **answer):
    """Register ``answer`` where ``provider.refresh`` calls, then refresh."""
    if isinstance(provider, InstagramProvider):
        answers.get(f"{IG_GRAPH}/refresh_access_token", **answer)
    elif isinstance(provider, ThreadsProvider):
        answers.get(f"{TH_GRAPH}/refresh_access_token", **answer)
    else:
        answers.get(f"{FB_GRAPH}/me/accounts", **answer)
    return provider.refresh(refresh_token="222|long-lived")


PROVIDERS = pytest.mark.parametrize(
    "provider_class", [InstagramProvider, FacebookPageProvider, ThreadsProvider]
)


@PROVIDERS
def test_an_rfc_invalid_grant_is_definitive(provider_class, answers):
    with pytest.raises(ProviderDefinitiveError) as caught:
        refresh_call(
            provider_class(CREDENTIALS),
            answers,
            status=400,
            json={"error": "invalid_grant", "error_description": "expired"},
        )
    assert caught.value.error_code == "invalid_grant"


@PROVIDERS
@pytest.mark.parametrize("subcode", [None, 458, 460, 463, 467])
def test_an_invalid_access_token_is_definitive(provider_class, subcode, answers):
    with pytest.raises(ProviderDefinitiveError) as caught:
        refresh_call(
            provider_class(CREDENTIALS), answers, status=400, json=graph_error(190, subcode)
        )
    assert caught.value.error_code.startswith("190")
    assert caught.value.http_status == 400


@PROVIDERS
def test_a_5xx_is_transient(provider_class, answers):
    with pytest.raises(ProviderTransientError) as caught:
        refresh_call(provider_class(CREDENTIALS), answers, status=503, body="unavailable")
    assert caught.value.http_status == 503


@PROVIDERS
def test_a_429_is_transient_with_its_retry_after(provider_class, answers):
    with pytest.raises(ProviderTransientError) as caught:
        refresh_call(
            provider_class(CREDENTIALS),
            answers,
            status=429,
            body="slow down",
            headers={"Retry-After": "42"},
        )
    assert caught.value.retry_after == 42.0


@PROVIDERS
@pytest.mark.parametrize(
    ("error", "status"),
    [
        (graph_error(1), 500),
        (graph_error(2), 503),
        (graph_error(4), 400),
        (graph_error(17), 400),
        (graph_error(32), 400),
        (graph_error(341), 400),
        (graph_error(613), 400),
        (graph_error(80001), 400),
        (graph_error(100, is_transient=True), 400),
    ],
)
def test_graph_throttling_and_outages_are_transient(provider_class, error, status, answers):
    with pytest.raises(ProviderTransientError):
        refresh_call(provider_class(CREDENTIALS), answers, status=status, json=error)


@PROVIDERS
def test_a_business_use_case_limit_says_when_to_retry(provider_class, answers):
    usage = {"1234": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 5}]}
    with pytest.raises(ProviderTransientError) as caught:
        refresh_call(
            provider_class(CREDENTIALS),
            answers,
            status=400,
            json=graph_error(80002),
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )
    assert caught.value.retry_after == 300.0


@PROVIDERS
@pytest.mark.parametrize("code", [10, 200, 299, 100, 3])
def test_permission_and_parameter_errors_are_request_errors(provider_class, code, answers):
    with pytest.raises(ProviderRequestError) as caught:
        refresh_call(provider_class(CREDENTIALS), answers, status=400, json=graph_error(code))
    assert not isinstance(caught.value, (ProviderDefinitiveError, ProviderTransientError))


def test_no_token_appears_in_an_error_even_when_the_connection_fails(answers):
    # Nothing registered: the transport refuses, as a dead connection would.
    with pytest.raises(ProviderTransientError) as caught:
        InstagramProvider(CREDENTIALS).refresh(refresh_token="SECRET-TOKEN")
    assert "SECRET-TOKEN" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# --- end to end against the fakes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "media_urls"),
    [
        ("instagram", ["https://cdn.example.com/photo.jpg"]),
        ("instagram", ["https://cdn.example.com/a.jpg", "https://cdn.example.com/clip.mp4"]),
        ("facebook_page", []),
        ("facebook_page", ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"]),
        ("threads", []),
        ("threads", ["https://cdn.example.com/clip.mp4"]),
    ],
)
def test_end_to_end_against_the_fake(platform, media_urls, fakes):
    fake = fakes[platform]
    provider = provider_for(platform)
    upstream = fake.users["fakeuser"]

    code, _state = authorize_through(provider, fake)
    tokens = provider.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier="")
    with pytest.raises(ProviderRequestError):  # a code is good once
        provider.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier="")

    profile = provider.fetch_profile(access_token=tokens.access_token)
    assert profile.username == upstream.handle
    assert profile.follower_count == upstream.followers
    assert profile.platform_user_id

    refreshed = provider.refresh(refresh_token=tokens.refresh_token)
    assert refreshed.access_token != tokens.access_token
    if platform != "facebook_page":  # a Page token stays valid; user tokens are replaced
        with pytest.raises(ProviderDefinitiveError):
            provider.fetch_profile(access_token=tokens.access_token)

    result = provider.publish(
        access_token=refreshed.access_token,
        text=f"Hello {platform}",
        media_urls=media_urls,
        idempotency_key="target-1",
    )
    (post,) = fake.published
    assert result.platform_post_id in str(post)
    assert post["user"] == upstream.handle

    provider.revoke(
        access_token=refreshed.access_token,
        refresh_token=refreshed.refresh_token or tokens.refresh_token,
    )
    if platform == "facebook_page":
        assert refreshed.access_token in fake.revoked
        with pytest.raises(ProviderDefinitiveError):
            provider.fetch_profile(access_token=refreshed.access_token)
        with pytest.raises(ProviderDefinitiveError):
            provider.publish(access_token=refreshed.access_token, text="late", media_urls=[])
    else:
        # No revocation endpoint: nothing reached the platform, the token still works.
        assert fake.revoked == []
        assert not any("revoke" in path for _method, path in fake.calls)
        assert provider.fetch_profile(access_token=refreshed.access_token).username
