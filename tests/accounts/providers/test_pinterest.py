"""The Pinterest adapter: OAuth with Basic client authentication and continuous refresh,
the user account, Pins on the first board, Pinterest's error shape and the documented
no-op revoke, against hand-built answers and against the fake."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from accounts.providers import http as provider_http
from accounts.providers import provider_for
from accounts.providers.base import (
    ProviderDefinitiveError,
    ProviderRequestError,
    ProviderTransientError,
    pkce_pair,
)
from accounts.providers.oauth2 import Credentials
from accounts.providers.pinterest import PinterestProvider

TOKEN_URL = "https://api.pinterest.com/v5/oauth/token"
USER_URL = "https://api.pinterest.com/v5/user_account"
BOARDS_URL = "https://api.pinterest.com/v5/boards"
PINS_URL = "https://api.pinterest.com/v5/pins"
REDIRECT_URI = "https://app.example.com/oauth/callback"
PHOTO = "https://cdn.example.com/photo.jpg"
BASIC = "Basic " + base64.b64encode(b"fake-client-id:fake-client-secret").decode()


@pytest.fixture
def pinterest() -> PinterestProvider:
    return PinterestProvider(Credentials("fake-client-id", "fake-client-secret"))


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def token_body(access: str = "pina_a", refresh: str = "pinr_r") -> dict:
    return {
        "access_token": access,
        "refresh_token": refresh,
        "response_type": "authorization_code",
        "token_type": "bearer",
        "expires_in": 2_592_000,
        "refresh_token_expires_in": 5_184_000,
        "scope": "user_accounts:read boards:read pins:read pins:write",
    }


# --- OAuth --------------------------------------------------------------------------------


def test_the_authorization_url_has_comma_separated_scopes_and_no_pkce(pinterest):
    url = pinterest.authorization_url(
        state="st-1", code_challenge="chal-1", redirect_uri=REDIRECT_URI, options={}
    )

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.pinterest.com", "/oauth/")
    assert query == {
        "response_type": "code",
        "client_id": "fake-client-id",
        "redirect_uri": REDIRECT_URI,
        "scope": "user_accounts:read,boards:read,pins:read,pins:write",
        "state": "st-1",
    }


def test_a_code_exchange_authenticates_the_app_with_basic(pinterest, answers):
    answers.post(TOKEN_URL, json=token_body())

    tokens = pinterest.exchange_code(code="c-1", redirect_uri=REDIRECT_URI, code_verifier="v-1")

    call = answers.calls[0]
    assert call.request.headers["Authorization"] == BASIC
    sent = form(call)
    assert sent["grant_type"] == "authorization_code"
    assert sent["code"] == "c-1"
    assert sent["redirect_uri"] == REDIRECT_URI
    assert "code_verifier" not in sent  # Pinterest documents no PKCE
    assert "client_secret" not in sent
    assert (tokens.access_token, tokens.refresh_token) == ("pina_a", "pinr_r")
    assert 2_591_000 < (tokens.expires_at - timezone.now()).total_seconds() <= 2_592_000
    assert tokens.scopes == ["user_accounts:read", "boards:read", "pins:read", "pins:write"]


def test_a_refresh_answers_a_new_refresh_token(pinterest, answers):
    answers.post(TOKEN_URL, json=token_body("pina_b", "pinr_s"))

    tokens = pinterest.refresh(refresh_token="pinr_r")

    call = answers.calls[0]
    assert call.request.headers["Authorization"] == BASIC
    assert form(call)["grant_type"] == "refresh_token"
    assert form(call)["refresh_token"] == "pinr_r"
    assert (tokens.access_token, tokens.refresh_token) == ("pina_b", "pinr_s")


def test_an_invalid_grant_is_definitive(pinterest, answers):
    answers.post(
        TOKEN_URL, status=400, json={"code": 283, "message": "The authorization grant is invalid"}
    )

    with pytest.raises(ProviderDefinitiveError) as caught:
        pinterest.refresh(refresh_token="pinr_dead")

    assert caught.value.error_code == "283"


def test_an_rfc_invalid_grant_is_definitive_too(pinterest, answers):
    answers.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})

    with pytest.raises(ProviderDefinitiveError):
        pinterest.exchange_code(code="c", redirect_uri=REDIRECT_URI, code_verifier="v")


@pytest.mark.parametrize(("status", "retry_after"), [(502, "3"), (429, "60")])
def test_5xx_and_429_are_transient_with_retry_after(pinterest, answers, status, retry_after):
    answers.post(
        TOKEN_URL,
        status=status,
        json={"code": 8, "message": "busy"},
        headers={"Retry-After": retry_after},
    )

    with pytest.raises(ProviderTransientError) as caught:
        pinterest.refresh(refresh_token="pinr_r")

    assert caught.value.retry_after == float(retry_after)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"code": 2, "message": "Authentication failed."}, ProviderDefinitiveError),
        (403, {"code": 29, "message": "Not permitted"}, ProviderRequestError),
        (429, {"code": 8, "message": "Rate limit exceeded"}, ProviderTransientError),
        (400, {"code": 1, "message": "Invalid parameters"}, ProviderRequestError),
        (500, {"code": 3, "message": "Internal error"}, ProviderTransientError),
    ],
)
def test_pinterest_api_errors_are_classified(pinterest, answers, status, body, expected):
    answers.get(USER_URL, status=status, json=body)

    with pytest.raises(expected) as caught:
        pinterest.fetch_profile(access_token="pina_a")

    assert caught.value.error_code == str(body["code"])
    assert str(caught.value) == body["message"]


# --- profile ------------------------------------------------------------------------------


def test_the_profile_is_the_user_account(pinterest, answers):
    answers.get(
        USER_URL,
        json={
            "account_type": "BUSINESS",
            "id": "549755885175",
            "username": "ada",
            "business_name": "Ada Studio",
            "profile_image": "https://i.pinimg.com/ada.jpg",
            "website_url": "https://ada.example",
            "board_count": 4,
            "pin_count": 120,
            "follower_count": 3300,
            "following_count": 12,
            "monthly_views": 9000,
        },
    )

    profile = pinterest.fetch_profile(access_token="pina_a")

    assert answers.calls[0].request.headers["Authorization"] == "Bearer pina_a"
    assert profile.platform_user_id == "549755885175"
    assert (profile.username, profile.display_name) == ("ada", "Ada Studio")
    assert profile.avatar_url == "https://i.pinimg.com/ada.jpg"
    assert profile.account_type == "business"
    assert (profile.follower_count, profile.following_count, profile.post_count) == (3300, 12, 120)


def test_a_personal_profile_falls_back_on_the_username(pinterest, answers):
    answers.get(USER_URL, json={"account_type": "PINNER", "username": "bob"})

    profile = pinterest.fetch_profile(access_token="pina_a")

    assert (profile.platform_user_id, profile.display_name) == ("bob", "bob")
    assert profile.follower_count == 0


# --- publish ------------------------------------------------------------------------------


def test_publish_pins_the_image_on_the_first_board(pinterest, answers):
    answers.get(BOARDS_URL, json={"items": [{"id": "b-1", "name": "Ideas"}], "bookmark": None})
    answers.post(PINS_URL, status=201, json={"id": "813744207", "board_id": "b-1"})

    result = pinterest.publish(
        access_token="pina_a",
        text="Autumn palette\nWarm colours for the living room.",
        media_urls=[PHOTO],
        idempotency_key="pt_1",
    )

    assert result.platform_post_id == "813744207"
    boards, pin = answers.calls
    assert boards.request.headers["Authorization"] == "Bearer pina_a"
    assert parse_qs(urlsplit(boards.request.url).query) == {"page_size": ["1"]}
    assert pin.request.headers["Authorization"] == "Bearer pina_a"
    assert json.loads(pin.request.body) == {
        "board_id": "b-1",
        "title": "Autumn palette",
        "description": "Autumn palette\nWarm colours for the living room.",
        "media_source": {"source_type": "image_url", "url": PHOTO},
    }


def test_several_images_make_a_carousel(pinterest, answers):
    answers.get(BOARDS_URL, json={"items": [{"id": "b-1"}]})
    answers.post(PINS_URL, status=201, json={"id": "9"})
    urls = [PHOTO, "https://cdn.example.com/two.jpg"]

    pinterest.publish(access_token="pina_a", text="two", media_urls=urls)

    assert json.loads(answers.calls[1].request.body)["media_source"] == {
        "source_type": "multiple_image_urls",
        "items": [{"url": urls[0]}, {"url": urls[1]}],
    }


@pytest.mark.parametrize(
    ("media_urls", "message"),
    [
        ([], "needs an image"),
        (["https://cdn.example.com/clip.mp4"], "video Pins"),
        ([PHOTO] * 6, "at most 5"),
    ],
)
def test_publish_without_an_image_is_refused_before_any_call(
    pinterest, answers, media_urls, message
):
    with pytest.raises(ProviderRequestError, match=message):
        pinterest.publish(access_token="pina_a", text="text only", media_urls=media_urls)

    assert len(answers.calls) == 0


def test_an_account_without_boards_is_refused(pinterest, answers):
    answers.get(BOARDS_URL, json={"items": [], "bookmark": None})

    with pytest.raises(ProviderRequestError, match="no board"):
        pinterest.publish(access_token="pina_a", text="hi", media_urls=[PHOTO])

    assert len(answers.calls) == 1


def test_a_refused_pin_is_a_request_error(pinterest, answers):
    answers.get(BOARDS_URL, json={"items": [{"id": "b-1"}]})
    answers.post(PINS_URL, status=400, json={"code": 1, "message": "Invalid image URL"})

    with pytest.raises(ProviderRequestError, match="Invalid image URL"):
        pinterest.publish(access_token="pina_a", text="hi", media_urls=[PHOTO])


# --- revoke -------------------------------------------------------------------------------


def test_revoke_is_a_documented_no_op(pinterest, answers):
    pinterest.revoke(access_token="pina_a", refresh_token="pinr_r")

    assert len(answers.calls) == 0
    assert "no revocation endpoint" in PinterestProvider.revoke.__doc__


# --- against the fake ---------------------------------------------------------------------


def test_pinterest_end_to_end_against_the_fake(fakes):
    fake = fakes["pinterest"]
    provider = provider_for("pinterest")
    assert isinstance(provider, PinterestProvider)
    verifier, challenge = pkce_pair()

    url = provider.authorization_url(
        state="st-e2e",
        code_challenge=challenge,
        redirect_uri=REDIRECT_URI,
        options={},
        code_verifier=verifier,
    )
    answer = provider_http.request("GET", url, allow_redirects=False)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["st-e2e"]

    tokens = provider.exchange_code(
        code=query["code"][0], redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    with pytest.raises(ProviderDefinitiveError):  # a code is good once
        provider.exchange_code(
            code=query["code"][0], redirect_uri=REDIRECT_URI, code_verifier=verifier
        )
    profile = provider.fetch_profile(access_token=tokens.access_token)
    upstream = fake.users["fakeuser"]
    assert (profile.username, profile.follower_count) == (upstream.handle, upstream.followers)

    refreshed = provider.refresh(refresh_token=tokens.refresh_token)
    assert refreshed.refresh_token and refreshed.refresh_token != tokens.refresh_token
    with pytest.raises(ProviderDefinitiveError):  # the old access token is gone
        provider.fetch_profile(access_token=tokens.access_token)
    with pytest.raises(ProviderDefinitiveError):  # and so is the old refresh token
        provider.refresh(refresh_token=tokens.refresh_token)

    result = provider.publish(
        access_token=refreshed.access_token,
        text="Hello from the fake",
        media_urls=fake.e2e_media_urls,
    )
    assert fake.published[-1]["id"] == result.platform_post_id
    assert fake.published[-1]["media_urls"] == fake.e2e_media_urls

    calls_before = len(fake.calls)
    provider.revoke(access_token=refreshed.access_token, refresh_token=refreshed.refresh_token)
    assert len(fake.calls) == calls_before  # no revocation endpoint: nothing is sent
    assert fake.revoked == []
