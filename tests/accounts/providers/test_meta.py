"""Meta's adapters (Instagram, Facebook Pages, Threads) against hand-built Graph API answers,
then end to end against their local fakes."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from django.utils import timezone

from accounts.providers import (
    ProviderDefinitiveError,
    ProviderRequestError,
    ProviderTransientError,
    adapter_classes,
    meta,
    provider_for,
)
from accounts.providers import http as provider_http
from accounts.providers.meta import (
    FacebookPageProvider,
    InstagramProvider,
    ThreadsProvider,
)
from accounts.providers.oauth2 import Credentials

CREDENTIALS = Credentials("fake-client-id", "fake-client-secret")
REDIRECT = "https://app.example.com/oauth/callback"
V = meta.GRAPH_API_VERSION
IG_GRAPH = "https://graph.instagram.com"
IG_API = f"{IG_GRAPH}/{V}"
FB_GRAPH = f"https://graph.facebook.com/{V}"
TH_GRAPH = "https://graph.threads.net"
TH_API = f"{TH_GRAPH}/{meta.THREADS_API_VERSION}"
LONG_TTL = 5_183_944


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    """Container polling does not really sleep; the naps taken are recorded."""
    naps: list[float] = []
    monkeypatch.setattr(meta.time, "sleep", naps.append)
    return naps


@pytest.fixture
def instagram():
    return InstagramProvider(CREDENTIALS)


@pytest.fixture
def facebook():
    return FacebookPageProvider(CREDENTIALS)


@pytest.fixture
def threads():
    return ThreadsProvider(CREDENTIALS)


def query(call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


def form(call) -> dict[str, str]:
    body = call.request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return dict(parse_qsl(body, keep_blank_values=True))


def endpoint(call) -> str:
    parts = urlsplit(call.request.url)
    return f"{call.request.method} {parts.scheme}://{parts.netloc}{parts.path}"


def graph_error(code: int, subcode: int | None = None, **extra) -> dict:
    error = {"message": f"error {code}", "type": "OAuthException", "code": code, **extra}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "AbCdEf"
    return {"error": error}


def expires_soon(expires_at, seconds: int = LONG_TTL) -> bool:
    expected = timezone.now() + dt.timedelta(seconds=seconds)
    return abs((expires_at - expected).total_seconds()) < 30


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


# --- Instagram -----------------------------------------------------------------------------


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


# --- Facebook Pages --------------------------------------------------------------------------


def register_facebook_connect(answers, pages: list[dict]) -> None:
    answers.get(
        f"{FB_GRAPH}/oauth/access_token",
        json={"access_token": "EAAshort", "token_type": "bearer", "expires_in": 5183},
    )
    answers.get(
        f"{FB_GRAPH}/oauth/access_token",
        json={"access_token": "EAAlong", "token_type": "bearer", "expires_in": LONG_TTL},
    )
    answers.get(f"{FB_GRAPH}/me/accounts", json={"data": pages, "paging": {}})
    answers.get(
        f"{FB_GRAPH}/me/permissions",
        json={
            "data": [
                {"permission": "pages_show_list", "status": "granted"},
                {"permission": "pages_manage_posts", "status": "granted"},
                {"permission": "pages_read_engagement", "status": "declined"},
            ]
        },
    )


def test_facebook_exchanges_the_code_and_keeps_the_page_token(facebook, answers):
    register_facebook_connect(
        answers,
        [
            {"id": "111", "name": "Read only", "access_token": "PAGE1", "tasks": ["ANALYZE"]},
            {
                "id": "222",
                "name": "My Page",
                "access_token": "PAGE2",
                "tasks": ["CREATE_CONTENT", "MODERATE"],
            },
        ],
    )

    tokens = facebook.exchange_code(code="the-code", redirect_uri=REDIRECT, code_verifier="v")

    assert tokens.access_token == "PAGE2"  # the first Page the user can post to
    assert tokens.refresh_token == "222|EAAlong"
    assert tokens.expires_at is None  # a Page token from a long-lived user token
    assert tokens.scopes == ["pages_show_list", "pages_manage_posts"]
    code, exchange, accounts, permissions = answers.calls
    assert endpoint(code) == f"GET {FB_GRAPH}/oauth/access_token"
    assert query(code) == {
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
        "redirect_uri": REDIRECT,
        "code": "the-code",
    }  # no code_verifier, no grant_type: Facebook Login's documented GET
    assert query(exchange) == {
        "grant_type": "fb_exchange_token",
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
        "fb_exchange_token": "EAAshort",
    }
    assert query(accounts)["access_token"] == "EAAlong"
    assert query(permissions) == {"access_token": "EAAlong"}


def test_facebook_without_a_granted_page_the_connect_is_refused(facebook, answers):
    register_facebook_connect(answers, [])

    with pytest.raises(ProviderRequestError, match="no Facebook Page"):
        facebook.exchange_code(code="c", redirect_uri=REDIRECT, code_verifier="")


def test_facebook_an_expired_code_is_a_request_error(facebook, answers):
    answers.get(f"{FB_GRAPH}/oauth/access_token", status=400, json=graph_error(100, 36007))

    with pytest.raises(ProviderRequestError) as caught:
        facebook.exchange_code(code="old", redirect_uri=REDIRECT, code_verifier="")
    assert caught.value.error_code == "100/36007"


def test_facebook_refresh_reads_the_same_pages_token_again(facebook, answers):
    answers.get(
        f"{FB_GRAPH}/me/accounts",
        json={
            "data": [
                {"id": "111", "access_token": "OTHER", "tasks": ["CREATE_CONTENT"]},
                {"id": "222", "access_token": "PAGE2b", "tasks": ["CREATE_CONTENT"]},
            ]
        },
    )

    tokens = facebook.refresh(refresh_token="222|EAAlong")

    assert (tokens.access_token, tokens.refresh_token) == ("PAGE2b", "222|EAAlong")
    assert tokens.expires_at is None
    assert query(answers.calls[0])["access_token"] == "EAAlong"


def test_facebook_refresh_after_the_page_was_ungranted_is_definitive(facebook, answers):
    answers.get(f"{FB_GRAPH}/me/accounts", json={"data": []})

    with pytest.raises(ProviderDefinitiveError):
        facebook.refresh(refresh_token="222|EAAlong")


def test_facebook_profile_is_the_page(facebook, answers):
    answers.get(
        f"{FB_GRAPH}/me",
        json={
            "id": "222",
            "name": "My Page",
            "username": "mypage",
            "category": "Musician/Band",
            "link": "https://www.facebook.com/mypage",
            "picture": {"data": {"url": "https://scontent.xx.fbcdn.net/p.jpg"}},
            "followers_count": 3100,
            "fan_count": 3000,
        },
    )

    profile = facebook.fetch_profile(access_token="PAGE2")

    assert profile.platform_user_id == "222"
    assert (profile.username, profile.display_name) == ("mypage", "My Page")
    assert profile.avatar_url == "https://scontent.xx.fbcdn.net/p.jpg"
    assert (profile.account_type, profile.follower_count) == ("page", 3100)
    assert profile.metadata["page_category"] == "Musician/Band"
    assert query(answers.calls[0])["access_token"] == "PAGE2"


def test_facebook_profile_falls_back_on_fan_count(facebook, answers):
    answers.get(f"{FB_GRAPH}/me", json={"id": "222", "name": "Old Page", "fan_count": 17})

    profile = facebook.fetch_profile(access_token="PAGE2")

    assert (profile.follower_count, profile.username, profile.avatar_url) == (17, None, None)


def test_facebook_publishes_text_to_the_feed(facebook, answers):
    answers.get(f"{FB_GRAPH}/me", json={"id": "222"})
    answers.post(f"{FB_GRAPH}/222/feed", json={"id": "222_999"})

    result = facebook.publish(access_token="PAGE2", text="Hello", media_urls=[])

    assert result.platform_post_id == "222_999"
    assert query(answers.calls[0]) == {"fields": "id", "access_token": "PAGE2"}
    assert endpoint(answers.calls[1]) == f"POST {FB_GRAPH}/222/feed"
    assert form(answers.calls[1]) == {"message": "Hello", "access_token": "PAGE2"}


def test_facebook_publishes_a_photo(facebook, answers):
    answers.get(f"{FB_GRAPH}/me", json={"id": "222"})
    answers.post(f"{FB_GRAPH}/222/photos", json={"id": "555", "post_id": "222_556"})

    result = facebook.publish(
        access_token="PAGE2", text="Look", media_urls=["https://cdn.example.com/a.jpg"]
    )

    assert result.platform_post_id == "222_556"
    assert form(answers.calls[1]) == {
        "url": "https://cdn.example.com/a.jpg",
        "caption": "Look",
        "access_token": "PAGE2",
    }


def test_facebook_publishes_several_photos_as_one_post(facebook, answers):
    answers.get(f"{FB_GRAPH}/me", json={"id": "222"})
    answers.post(f"{FB_GRAPH}/222/photos", json={"id": "p1"})
    answers.post(f"{FB_GRAPH}/222/photos", json={"id": "p2"})
    answers.post(f"{FB_GRAPH}/222/feed", json={"id": "222_7"})

    result = facebook.publish(
        access_token="PAGE2",
        text="Album",
        media_urls=["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.png"],
    )

    assert result.platform_post_id == "222_7"
    assert form(answers.calls[1]) == {
        "url": "https://cdn.example.com/a.jpg",
        "published": "false",
        "access_token": "PAGE2",
    }
    feed = form(answers.calls[3])
    assert feed["message"] == "Album"
    assert json.loads(feed["attached_media[0]"]) == {"media_fbid": "p1"}
    assert json.loads(feed["attached_media[1]"]) == {"media_fbid": "p2"}


def test_facebook_publishes_a_video(facebook, answers):
    answers.get(f"{FB_GRAPH}/me", json={"id": "222"})
    answers.post(f"{FB_GRAPH}/222/videos", json={"id": "v1"})

    result = facebook.publish(
        access_token="PAGE2", text="Watch", media_urls=["https://cdn.example.com/v.mp4"]
    )

    assert result.platform_post_id == "v1"
    assert form(answers.calls[1]) == {
        "file_url": "https://cdn.example.com/v.mp4",
        "description": "Watch",
        "access_token": "PAGE2",
    }


def test_facebook_refuses_empty_posts_and_mixed_video_before_calling(facebook, answers):
    with pytest.raises(ProviderRequestError, match="text or media"):
        facebook.publish(access_token="PAGE2", text="", media_urls=[])
    with pytest.raises(ProviderRequestError, match="one video"):
        facebook.publish(
            access_token="PAGE2",
            text="x",
            media_urls=["https://cdn.example.com/v.mp4", "https://cdn.example.com/a.jpg"],
        )
    assert len(answers.calls) == 0


def test_facebook_a_duplicate_post_is_a_request_error(facebook, answers):
    answers.get(f"{FB_GRAPH}/me", json={"id": "222"})
    answers.post(f"{FB_GRAPH}/222/feed", status=400, json=graph_error(506))

    with pytest.raises(ProviderRequestError) as caught:
        facebook.publish(access_token="PAGE2", text="again", media_urls=[])
    assert caught.value.error_code == "506"


def test_facebook_revoke_deletes_the_permissions_with_the_user_token(facebook, answers):
    answers.delete(f"{FB_GRAPH}/me/permissions", json={"success": True})

    facebook.revoke(access_token="PAGE2", refresh_token="222|EAAlong")

    (call,) = answers.calls
    assert endpoint(call) == f"DELETE {FB_GRAPH}/me/permissions"
    assert query(call) == {"access_token": "EAAlong"}


def test_facebook_revoke_without_a_user_token_calls_nothing(facebook, answers):
    facebook.revoke(access_token="PAGE2", refresh_token="")
    assert len(answers.calls) == 0


# --- Threads -----------------------------------------------------------------------------


def test_threads_exchanges_the_code_then_gets_a_long_lived_token(threads, answers):
    answers.post(f"{TH_GRAPH}/oauth/access_token", json={"access_token": "THshort", "user_id": 7})
    answers.get(
        f"{TH_GRAPH}/access_token",
        json={"access_token": "THlong", "token_type": "bearer", "expires_in": LONG_TTL},
    )

    tokens = threads.exchange_code(code="the-code", redirect_uri=REDIRECT, code_verifier="v")

    assert (tokens.access_token, tokens.refresh_token) == ("THlong", "THlong")
    assert expires_soon(tokens.expires_at)
    exchange, long_lived = answers.calls
    assert endpoint(exchange) == f"POST {TH_GRAPH}/oauth/access_token"
    assert form(exchange) == {
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
        "code": "the-code",
    }
    assert query(long_lived) == {
        "grant_type": "th_exchange_token",
        "client_secret": "fake-client-secret",
        "access_token": "THshort",
    }


def test_threads_refreshes_the_long_lived_token_with_itself(threads, answers):
    answers.get(
        f"{TH_GRAPH}/refresh_access_token",
        json={"access_token": "THlong2", "token_type": "bearer", "expires_in": LONG_TTL},
    )

    tokens = threads.refresh(refresh_token="THlong")

    assert (tokens.access_token, tokens.refresh_token) == ("THlong2", "THlong2")
    assert query(answers.calls[0]) == {"grant_type": "th_refresh_token", "access_token": "THlong"}


def test_threads_profile_with_followers_from_insights(threads, answers):
    answers.get(
        f"{TH_API}/me",
        json={
            "id": "7",
            "username": "writer",
            "name": "A Writer",
            "threads_profile_picture_url": "https://scontent.cdninstagram.com/t.jpg",
        },
    )
    answers.get(
        f"{TH_API}/7/threads_insights",
        json={
            "data": [{"name": "followers_count", "period": "day", "total_value": {"value": 912}}]
        },
    )

    profile = threads.fetch_profile(access_token="THlong")

    assert profile.platform_user_id == "7"
    assert (profile.username, profile.display_name) == ("writer", "A Writer")
    assert profile.avatar_url == "https://scontent.cdninstagram.com/t.jpg"
    assert profile.follower_count == 912
    assert query(answers.calls[1]) == {"metric": "followers_count", "access_token": "THlong"}


def test_threads_profile_without_the_insights_permission_counts_no_followers(threads, answers):
    answers.get(f"{TH_API}/me", json={"id": "7", "username": "writer"})
    answers.get(f"{TH_API}/7/threads_insights", status=403, json=graph_error(10))

    assert threads.fetch_profile(access_token="THlong").follower_count == 0


def test_threads_publishes_text(threads, answers, no_waiting):
    answers.get(f"{TH_API}/me", json={"id": "7"})
    answers.post(f"{TH_API}/7/threads", json={"id": "c9"})
    answers.post(f"{TH_API}/7/threads_publish", json={"id": "t9"})

    result = threads.publish(access_token="THlong", text="Hello", media_urls=[])

    assert result.platform_post_id == "t9"
    assert [endpoint(c) for c in answers.calls] == [
        f"GET {TH_API}/me",
        f"POST {TH_API}/7/threads",
        f"POST {TH_API}/7/threads_publish",
    ]
    assert form(answers.calls[1]) == {
        "media_type": "TEXT",
        "text": "Hello",
        "access_token": "THlong",
    }
    assert form(answers.calls[2]) == {"creation_id": "c9", "access_token": "THlong"}
    assert no_waiting == []


def test_threads_publishes_an_image_once_processed(threads, answers):
    answers.get(f"{TH_API}/me", json={"id": "7"})
    answers.post(f"{TH_API}/7/threads", json={"id": "c1"})
    answers.get(f"{TH_API}/c1", json={"status": "FINISHED", "id": "c1"})
    answers.post(f"{TH_API}/7/threads_publish", json={"id": "t1"})

    threads.publish(access_token="t", text="Pic", media_urls=["https://cdn.example.com/a.jpg"])

    assert form(answers.calls[1]) == {
        "media_type": "IMAGE",
        "image_url": "https://cdn.example.com/a.jpg",
        "text": "Pic",
        "access_token": "t",
    }
    assert query(answers.calls[2])["fields"] == "status,error_message"


def test_threads_publishes_a_carousel(threads, answers):
    answers.get(f"{TH_API}/me", json={"id": "7"})
    for container in ("k1", "k2", "car"):
        answers.post(f"{TH_API}/7/threads", json={"id": container})
    answers.get(f"{TH_API}/car", json={"status": "FINISHED"})
    answers.post(f"{TH_API}/7/threads_publish", json={"id": "t2"})

    threads.publish(
        access_token="t",
        text="Both",
        media_urls=["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.png"],
    )

    posts = [form(c) for c in answers.calls if c.request.method == "POST"]
    assert posts[0]["is_carousel_item"] == "true" and posts[0]["media_type"] == "IMAGE"
    assert posts[2] == {
        "media_type": "CAROUSEL",
        "children": "k1,k2",
        "text": "Both",
        "access_token": "t",
    }


def test_threads_refuses_what_it_would_refuse_before_calling(threads, answers):
    with pytest.raises(ProviderRequestError, match="text or media"):
        threads.publish(access_token="t", text="", media_urls=[])
    with pytest.raises(ProviderRequestError, match="500 characters"):
        threads.publish(access_token="t", text="x" * 501, media_urls=[])
    assert len(answers.calls) == 0


def test_threads_a_failed_container_names_the_reason(threads, answers):
    answers.get(f"{TH_API}/me", json={"id": "7"})
    answers.post(f"{TH_API}/7/threads", json={"id": "c1"})
    answers.get(
        f"{TH_API}/c1", json={"status": "ERROR", "error_message": "FAILED_DOWNLOADING_VIDEO"}
    )

    with pytest.raises(ProviderRequestError, match="FAILED_DOWNLOADING_VIDEO"):
        threads.publish(access_token="t", text="", media_urls=["https://cdn.example.com/v.mp4"])


def test_threads_revoke_is_a_documented_no_op(threads, answers):
    threads.revoke(access_token="THlong", refresh_token="THlong")
    assert len(answers.calls) == 0


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


def authorize_through(provider, fake) -> tuple[str, str]:
    url = provider.authorization_url(
        state="e2e-state", code_challenge="unused", redirect_uri=REDIRECT, options={}
    )
    answer = provider_http.request("GET", url, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    params = parse_qs(back.query)
    assert params["state"] == ["e2e-state"]
    return params["code"][0], params["state"][0]


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
