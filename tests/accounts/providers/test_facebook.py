"""The Facebook Pages adapter against hand-built Graph API answers."""

from __future__ import annotations

import json

import pytest

from accounts.providers import ProviderDefinitiveError, ProviderRequestError
from accounts.providers.meta import FacebookPageProvider
from tests.accounts.providers.meta_answers import (
    CREDENTIALS,
    FB_GRAPH,
    LONG_TTL,
    REDIRECT,
    endpoint,
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
def facebook():
    return FacebookPageProvider(CREDENTIALS)


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
