"""The TikTok adapters (business and personal): Login Kit for Web with ``client_key``, the
user info, Direct Post of videos and photos, TikTok's error envelopes and revocation,
against hand-built answers and against the fake."""

from __future__ import annotations

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
from accounts.providers.tiktok import (
    TikTokBusinessProvider,
    TikTokPersonalProvider,
    TikTokProvider,
)

TOKEN_URL = "https://open.tiktokapis.com/v2/oauth/token/"
REVOKE_URL = "https://open.tiktokapis.com/v2/oauth/revoke/"
USER_URL = "https://open.tiktokapis.com/v2/user/info/"
CREATOR_URL = "https://open.tiktokapis.com/v2/post/publish/creator_info/query/"
VIDEO_INIT_URL = "https://open.tiktokapis.com/v2/post/publish/video/init/"
CONTENT_INIT_URL = "https://open.tiktokapis.com/v2/post/publish/content/init/"
REDIRECT_URI = "https://app.example.com/oauth/callback"
VIDEO = "https://cdn.example.com/clip.mp4"
PHOTOS = ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"]
CREDENTIALS = Credentials("fake-client-id", "fake-client-secret")


@pytest.fixture(params=[TikTokPersonalProvider, TikTokBusinessProvider], ids=lambda c: c.platform)
def tiktok(request) -> TikTokProvider:
    return request.param(CREDENTIALS)


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def ok(data: dict) -> dict:
    return {"data": data, "error": {"code": "ok", "message": "", "log_id": "202411"}}


def failed(code: str, message: str = "refused") -> dict:
    return {"data": {}, "error": {"code": code, "message": message, "log_id": "202411"}}


def token_body(access: str = "act.a", refresh: str = "rft.r") -> dict:
    return {
        "access_token": access,
        "expires_in": 86400,
        "open_id": "open-1",
        "refresh_expires_in": 31536000,
        "refresh_token": refresh,
        "scope": "user.info.basic,user.info.profile,user.info.stats,video.publish",
        "token_type": "Bearer",
    }


CREATOR_INFO = {
    "creator_avatar_url": "https://p16.example/a.jpg",
    "creator_username": "ada",
    "creator_nickname": "Ada",
    "privacy_level_options": ["FOLLOWER_OF_CREATOR", "PUBLIC_TO_EVERYONE", "SELF_ONLY"],
    "comment_disabled": False,
    "duet_disabled": True,
    "stitch_disabled": False,
    "max_video_post_duration_sec": 600,
}


# --- OAuth --------------------------------------------------------------------------------


def test_the_authorization_url_names_the_client_key_and_comma_separates_scopes(tiktok):
    url = tiktok.authorization_url(
        state="st-1", code_challenge="chal-1", redirect_uri=REDIRECT_URI, options={}
    )

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "www.tiktok.com",
        "/v2/auth/authorize/",
    )
    # Login Kit for Web: no PKCE (documented for desktop and mobile only), no client_id.
    assert query == {
        "client_key": "fake-client-id",
        "response_type": "code",
        "scope": "user.info.basic,user.info.profile,user.info.stats,video.publish",
        "redirect_uri": REDIRECT_URI,
        "state": "st-1",
    }


def test_a_code_exchange_sends_the_client_key_and_secret_in_the_form(tiktok, answers):
    answers.post(TOKEN_URL, json=token_body())

    tokens = tiktok.exchange_code(code="c-1", redirect_uri=REDIRECT_URI, code_verifier="v-1")

    call = answers.calls[0]
    assert call.request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert form(call) == {
        "client_key": "fake-client-id",
        "client_secret": "fake-client-secret",
        "code": "c-1",
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT_URI,
    }
    assert (tokens.access_token, tokens.refresh_token) == ("act.a", "rft.r")
    assert 86000 < (tokens.expires_at - timezone.now()).total_seconds() <= 86400
    assert tokens.scopes == [
        "user.info.basic",
        "user.info.profile",
        "user.info.stats",
        "video.publish",
    ]


def test_a_refresh_takes_the_new_refresh_token(tiktok, answers):
    answers.post(TOKEN_URL, json=token_body("act.b", "rft.s"))

    tokens = tiktok.refresh(refresh_token="rft.r")

    assert form(answers.calls[0]) == {
        "client_key": "fake-client-id",
        "client_secret": "fake-client-secret",
        "grant_type": "refresh_token",
        "refresh_token": "rft.r",
    }
    assert (tokens.access_token, tokens.refresh_token) == ("act.b", "rft.s")


def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one(tiktok, answers):
    body = token_body("act.b")
    del body["refresh_token"]
    answers.post(TOKEN_URL, json=body)

    assert tiktok.refresh(refresh_token="rft.r").refresh_token == "rft.r"


@pytest.mark.parametrize("status", [200, 400])
def test_invalid_grant_is_definitive_even_with_http_200(tiktok, answers, status):
    answers.post(
        TOKEN_URL,
        status=status,
        json={
            "error": "invalid_grant",
            "error_description": "Refresh token is invalid or expired.",
            "log_id": "2024",
        },
    )

    with pytest.raises(ProviderDefinitiveError) as caught:
        tiktok.refresh(refresh_token="rft.dead")

    assert caught.value.error_code == "invalid_grant"
    assert "rft.dead" not in str(caught.value)


def test_a_bad_code_request_is_a_request_error(tiktok, answers):
    answers.post(
        TOKEN_URL,
        json={"error": "invalid_request", "error_description": "Code is expired.", "log_id": "1"},
    )

    with pytest.raises(ProviderRequestError, match="Code is expired"):
        tiktok.exchange_code(code="c", redirect_uri=REDIRECT_URI, code_verifier="")


def test_a_rate_limited_token_call_is_transient(tiktok, answers):
    answers.post(
        TOKEN_URL,
        status=200,
        json={"error": "rate_limit_exceeded", "error_description": "slow down", "log_id": "1"},
        headers={"Retry-After": "20"},
    )

    with pytest.raises(ProviderTransientError) as caught:
        tiktok.refresh(refresh_token="rft.r")

    assert caught.value.retry_after == 20.0


@pytest.mark.parametrize(("status", "retry_after"), [(500, "5"), (429, "45")])
def test_5xx_and_429_are_transient_with_retry_after(tiktok, answers, status, retry_after):
    answers.post(TOKEN_URL, status=status, body="busy", headers={"Retry-After": retry_after})

    with pytest.raises(ProviderTransientError) as caught:
        tiktok.exchange_code(code="c", redirect_uri=REDIRECT_URI, code_verifier="")

    assert caught.value.retry_after == float(retry_after)
    assert caught.value.http_status == status


# --- API errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "access_token_invalid", ProviderDefinitiveError),
        (401, "scope_not_authorized", ProviderRequestError),
        (401, "scope_permission_missed", ProviderRequestError),
        (429, "rate_limit_exceeded", ProviderTransientError),
        (500, "internal_error", ProviderTransientError),
        (400, "invalid_params", ProviderRequestError),
    ],
)
def test_tiktok_api_errors_are_classified(tiktok, answers, status, code, expected):
    answers.get(USER_URL, status=status, json=failed(code, "TikTok says no"))

    with pytest.raises(expected) as caught:
        tiktok.fetch_profile(access_token="act.a")

    assert caught.value.error_code == code
    assert str(caught.value) == "TikTok says no"


# --- profile ------------------------------------------------------------------------------


def test_the_profile_reads_the_user_info(tiktok, answers):
    answers.get(
        USER_URL,
        json=ok(
            {
                "user": {
                    "open_id": "open-1",
                    "union_id": "union-1",
                    "avatar_url": "https://p16.example/a.jpg",
                    "display_name": "Ada",
                    "username": "ada",
                    "follower_count": 5100,
                    "following_count": 40,
                    "video_count": 88,
                    "is_verified": True,
                }
            }
        ),
    )

    profile = tiktok.fetch_profile(access_token="act.a")

    request = answers.calls[0].request
    assert request.headers["Authorization"] == "Bearer act.a"
    assert parse_qs(urlsplit(request.url).query)["fields"] == [
        "open_id,union_id,avatar_url,display_name,username,"
        "follower_count,following_count,video_count,is_verified"
    ]
    assert profile.platform_user_id == "open-1"
    assert (profile.username, profile.display_name) == ("ada", "Ada")
    assert profile.avatar_url == "https://p16.example/a.jpg"
    assert (profile.follower_count, profile.following_count, profile.post_count) == (5100, 40, 88)
    assert profile.account_type == tiktok.account_type
    assert profile.metadata == {"is_verified": True, "union_id": "union-1"}


def test_the_two_platforms_record_their_account_type():
    assert TikTokBusinessProvider(CREDENTIALS).account_type == "business"
    assert TikTokPersonalProvider(CREDENTIALS).account_type == "personal"


# --- publish ------------------------------------------------------------------------------


def test_publish_a_video_queries_the_creator_then_pulls_the_url(tiktok, answers):
    answers.post(CREATOR_URL, json=ok(CREATOR_INFO))
    answers.post(VIDEO_INIT_URL, json=ok({"publish_id": "v_pub_url~v2.123"}))

    result = tiktok.publish(
        access_token="act.a", text="New video #socialhub", media_urls=[VIDEO], idempotency_key="pt"
    )

    assert result.platform_post_id == "v_pub_url~v2.123"
    creator, init = answers.calls
    for call in (creator, init):
        assert call.request.headers["Authorization"] == "Bearer act.a"
        assert call.request.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert json.loads(init.request.body) == {
        "post_info": {
            "title": "New video #socialhub",
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "disable_comment": False,
            "disable_duet": True,
            "disable_stitch": False,
        },
        "source_info": {"source": "PULL_FROM_URL", "video_url": VIDEO},
    }


def test_publish_photos_makes_a_photo_direct_post(tiktok, answers):
    answers.post(CREATOR_URL, json=ok(CREATOR_INFO))
    answers.post(CONTENT_INIT_URL, json=ok({"publish_id": "p_pub_url~v2.9"}))

    result = tiktok.publish(
        access_token="act.a", text="Two photos\nfrom the weekend", media_urls=PHOTOS
    )

    assert result.platform_post_id == "p_pub_url~v2.9"
    assert json.loads(answers.calls[1].request.body) == {
        "post_info": {
            "title": "Two photos",
            "description": "Two photos\nfrom the weekend",
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "disable_comment": False,
            "auto_add_music": True,
        },
        "source_info": {"source": "PULL_FROM_URL", "photo_cover_index": 0, "photo_images": PHOTOS},
        "post_mode": "DIRECT_POST",
        "media_type": "PHOTO",
    }


def test_a_private_account_posts_with_the_most_open_level_it_offers(tiktok, answers):
    info = {**CREATOR_INFO, "privacy_level_options": ["SELF_ONLY", "FOLLOWER_OF_CREATOR"]}
    answers.post(CREATOR_URL, json=ok(info))
    answers.post(VIDEO_INIT_URL, json=ok({"publish_id": "v1"}))

    tiktok.publish(access_token="act.a", text="hi", media_urls=[VIDEO])

    assert json.loads(answers.calls[1].request.body)["post_info"]["privacy_level"] == (
        "FOLLOWER_OF_CREATOR"
    )


@pytest.mark.parametrize(
    ("media_urls", "message"),
    [
        ([], "needs a video or photos"),
        ([VIDEO, PHOTOS[0]], "one video"),
        (PHOTOS * 18, "at most 35"),
    ],
)
def test_publish_without_usable_media_is_refused_before_any_call(
    tiktok, answers, media_urls, message
):
    with pytest.raises(ProviderRequestError, match=message):
        tiktok.publish(access_token="act.a", text="text only", media_urls=media_urls)

    assert len(answers.calls) == 0


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("spam_risk_too_many_posts", ProviderTransientError),
        ("reached_active_user_cap", ProviderTransientError),
        ("unaudited_client_can_only_post_to_private_accounts", ProviderRequestError),
        ("url_ownership_unverified", ProviderRequestError),
        ("spam_risk_user_banned_from_posting", ProviderRequestError),
    ],
)
def test_posting_refusals_are_classified(tiktok, answers, code, expected):
    answers.post(CREATOR_URL, json=ok(CREATOR_INFO))
    answers.post(VIDEO_INIT_URL, status=403, json=failed(code))

    with pytest.raises(expected) as caught:
        tiktok.publish(access_token="act.a", text="hi", media_urls=[VIDEO])

    assert caught.value.error_code == code


def test_a_missing_publish_scope_is_a_request_error(tiktok, answers):
    answers.post(CREATOR_URL, status=401, json=failed("scope_not_authorized"))

    with pytest.raises(ProviderRequestError):
        tiktok.publish(access_token="act.a", text="hi", media_urls=[VIDEO])

    assert len(answers.calls) == 1


# --- revoke -------------------------------------------------------------------------------


def test_revoke_sends_the_access_token_with_the_client(tiktok, answers):
    answers.post(REVOKE_URL, body=b"")

    tiktok.revoke(access_token="act.a", refresh_token="rft.r")

    assert len(answers.calls) == 1
    assert form(answers.calls[0]) == {
        "client_key": "fake-client-id",
        "client_secret": "fake-client-secret",
        "token": "act.a",
    }


def test_a_refused_revoke_is_classified(tiktok, answers):
    answers.post(
        REVOKE_URL,
        json={"error": "invalid_request", "error_description": "token invalid", "log_id": "1"},
    )

    with pytest.raises(ProviderRequestError):
        tiktok.revoke(access_token="act.gone", refresh_token="")


# --- against the fake ---------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["tiktok_personal", "tiktok_business"])
def test_tiktok_end_to_end_against_the_fake(fakes, platform):
    fake = fakes[platform]
    provider = provider_for(platform)
    assert isinstance(provider, TikTokProvider) and provider.platform == platform
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
    with pytest.raises(ProviderDefinitiveError):  # a used code: invalid_grant with HTTP 200
        provider.exchange_code(
            code=query["code"][0], redirect_uri=REDIRECT_URI, code_verifier=verifier
        )
    profile = provider.fetch_profile(access_token=tokens.access_token)
    upstream = fake.users["fakeuser"]
    assert (profile.username, profile.follower_count) == (upstream.handle, upstream.followers)
    assert profile.account_type == provider.account_type

    refreshed = provider.refresh(refresh_token=tokens.refresh_token)
    assert refreshed.access_token != tokens.access_token
    with pytest.raises(ProviderDefinitiveError):
        provider.fetch_profile(access_token=tokens.access_token)

    video = provider.publish(
        access_token=refreshed.access_token, text="Hello video", media_urls=fake.e2e_media_urls
    )
    photos = provider.publish(
        access_token=refreshed.access_token, text="Hello photos", media_urls=PHOTOS
    )
    assert [post["publish_id"] for post in fake.published] == [
        video.platform_post_id,
        photos.platform_post_id,
    ]
    assert fake.published[0]["privacy"] == "PUBLIC_TO_EVERYONE"

    provider.revoke(access_token=refreshed.access_token, refresh_token=refreshed.refresh_token)
    assert fake.revoked == [refreshed.access_token]
    with pytest.raises(ProviderDefinitiveError):
        provider.fetch_profile(access_token=refreshed.access_token)
    with pytest.raises(ProviderDefinitiveError):
        provider.refresh(refresh_token=refreshed.refresh_token)


def test_both_tiktok_fakes_are_one_tiktok(fakes):
    assert fakes["tiktok_business"].grants is fakes["tiktok_personal"].grants
    assert fakes["tiktok_business"].published is fakes["tiktok_personal"].published
