"""The X adapter: OAuth 2.0 with PKCE against hand-built answers, X's error shapes, the
profile, posts with and without media, revocation, and a full run against the X fake."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.providers import http as provider_http
from accounts.providers import provider_for
from accounts.providers.base import (
    ProviderDefinitiveError,
    ProviderRequestError,
    ProviderTransientError,
    pkce_pair,
)
from accounts.providers.oauth2 import Credentials
from accounts.providers.x import XProvider

TOKEN_URL = "https://api.x.com/2/oauth2/token"
REVOKE_URL = "https://api.x.com/2/oauth2/revoke"
ME_URL = "https://api.x.com/2/users/me"
TWEETS_URL = "https://api.x.com/2/tweets"
UPLOAD_URL = "https://api.x.com/2/media/upload"
REDIRECT_URI = "https://app.example.com/oauth/callback"
BASIC = "Basic " + base64.b64encode(b"fake-client-id:fake-client-secret").decode()


@pytest.fixture
def x() -> XProvider:
    return XProvider(Credentials("fake-client-id", "fake-client-secret"))


def form(call) -> dict[str, str]:
    body = call.request.body
    if isinstance(body, bytes):
        body = body.decode()
    return {key: values[0] for key, values in parse_qs(body or "").items()}


def token_body(**extra) -> dict:
    return {
        "token_type": "bearer",
        "expires_in": 7200,
        "access_token": "at-1",
        "refresh_token": "rt-1",
        "scope": "tweet.read tweet.write users.read offline.access media.write",
        **extra,
    }


def problem(status: int, title: str, detail: str, problem_type: str = "about:blank") -> dict:
    return {"title": title, "detail": detail, "type": problem_type, "status": status}


# --- OAuth ----------------------------------------------------------------------------------


def test_the_authorization_url_asks_x_for_the_scopes_with_pkce(x):
    verifier, challenge = pkce_pair()

    url = x.authorization_url(
        state="st-1", code_challenge=challenge, redirect_uri=REDIRECT_URI, options={}
    )

    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "x.com", "/i/oauth2/authorize")
    assert query == {
        "response_type": "code",
        "client_id": "fake-client-id",
        "redirect_uri": REDIRECT_URI,
        "scope": "tweet.read tweet.write users.read offline.access media.write",
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert verifier not in url


def test_the_code_exchange_authenticates_the_client_with_basic_and_sends_the_verifier(x, answers):
    answers.post(TOKEN_URL, json=token_body())

    tokens = x.exchange_code(code="code-1", redirect_uri=REDIRECT_URI, code_verifier="ver-1")

    assert (tokens.access_token, tokens.refresh_token) == ("at-1", "rt-1")
    assert tokens.expires_at is not None and "offline.access" in tokens.scopes
    (call,) = answers.calls
    assert call.request.headers["Authorization"] == BASIC
    sent = form(call)
    assert sent["grant_type"] == "authorization_code"
    assert sent["code"] == "code-1"
    assert sent["code_verifier"] == "ver-1"
    assert sent["redirect_uri"] == REDIRECT_URI
    assert "client_secret" not in sent


def test_a_refresh_gets_the_rotated_refresh_token(x, answers):
    answers.post(TOKEN_URL, json=token_body(access_token="at-2", refresh_token="rt-2"))

    tokens = x.refresh(refresh_token="rt-1")

    assert (tokens.access_token, tokens.refresh_token) == ("at-2", "rt-2")
    (call,) = answers.calls
    assert call.request.headers["Authorization"] == BASIC
    assert form(call) == {"grant_type": "refresh_token", "refresh_token": "rt-1"}


def test_invalid_grant_is_definitive(x, answers):
    answers.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "expired"}
    )

    with pytest.raises(ProviderDefinitiveError) as caught:
        x.refresh(refresh_token="rt-1")

    assert caught.value.error_code == "invalid_grant"
    assert "rt-1" not in str(caught.value)


def test_x_s_answer_to_a_dead_refresh_token_is_definitive(x, answers):
    answers.post(
        TOKEN_URL,
        status=400,
        json={
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        },
    )

    with pytest.raises(ProviderDefinitiveError) as caught:
        x.refresh(refresh_token="rt-dead")

    assert caught.value.http_status == 400
    assert "rt-dead" not in str(caught.value)


def test_the_same_answer_to_a_code_is_a_refused_request(x, answers):
    answers.post(
        TOKEN_URL,
        status=400,
        json={
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        },
    )

    with pytest.raises(ProviderRequestError) as caught:
        x.exchange_code(code="bad", redirect_uri=REDIRECT_URI, code_verifier="v")

    assert not isinstance(caught.value, ProviderDefinitiveError)


def test_a_refused_client_authentication_is_our_configuration_not_a_dead_grant(x, answers):
    answers.post(
        TOKEN_URL,
        status=401,
        json={
            "error": "unauthorized_client",
            "error_description": "Missing valid authorization header",
        },
    )

    with pytest.raises(ProviderRequestError) as caught:
        x.refresh(refresh_token="rt-1")

    assert caught.value.error_code == "unauthorized_client"


def test_a_5xx_is_transient(x, answers):
    answers.post(TOKEN_URL, status=503, body="Service Unavailable")

    with pytest.raises(ProviderTransientError) as caught:
        x.refresh(refresh_token="rt-1")

    assert caught.value.http_status == 503


def test_a_429_is_transient_with_retry_after(x, answers):
    answers.get(
        ME_URL,
        status=429,
        json=problem(429, "Too Many Requests", "Too Many Requests"),
        headers={"Retry-After": "30"},
    )

    with pytest.raises(ProviderTransientError) as caught:
        x.fetch_profile(access_token="at-1")

    assert caught.value.retry_after == 30.0
    assert caught.value.http_status == 429


def test_x_s_rate_limit_reset_header_gives_the_retry_after(x, answers):
    reset = int(time.time()) + 120
    answers.post(
        TWEETS_URL,
        status=429,
        json=problem(
            429,
            "UsageCapExceeded",
            "Usage cap exceeded: Monthly product cap",
            "https://api.twitter.com/2/problems/usage-capped",
        ),
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )

    with pytest.raises(ProviderTransientError) as caught:
        x.publish(access_token="at-1", text="hello", media_urls=[])

    assert 110 <= caught.value.retry_after <= 121
    assert caught.value.error_code == "usage-capped"


def test_a_401_problem_is_definitive(x, answers):
    answers.get(ME_URL, status=401, json=problem(401, "Unauthorized", "Unauthorized"))

    with pytest.raises(ProviderDefinitiveError) as caught:
        x.fetch_profile(access_token="at-1")

    assert caught.value.http_status == 401


def test_duplicate_content_is_a_refused_request(x, answers):
    answers.post(
        TWEETS_URL,
        status=403,
        json=problem(
            403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
        ),
    )

    with pytest.raises(ProviderRequestError) as caught:
        x.publish(access_token="at-1", text="again", media_urls=[])

    assert caught.value.error_code == "duplicate"
    assert not isinstance(caught.value, ProviderDefinitiveError)


def test_a_forbidden_client_is_a_refused_request(x, answers):
    answers.post(
        TWEETS_URL,
        status=403,
        json={
            "title": "Client Forbidden",
            "detail": "This request must be made using an approved developer account.",
            "reason": "client-not-enrolled",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
            "status": 403,
        },
    )

    with pytest.raises(ProviderRequestError) as caught:
        x.publish(access_token="at-1", text="hi", media_urls=[])

    assert caught.value.error_code == "client-forbidden"


# --- profile --------------------------------------------------------------------------------


def test_the_profile_is_read_from_users_me(x, answers):
    answers.get(
        ME_URL,
        json={
            "data": {
                "id": "2244994945",
                "name": "X Dev",
                "username": "XDevelopers",
                "profile_image_url": "https://pbs.twimg.com/profile_images/1/a_normal.jpg",
                "verified": True,
                "public_metrics": {
                    "followers_count": 583423,
                    "following_count": 2048,
                    "tweet_count": 14052,
                    "listed_count": 1672,
                },
            }
        },
    )

    profile = x.fetch_profile(access_token="at-1")

    assert profile.platform_user_id == "2244994945"
    assert (profile.username, profile.display_name) == ("XDevelopers", "X Dev")
    assert profile.avatar_url == "https://pbs.twimg.com/profile_images/1/a_normal.jpg"
    assert (profile.follower_count, profile.following_count, profile.post_count) == (
        583423,
        2048,
        14052,
    )
    assert profile.metadata == {"verified": True}
    (call,) = answers.calls
    assert call.request.headers["Authorization"] == "Bearer at-1"
    query = parse_qs(urlsplit(call.request.url).query)
    assert query["user.fields"] == ["profile_image_url,public_metrics,verified,name,username"]


# --- publish --------------------------------------------------------------------------------


def test_a_text_post(x, answers):
    answers.post(TWEETS_URL, status=201, json={"data": {"id": "1445880548472328192", "text": "hi"}})

    result = x.publish(access_token="at-1", text="hi", media_urls=[], idempotency_key="pt-1")

    assert result.platform_post_id == "1445880548472328192"
    (call,) = answers.calls
    assert call.request.headers["Authorization"] == "Bearer at-1"
    assert json.loads(call.request.body) == {"text": "hi"}


def test_a_post_with_images_uploads_each_then_names_them(x, answers):
    for name in ("a", "b"):
        answers.get(
            f"https://cdn.example.com/{name}.jpg",
            body=b"jpeg-" + name.encode(),
            content_type="image/jpeg",
        )
    answers.post(UPLOAD_URL, json={"data": {"id": "111", "media_key": "3_111"}})
    answers.post(UPLOAD_URL, json={"data": {"id": "222", "media_key": "3_222"}})
    answers.post(TWEETS_URL, status=201, json={"data": {"id": "9", "text": "pics"}})

    result = x.publish(
        access_token="at-1",
        text="pics",
        media_urls=["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"],
    )

    assert result.platform_post_id == "9"
    urls = [call.request.url for call in answers.calls]
    assert urls == [
        "https://cdn.example.com/a.jpg",
        "https://cdn.example.com/b.jpg",
        UPLOAD_URL,
        UPLOAD_URL,
        TWEETS_URL,
    ]
    assert "Authorization" not in answers.calls[0].request.headers  # a public URL
    upload = answers.calls[2].request
    assert upload.headers["Authorization"] == "Bearer at-1"
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="media_category"\r\n\r\ntweet_image' in upload.body
    assert b'name="media_type"\r\n\r\nimage/jpeg' in upload.body
    assert b"jpeg-a" in upload.body
    assert json.loads(answers.calls[4].request.body) == {
        "text": "pics",
        "media": {"media_ids": ["111", "222"]},
    }


def test_a_video_goes_through_the_chunked_upload_and_waits_for_processing(x, answers, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("accounts.providers.x.time.sleep", slept.append)
    answers.get("https://cdn.example.com/clip.mp4", body=b"v" * 100, content_type="video/mp4")
    answers.post(f"{UPLOAD_URL}/initialize", json={"data": {"id": "77", "media_key": "7_77"}})
    answers.post(f"{UPLOAD_URL}/77/append", status=200, json={})
    answers.post(
        f"{UPLOAD_URL}/77/finalize",
        json={"data": {"id": "77", "processing_info": {"state": "pending", "check_after_secs": 2}}},
    )
    answers.get(
        UPLOAD_URL,
        json={"data": {"id": "77", "processing_info": {"state": "succeeded"}}},
    )
    answers.post(TWEETS_URL, status=201, json={"data": {"id": "10", "text": "clip"}})

    result = x.publish(
        access_token="at-1", text="clip", media_urls=["https://cdn.example.com/clip.mp4"]
    )

    assert result.platform_post_id == "10"
    assert slept == [2.0]
    initialize, append, _finalize, status = (call.request for call in answers.calls[1:5])
    assert json.loads(initialize.body) == {
        "media_type": "video/mp4",
        "total_bytes": 100,
        "media_category": "tweet_video",
    }
    assert b'name="segment_index"\r\n\r\n0' in append.body and b"v" * 100 in append.body
    assert parse_qs(urlsplit(status.url).query) == {"command": ["STATUS"], "media_id": ["77"]}
    assert json.loads(answers.calls[5].request.body) == {
        "text": "clip",
        "media": {"media_ids": ["77"]},
    }


def test_failed_video_processing_is_a_refused_request(x, answers, monkeypatch):
    monkeypatch.setattr("accounts.providers.x.time.sleep", lambda seconds: None)
    answers.get("https://cdn.example.com/clip.mp4", body=b"v" * 10, content_type="video/mp4")
    answers.post(f"{UPLOAD_URL}/initialize", json={"data": {"id": "78"}})
    answers.post(f"{UPLOAD_URL}/78/append", json={})
    answers.post(
        f"{UPLOAD_URL}/78/finalize",
        json={
            "data": {
                "id": "78",
                "processing_info": {
                    "state": "failed",
                    "error": {"code": 1, "name": "InvalidMedia", "message": "Unsupported video"},
                },
            }
        },
    )

    with pytest.raises(ProviderRequestError, match="Unsupported video"):
        x.publish(access_token="at-1", text="clip", media_urls=["https://cdn.example.com/clip.mp4"])

    assert all(call.request.url != TWEETS_URL for call in answers.calls)


@pytest.mark.parametrize(
    ("text", "media_urls"),
    [
        ("", []),
        ("   ", []),
        ("five", [f"https://cdn.example.com/{n}.jpg" for n in range(5)]),
    ],
)
def test_a_post_x_would_refuse_is_refused_before_calling_x(x, answers, text, media_urls):
    with pytest.raises(ProviderRequestError):
        x.publish(access_token="at-1", text=text, media_urls=media_urls)

    assert len(answers.calls) == 0


def test_a_video_with_images_is_refused_before_calling_x(x, answers):
    answers.get("https://cdn.example.com/clip.mp4", body=b"v", content_type="video/mp4")
    answers.get("https://cdn.example.com/a.jpg", body=b"i", content_type="image/jpeg")

    with pytest.raises(ProviderRequestError, match="on its own"):
        x.publish(
            access_token="at-1",
            text="mixed",
            media_urls=["https://cdn.example.com/clip.mp4", "https://cdn.example.com/a.jpg"],
        )

    assert all("api.x.com" not in call.request.url for call in answers.calls)


def test_media_that_cannot_be_fetched_is_refused_before_calling_x(x, answers):
    answers.get("https://cdn.example.com/gone.jpg", status=404)

    with pytest.raises(ProviderRequestError, match="media 1 could not be fetched"):
        x.publish(access_token="at-1", text="t", media_urls=["https://cdn.example.com/gone.jpg"])

    assert all("api.x.com" not in call.request.url for call in answers.calls)


# --- revoke ---------------------------------------------------------------------------------


def test_revoke_revokes_the_refresh_then_the_access_token(x, answers):
    answers.post(REVOKE_URL, json={"revoked": True})
    answers.post(REVOKE_URL, json={"revoked": True})

    x.revoke(access_token="at-1", refresh_token="rt-1")

    assert [form(call) for call in answers.calls] == [
        {"token": "rt-1", "token_type_hint": "refresh_token"},
        {"token": "at-1", "token_type_hint": "access_token"},
    ]
    assert all(call.request.headers["Authorization"] == BASIC for call in answers.calls)


def test_a_revoke_x_refuses_is_raised(x, answers):
    answers.post(REVOKE_URL, status=503, body="")

    with pytest.raises(ProviderTransientError):
        x.revoke(access_token="at-1", refresh_token="")


# --- against the fake -----------------------------------------------------------------------


def test_connect_refresh_publish_and_revoke_against_the_x_fake(fakes, monkeypatch):
    monkeypatch.setattr("accounts.providers.x.time.sleep", lambda seconds: None)
    fake = fakes["x"]
    x = provider_for("x")
    assert isinstance(x, XProvider)
    verifier, challenge = pkce_pair()

    url = x.authorization_url(
        state="st-9", code_challenge=challenge, redirect_uri=REDIRECT_URI, options={}
    )
    answer = provider_http.request("GET", url, allow_redirects=False)
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert back["state"] == ["st-9"]

    tokens = x.exchange_code(
        code=back["code"][0], redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    profile = x.fetch_profile(access_token=tokens.access_token)
    upstream = fake.users["fakeuser"]
    assert (profile.username, profile.follower_count) == (upstream.handle, upstream.followers)
    assert profile.platform_user_id == upstream.id

    refreshed = x.refresh(refresh_token=tokens.refresh_token)
    assert refreshed.refresh_token != tokens.refresh_token  # rotated
    with pytest.raises(ProviderDefinitiveError):
        x.refresh(refresh_token=tokens.refresh_token)  # the old one is spent
    with pytest.raises(ProviderDefinitiveError):
        x.fetch_profile(access_token=tokens.access_token)

    result = x.publish(
        access_token=refreshed.access_token,
        text="Hello from the X fake",
        media_urls=list(fake.e2e_media_urls),
    )
    video = x.publish(
        access_token=refreshed.access_token,
        text="A clip",
        media_urls=["https://cdn.example.com/x/clip.mp4"],
    )
    assert [post["id"] for post in fake.published] == [
        result.platform_post_id,
        video.platform_post_id,
    ]
    assert fake.published[0]["text"] == "Hello from the X fake"
    assert len(fake.published[0]["media_ids"]) == 1
    with pytest.raises(ProviderRequestError) as duplicate:
        x.publish(access_token=refreshed.access_token, text="A clip", media_urls=[])
    assert duplicate.value.error_code == "duplicate"

    x.revoke(access_token=refreshed.access_token, refresh_token=refreshed.refresh_token)
    assert fake.revoked == [refreshed.refresh_token, refreshed.access_token]
    with pytest.raises(ProviderDefinitiveError):
        x.fetch_profile(access_token=refreshed.access_token)
    with pytest.raises(ProviderDefinitiveError):
        x.refresh(refresh_token=refreshed.refresh_token)


def test_the_fake_refuses_a_wrong_verifier(fakes):
    x = provider_for("x")
    _verifier, challenge = pkce_pair()
    url = x.authorization_url(
        state="s", code_challenge=challenge, redirect_uri=REDIRECT_URI, options={}
    )
    answer = provider_http.request("GET", url, allow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]

    with pytest.raises(ProviderRequestError):
        x.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier="not-it")
