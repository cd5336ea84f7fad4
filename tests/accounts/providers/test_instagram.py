"""The Instagram adapter against hand-built Graph API answers, then against its fake."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from accounts.providers import ProviderRequestError, ProviderTransientError, provider_for
from accounts.providers.meta import InstagramProvider
from tests.accounts.providers.meta_answers import (
    CREDENTIALS,
    IG_API,
    IG_GRAPH,
    LONG_TTL,
    REDIRECT,
    authorize_through,
    endpoint,
    expires_soon,
    form,
    graph_error,
    query,
    record_naps,
)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    """Container polling does not really sleep; the naps taken are recorded."""
    return record_naps(monkeypatch)


@pytest.fixture
def instagram():
    return InstagramProvider(CREDENTIALS)


def test_instagram_exchanges_the_code_then_gets_a_long_lived_token(instagram, answers):
    answers.post(
        "https://api.instagram.com/oauth/access_token",
        json={
            "data": [
                {
                    "access_token": "IGshort",
                    "user_id": 17841400000,
                    "permissions": "instagram_business_basic,instagram_business_content_publish",
                }
            ]
        },
    )
    answers.get(
        f"{IG_GRAPH}/access_token",
        json={"access_token": "IGlong", "token_type": "bearer", "expires_in": LONG_TTL},
    )

    tokens = instagram.exchange_code(code="the-code", redirect_uri=REDIRECT, code_verifier="v")

    assert tokens.access_token == "IGlong"
    assert tokens.refresh_token == "IGlong"  # the long-lived token refreshes itself
    assert expires_soon(tokens.expires_at)
    assert tokens.scopes == ["instagram_business_basic", "instagram_business_content_publish"]
    exchange, long_lived = answers.calls
    assert endpoint(exchange) == "POST https://api.instagram.com/oauth/access_token"
    assert form(exchange) == {
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
        "code": "the-code",
    }  # no code_verifier: no PKCE
    assert endpoint(long_lived) == f"GET {IG_GRAPH}/access_token"
    assert query(long_lived) == {
        "grant_type": "ig_exchange_token",
        "client_secret": "fake-client-secret",
        "access_token": "IGshort",
    }


def test_instagram_reads_the_flat_token_answer_too(instagram, answers):
    answers.post(
        "https://api.instagram.com/oauth/access_token",
        json={"access_token": "IGshort", "user_id": 1, "permissions": ["instagram_business_basic"]},
    )
    answers.get(f"{IG_GRAPH}/access_token", json={"access_token": "IGlong", "expires_in": 60})

    tokens = instagram.exchange_code(code="c", redirect_uri=REDIRECT, code_verifier="")

    assert tokens.scopes == ["instagram_business_basic"]
    assert query(answers.calls[1])["access_token"] == "IGshort"


def test_instagram_refuses_a_used_code_as_a_request_error(instagram, answers):
    answers.post(
        "https://api.instagram.com/oauth/access_token",
        status=400,
        json={
            "error_type": "OAuthException",
            "code": 400,
            "error_message": "Matching code was not found or was already used",
        },
    )

    with pytest.raises(ProviderRequestError) as caught:
        instagram.exchange_code(code="used", redirect_uri=REDIRECT, code_verifier="")
    assert caught.value.http_status == 400
    assert len(answers.calls) == 1


def test_instagram_refreshes_the_long_lived_token_with_itself(instagram, answers):
    answers.get(
        f"{IG_GRAPH}/refresh_access_token",
        json={"access_token": "IGlong2", "token_type": "bearer", "expires_in": LONG_TTL},
    )

    tokens = instagram.refresh(refresh_token="IGlong")

    assert (tokens.access_token, tokens.refresh_token) == ("IGlong2", "IGlong2")
    assert expires_soon(tokens.expires_at)
    assert query(answers.calls[0]) == {"grant_type": "ig_refresh_token", "access_token": "IGlong"}


def test_instagram_profile(instagram, answers):
    answers.get(
        f"{IG_API}/me",
        json={
            "id": "2610000000000001",
            "user_id": "17841400000000001",
            "username": "creator",
            "name": "The Creator",
            "account_type": "MEDIA_CREATOR",
            "profile_picture_url": "https://scontent.cdninstagram.com/p.jpg",
            "followers_count": 4321,
            "follows_count": 12,
            "media_count": 87,
        },
    )

    profile = instagram.fetch_profile(access_token="IGlong")

    assert profile.platform_user_id == "17841400000000001"
    assert (profile.username, profile.display_name) == ("creator", "The Creator")
    assert profile.avatar_url == "https://scontent.cdninstagram.com/p.jpg"
    assert profile.account_type == "media_creator"
    assert (profile.follower_count, profile.following_count, profile.post_count) == (4321, 12, 87)
    assert profile.metadata == {"instagram_app_scoped_id": "2610000000000001"}
    sent = query(answers.calls[0])
    assert sent["access_token"] == "IGlong"
    assert set(sent["fields"].split(",")) >= {
        "user_id",
        "username",
        "name",
        "profile_picture_url",
        "followers_count",
        "follows_count",
        "media_count",
    }


def test_instagram_publishes_an_image_through_a_container(instagram, answers):
    answers.get(f"{IG_API}/me", json={"user_id": "178414", "id": "261"})
    answers.post(f"{IG_API}/178414/media", json={"id": "c1"})
    answers.get(f"{IG_API}/c1", json={"status_code": "FINISHED", "id": "c1"})
    answers.post(f"{IG_API}/178414/media_publish", json={"id": "m1"})

    result = instagram.publish(
        access_token="IGlong",
        text="Hello",
        media_urls=["https://cdn.example.com/a.jpg"],
        idempotency_key="target-1",
    )

    assert result.platform_post_id == "m1"
    assert [endpoint(c) for c in answers.calls] == [
        f"GET {IG_API}/me",
        f"POST {IG_API}/178414/media",
        f"GET {IG_API}/c1",
        f"POST {IG_API}/178414/media_publish",
    ]
    assert query(answers.calls[0]) == {"fields": "user_id", "access_token": "IGlong"}
    assert form(answers.calls[1]) == {
        "image_url": "https://cdn.example.com/a.jpg",
        "caption": "Hello",
        "access_token": "IGlong",
    }
    assert query(answers.calls[2])["fields"] == "status_code,status"
    assert form(answers.calls[3]) == {"creation_id": "c1", "access_token": "IGlong"}
    # The token never travels in a publish URL's query except for reads.
    assert "access_token" not in urlsplit(answers.calls[1].request.url).query


def test_instagram_publishes_a_carousel_waiting_for_its_video(instagram, answers, no_waiting):
    answers.get(f"{IG_API}/me", json={"user_id": "178414"})
    for container in ("k1", "k2", "car"):
        answers.post(f"{IG_API}/178414/media", json={"id": container})
    answers.get(f"{IG_API}/k2", json={"status_code": "IN_PROGRESS"})
    answers.get(f"{IG_API}/k2", json={"status_code": "FINISHED"})
    answers.get(f"{IG_API}/car", json={"status_code": "FINISHED"})
    answers.post(f"{IG_API}/178414/media_publish", json={"id": "m2"})

    result = instagram.publish(
        access_token="IGlong",
        text="Two",
        media_urls=["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.mp4"],
    )

    assert result.platform_post_id == "m2"
    posts = [form(c) for c in answers.calls if c.request.method == "POST"]
    assert posts[0] == {
        "image_url": "https://cdn.example.com/a.jpg",
        "is_carousel_item": "true",
        "access_token": "IGlong",
    }
    assert posts[1] == {
        "media_type": "VIDEO",
        "video_url": "https://cdn.example.com/b.mp4",
        "is_carousel_item": "true",
        "access_token": "IGlong",
    }
    assert posts[2] == {
        "media_type": "CAROUSEL",
        "children": "k1,k2",
        "caption": "Two",
        "access_token": "IGlong",
    }
    assert posts[3] == {"creation_id": "car", "access_token": "IGlong"}
    assert no_waiting == [InstagramProvider.poll_interval]


def test_instagram_publishes_a_single_video_as_a_reel(instagram, answers):
    answers.get(f"{IG_API}/me", json={"user_id": "178414"})
    answers.post(f"{IG_API}/178414/media", json={"id": "r1"})
    answers.get(f"{IG_API}/r1", json={"status_code": "FINISHED"})
    answers.post(f"{IG_API}/178414/media_publish", json={"id": "m3"})

    instagram.publish(
        access_token="t", text="", media_urls=["https://cdn.example.com/clip.MP4?sig=1"]
    )

    assert form(answers.calls[1]) == {
        "media_type": "REELS",
        "video_url": "https://cdn.example.com/clip.MP4?sig=1",
        "access_token": "t",
    }


def test_instagram_refuses_a_post_without_media_before_calling(instagram, answers):
    with pytest.raises(ProviderRequestError, match="image or video"):
        instagram.publish(access_token="t", text="Only words", media_urls=[])
    with pytest.raises(ProviderRequestError, match="at most 10"):
        instagram.publish(
            access_token="t",
            text="",
            media_urls=[f"https://cdn.example.com/{i}.jpg" for i in range(11)],
        )
    assert len(answers.calls) == 0


def test_instagram_a_container_that_failed_is_a_request_error(instagram, answers):
    answers.get(f"{IG_API}/me", json={"user_id": "178414"})
    answers.post(f"{IG_API}/178414/media", json={"id": "c1"})
    answers.get(f"{IG_API}/c1", json={"status_code": "ERROR", "status": "Error: 2207026"})

    with pytest.raises(ProviderRequestError, match="could not process the media"):
        instagram.publish(access_token="t", text="", media_urls=["https://cdn.example.com/a.jpg"])
    assert not any("media_publish" in c.request.url for c in answers.calls)


def test_instagram_a_container_still_in_progress_is_transient(instagram, answers, no_waiting):
    instagram.poll_attempts = 3
    answers.get(f"{IG_API}/me", json={"user_id": "178414"})
    answers.post(f"{IG_API}/178414/media", json={"id": "c1"})
    answers.get(f"{IG_API}/c1", json={"status_code": "IN_PROGRESS"})

    with pytest.raises(ProviderTransientError) as caught:
        instagram.publish(access_token="t", text="", media_urls=["https://cdn.example.com/a.mp4"])
    assert caught.value.retry_after == 60.0
    assert len(no_waiting) == 2


def test_instagram_daily_publishing_limit_is_transient(instagram, answers):
    answers.get(f"{IG_API}/me", json={"user_id": "178414"})
    answers.post(f"{IG_API}/178414/media", status=400, json=graph_error(9, 2207042))

    with pytest.raises(ProviderTransientError) as caught:
        instagram.publish(access_token="t", text="", media_urls=["https://cdn.example.com/a.jpg"])
    assert caught.value.error_code == "9/2207042"


def test_instagram_revoke_is_a_documented_no_op(instagram, answers):
    instagram.revoke(access_token="IGlong", refresh_token="IGlong")
    assert len(answers.calls) == 0


# --- end to end against the fakes --------------------------------------------------------------


def test_end_to_end_instagram_refuses_a_publish_without_the_publish_scope(fakes, monkeypatch):
    monkeypatch.setattr(InstagramProvider, "default_scopes", ("instagram_business_basic",))
    provider = provider_for("instagram")
    code, _ = authorize_through(provider, fakes["instagram"])
    tokens = provider.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier="")

    with pytest.raises(ProviderRequestError) as caught:
        provider.publish(
            access_token=tokens.access_token,
            text="",
            media_urls=["https://cdn.example.com/photo.jpg"],
        )
    assert caught.value.error_code == "10"
    assert fakes["instagram"].published == []
