"""The YouTube adapter: Google OAuth 2 with PKCE, the channel profile, resumable video
uploads and Google's error shapes, against hand-built answers and against the fake."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses as responses_lib
from django.utils import timezone

from accounts.providers import http as provider_http
from accounts.providers import provider_for
from accounts.providers.base import (
    ProviderDefinitiveError,
    ProviderRequestError,
    ProviderTransientError,
    pkce_pair,
)
from accounts.providers.google import UPLOAD_URL, YouTubeProvider
from accounts.providers.oauth2 import Credentials

TOKEN_URL = "https://oauth2.googleapis.com/token"
REVOKE_URL = "https://oauth2.googleapis.com/revoke"
CHANNELS_URL = "https://www.googleapis.com/youtube/v3/channels"
SESSION_URL = UPLOAD_URL + "?uploadType=resumable&upload_id=up-1"
REDIRECT_URI = "https://app.example.com/oauth/callback"
VIDEO_URL = "https://cdn.example.com/clip.mp4"


@pytest.fixture
def youtube() -> YouTubeProvider:
    return YouTubeProvider(Credentials("fake-client-id", "fake-client-secret"))


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def google_error(status: int, reason: str, message: str = "refused") -> dict:
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "youtube.quota", "reason": reason}],
            "status": "PERMISSION_DENIED",
        }
    }


# --- OAuth --------------------------------------------------------------------------------


def test_the_authorization_url_asks_google_for_offline_access_with_pkce(youtube):
    url = youtube.authorization_url(
        state="st-1", code_challenge="chal-1", redirect_uri=REDIRECT_URI, options={}
    )

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "accounts.google.com",
        "/o/oauth2/v2/auth",
    )
    assert query == {
        "response_type": "code",
        "client_id": "fake-client-id",
        "redirect_uri": REDIRECT_URI,
        "scope": "https://www.googleapis.com/auth/youtube.readonly "
        "https://www.googleapis.com/auth/youtube.upload",
        "state": "st-1",
        "code_challenge": "chal-1",
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
    }


def test_a_code_exchange_posts_the_code_verifier_and_the_client_secret(youtube, answers):
    answers.post(
        TOKEN_URL,
        json={
            "access_token": "ya29.a",
            "expires_in": 3599,
            "refresh_token": "1//r",
            "scope": "https://www.googleapis.com/auth/youtube.upload "
            "https://www.googleapis.com/auth/youtube.readonly",
            "token_type": "Bearer",
        },
    )

    tokens = youtube.exchange_code(code="c-1", redirect_uri=REDIRECT_URI, code_verifier="v-1")

    sent = form(answers.calls[0])
    assert sent == {
        "grant_type": "authorization_code",
        "code": "c-1",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": "v-1",
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
    }
    assert (tokens.access_token, tokens.refresh_token) == ("ya29.a", "1//r")
    assert 3500 < (tokens.expires_at - timezone.now()).total_seconds() <= 3599
    assert "https://www.googleapis.com/auth/youtube.upload" in tokens.scopes


def test_a_refresh_keeps_the_refresh_token_google_does_not_rotate(youtube, answers):
    answers.post(TOKEN_URL, json={"access_token": "ya29.b", "expires_in": 3599})

    tokens = youtube.refresh(refresh_token="1//r")

    sent = form(answers.calls[0])
    assert sent["grant_type"] == "refresh_token"
    assert sent["refresh_token"] == "1//r"
    assert sent["client_secret"] == "fake-client-secret"
    assert (tokens.access_token, tokens.refresh_token) == ("ya29.b", "1//r")


def test_invalid_grant_is_definitive(youtube, answers):
    answers.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )

    with pytest.raises(ProviderDefinitiveError) as caught:
        youtube.refresh(refresh_token="1//dead")

    assert caught.value.error_code == "invalid_grant"
    assert "1//dead" not in str(caught.value)


def test_a_bad_client_is_our_set_up_not_a_dead_grant(youtube, answers):
    answers.post(
        TOKEN_URL,
        status=401,
        json={"error": "invalid_client", "error_description": "The OAuth client was not found."},
    )

    with pytest.raises(ProviderRequestError):
        youtube.exchange_code(code="c", redirect_uri=REDIRECT_URI, code_verifier="v")


@pytest.mark.parametrize(("status", "retry_after"), [(503, "7"), (429, "30")])
def test_5xx_and_429_are_transient_with_retry_after(youtube, answers, status, retry_after):
    answers.post(TOKEN_URL, status=status, body="busy", headers={"Retry-After": retry_after})

    with pytest.raises(ProviderTransientError) as caught:
        youtube.refresh(refresh_token="1//r")

    assert caught.value.retry_after == float(retry_after)
    assert caught.value.http_status == status


# --- API errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (401, "authError", ProviderDefinitiveError),
        (403, "quotaExceeded", ProviderTransientError),
        (403, "rateLimitExceeded", ProviderTransientError),
        (403, "userRateLimitExceeded", ProviderTransientError),
        (403, "insufficientPermissions", ProviderRequestError),
        (403, "forbidden", ProviderRequestError),
        (400, "invalidTitle", ProviderRequestError),
        (500, "backendError", ProviderTransientError),
    ],
)
def test_google_api_errors_are_classified(youtube, answers, status, reason, expected):
    answers.get(
        CHANNELS_URL,
        status=status,
        json=google_error(status, reason),
        headers={"Retry-After": "12"},
    )

    with pytest.raises(expected) as caught:
        youtube.fetch_profile(access_token="ya29.a")

    assert caught.value.error_code == reason
    if expected is ProviderTransientError:
        assert caught.value.retry_after == 12.0


# --- profile ------------------------------------------------------------------------------


def test_the_profile_is_the_users_channel(youtube, answers):
    answers.get(
        CHANNELS_URL,
        match=[
            responses_lib.matchers.query_param_matcher(
                {"part": "snippet,statistics", "mine": "true"}
            )
        ],
        json={
            "items": [
                {
                    "id": "UC123",
                    "snippet": {
                        "title": "Ada's Channel",
                        "customUrl": "@ada",
                        "thumbnails": {
                            "default": {"url": "https://yt3.example/s88.jpg"},
                            "high": {"url": "https://yt3.example/s800.jpg"},
                        },
                    },
                    "statistics": {
                        "subscriberCount": "4200",
                        "hiddenSubscriberCount": False,
                        "videoCount": "17",
                    },
                }
            ]
        },
    )

    profile = youtube.fetch_profile(access_token="ya29.a")

    assert answers.calls[0].request.headers["Authorization"] == "Bearer ya29.a"
    assert profile.platform_user_id == "UC123"
    assert (profile.username, profile.display_name) == ("ada", "Ada's Channel")
    assert profile.avatar_url == "https://yt3.example/s800.jpg"
    assert (profile.follower_count, profile.post_count) == (4200, 17)
    assert profile.metadata == {"channel_id": "UC123", "subscriber_count_hidden": False}


def test_a_hidden_subscriber_count_is_zero(youtube, answers):
    answers.get(
        CHANNELS_URL,
        json={
            "items": [
                {
                    "id": "UC9",
                    "snippet": {"title": "Quiet"},
                    "statistics": {"hiddenSubscriberCount": True, "videoCount": "2"},
                }
            ]
        },
    )

    profile = youtube.fetch_profile(access_token="ya29.a")

    assert profile.follower_count == 0
    assert profile.username is None
    assert profile.metadata["subscriber_count_hidden"] is True


def test_an_account_without_a_channel_is_refused(youtube, answers):
    answers.get(CHANNELS_URL, json={"kind": "youtube#channelListResponse", "items": []})

    with pytest.raises(ProviderRequestError, match="no YouTube channel"):
        youtube.fetch_profile(access_token="ya29.a")


# --- publish ------------------------------------------------------------------------------


def test_publish_uploads_the_video_through_a_resumable_session(youtube, answers):
    video = b"\x00\x00\x00\x18ftypmp42" * 10
    answers.get(VIDEO_URL, body=video, content_type="video/mp4")
    answers.post(UPLOAD_URL, status=200, headers={"Location": SESSION_URL})
    answers.put(SESSION_URL, json={"kind": "youtube#video", "id": "dQw4w9WgXcQ"})

    result = youtube.publish(
        access_token="ya29.a",
        text="My <new> video\nWith a longer description.",
        media_urls=[VIDEO_URL],
        idempotency_key="pt_1",
    )

    assert result.platform_post_id == "dQw4w9WgXcQ"
    download, start, upload = answers.calls
    assert download.request.url == VIDEO_URL
    assert "Authorization" not in download.request.headers  # the CDN gets no token
    query = parse_qs(urlsplit(start.request.url).query)
    assert query == {"uploadType": ["resumable"], "part": ["snippet,status"]}
    assert start.request.headers["Authorization"] == "Bearer ya29.a"
    assert start.request.headers["X-Upload-Content-Type"] == "video/mp4"
    assert start.request.headers["X-Upload-Content-Length"] == str(len(video))
    assert json.loads(start.request.body) == {
        "snippet": {
            "title": "My new video",
            "description": "My new video\nWith a longer description.",
            "categoryId": "22",
        },
        "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False},
    }
    assert upload.request.url == SESSION_URL
    assert upload.request.body == video
    assert upload.request.headers["Content-Type"] == "video/mp4"


def test_a_long_first_line_is_cut_to_a_100_character_title(youtube, answers):
    answers.get(VIDEO_URL, body=b"v" * 10, content_type="video/mp4")
    answers.post(UPLOAD_URL, headers={"Location": SESSION_URL})
    answers.put(SESSION_URL, json={"id": "vid"})

    youtube.publish(access_token="ya29.a", text="x" * 150, media_urls=[VIDEO_URL])

    assert json.loads(answers.calls[1].request.body)["snippet"]["title"] == "x" * 100


def test_publish_without_a_video_is_refused_before_any_call(youtube, answers):
    with pytest.raises(ProviderRequestError, match="needs a video"):
        youtube.publish(access_token="ya29.a", text="just text", media_urls=[])

    assert len(answers.calls) == 0


def test_publish_with_an_image_is_refused_before_the_upload(youtube, answers):
    answers.get("https://cdn.example.com/photo.jpg", body=b"jpg", content_type="image/jpeg")

    with pytest.raises(ProviderRequestError, match="needs a video"):
        youtube.publish(
            access_token="ya29.a", text="hi", media_urls=["https://cdn.example.com/photo.jpg"]
        )

    assert len(answers.calls) == 1  # the download only


def test_a_missing_media_file_is_a_request_error(youtube, answers):
    answers.get(VIDEO_URL, status=404)

    with pytest.raises(ProviderRequestError, match="404"):
        youtube.publish(access_token="ya29.a", text="hi", media_urls=[VIDEO_URL])


def test_a_quota_refusal_of_the_upload_is_transient(youtube, answers):
    answers.get(VIDEO_URL, body=b"v" * 10, content_type="video/mp4")
    answers.post(UPLOAD_URL, status=403, json=google_error(403, "quotaExceeded"))

    with pytest.raises(ProviderTransientError):
        youtube.publish(access_token="ya29.a", text="hi", media_urls=[VIDEO_URL])


# --- revoke -------------------------------------------------------------------------------


def test_revoke_revokes_the_refresh_token_once(youtube, answers):
    answers.post(REVOKE_URL, json={})

    youtube.revoke(access_token="ya29.a", refresh_token="1//r")

    assert len(answers.calls) == 1
    assert form(answers.calls[0]) == {"token": "1//r"}
    assert "client_secret" not in answers.calls[0].request.body


def test_revoking_a_dead_token_is_definitive(youtube, answers):
    answers.post(
        REVOKE_URL,
        status=400,
        json={"error": "invalid_token", "error_description": "Token expired or revoked"},
    )

    with pytest.raises(ProviderDefinitiveError):
        youtube.revoke(access_token="ya29.a", refresh_token="")

    assert form(answers.calls[0]) == {"token": "ya29.a"}


# --- against the fake ---------------------------------------------------------------------


def test_youtube_end_to_end_against_the_fake(fakes):
    fake = fakes["youtube"]
    provider = provider_for("youtube")
    assert isinstance(provider, YouTubeProvider)
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
    profile = provider.fetch_profile(access_token=tokens.access_token)
    upstream = fake.users["fakeuser"]
    assert (profile.username, profile.follower_count) == (upstream.handle, upstream.followers)

    refreshed = provider.refresh(refresh_token=tokens.refresh_token)
    assert refreshed.access_token != tokens.access_token
    assert refreshed.refresh_token == tokens.refresh_token
    with pytest.raises(ProviderDefinitiveError):  # the old access token is gone
        provider.fetch_profile(access_token=tokens.access_token)

    result = provider.publish(
        access_token=refreshed.access_token,
        text="Hello from the fake",
        media_urls=fake.e2e_media_urls,
    )
    assert fake.published[-1]["video_id"] == result.platform_post_id
    assert fake.published[-1]["title"] == "Hello from the fake"

    provider.revoke(access_token=refreshed.access_token, refresh_token=refreshed.refresh_token)
    assert fake.revoked == [refreshed.refresh_token]
    with pytest.raises(ProviderDefinitiveError):
        provider.fetch_profile(access_token=refreshed.access_token)
    with pytest.raises(ProviderDefinitiveError):
        provider.refresh(refresh_token=refreshed.refresh_token)
