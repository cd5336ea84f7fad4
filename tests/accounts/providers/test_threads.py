"""The Threads adapter against hand-built Threads API answers."""

from __future__ import annotations

import pytest

from accounts.providers import ProviderRequestError
from accounts.providers.meta import ThreadsProvider
from tests.accounts.providers.meta_answers import (
    CREDENTIALS,
    LONG_TTL,
    REDIRECT,
    TH_API,
    TH_GRAPH,
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
def threads():
    return ThreadsProvider(CREDENTIALS)


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
