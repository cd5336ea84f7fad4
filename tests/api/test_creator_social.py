"""HTTP tests of the creator social API: list, disconnect, profile."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import AuditEvent, Platform, SocialAccount, SocialMetrics, TokenRevocation
from accounts.selectors import creator as selectors
from accounts.services.actors import Actor
from accounts.services.disconnect import social_account_disconnect
from scheduling.models import PostTarget, ScheduledPost
from tests.factories import (
    PostTargetFactory,
    SocialAccountFactory,
    UserFactory,
    account_with_history,
)
from tests.helpers import (
    PROFILE_URL,
    assert_error,
    assert_success,
    bearer_client,
    profile_total,
    run_concurrently,
)

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/creators/social"
DISCONNECT_URL = "/api/v1/creators/social/disconnect"
ITEM_KEYS = {"platform", "platformUsername", "verified", "connectedAt"}


def disconnect(client, body, **kwargs):
    return client.post(DISCONNECT_URL, body, format="json", **kwargs)


PLATFORMS = [choice.value for choice in Platform]


# Envelope ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", LIST_URL, None),
        ("get", PROFILE_URL, None),
        ("post", DISCONNECT_URL, {"platform": "instagram"}),
    ],
)
def test_success_responses_carry_the_envelope_and_a_correlation_id(
    user_client, account, method, path, body
):
    response = getattr(user_client, method)(path, body, format="json")

    assert_success(response)
    uuid.UUID(response["X-Correlation-ID"])  # generated when the client sent none


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", LIST_URL, 401, "AUTH_UNAUTHORIZED"),
        ("post", DISCONNECT_URL, 401, "AUTH_UNAUTHORIZED"),
        ("get", "/api/v1/creators/nothing-here", 404, "NOT_FOUND"),
    ],
)
def test_error_responses_carry_the_envelope_and_a_correlation_id(
    api_client, method, path, status, code
):
    response = getattr(api_client, method)(path, {}, format="json")

    assert_error(response, status, code)


def test_error_echoes_the_correlation_id_sent_by_the_client(user_client):
    response = disconnect(user_client, {"platform": "x"}, HTTP_X_CORRELATION_ID="trace-42.a:b")

    error = assert_error(response, 404, "NOT_FOUND")
    assert error["correlationId"] == "trace-42.a:b"


def test_insane_correlation_id_is_replaced(user_client):
    response = user_client.get(LIST_URL, HTTP_X_CORRELATION_ID="bad id\r\nwith spaces")

    assert_success(response)
    uuid.UUID(response["X-Correlation-ID"])


# GET creators/social ------------------------------------------------------------------


def test_list_shows_only_the_four_public_fields(user_client, account):
    response = user_client.get(LIST_URL)

    rows = assert_success(response)
    assert rows == [
        {
            "platform": "instagram",
            "platformUsername": account.platform_username,
            "verified": True,
            "connectedAt": rows[0]["connectedAt"],
        }
    ]
    assert set(rows[0]) == ITEM_KEYS
    assert parse_datetime(rows[0]["connectedAt"]) == account.connected_at
    content = response.content.decode()
    assert account.access_token not in content
    assert account.refresh_token not in content
    assert account.platform_user_id not in content
    assert str(account.id) not in content


def test_list_is_ordered_oldest_first(user, user_client):
    now = timezone.now()
    SocialAccountFactory(user=user, platform="youtube", connected_at=now - dt.timedelta(days=1))
    SocialAccountFactory(user=user, platform="x", connected_at=now - dt.timedelta(days=30))
    SocialAccountFactory(user=user, platform="bluesky", connected_at=now)
    SocialAccountFactory(user=user, platform="threads", connected_at=now - dt.timedelta(days=7))

    rows = assert_success(user_client.get(LIST_URL))

    assert [row["platform"] for row in rows] == ["x", "threads", "youtube", "bluesky"]
    stamps = [parse_datetime(row["connectedAt"]) for row in rows]
    assert stamps == sorted(stamps)


def test_list_is_capped_at_the_limit_keeping_the_oldest(user, user_client, monkeypatch):
    assert selectors.CREATOR_LIST_LIMIT == 50
    monkeypatch.setattr(selectors, "CREATOR_LIST_LIMIT", 3)
    now = timezone.now()
    for days_ago, platform in zip([2, 5, 1, 4, 3], PLATFORMS, strict=False):
        SocialAccountFactory(
            user=user, platform=platform, connected_at=now - dt.timedelta(days=days_ago)
        )

    rows = assert_success(user_client.get(LIST_URL))

    assert len(rows) == 3
    assert [row["platform"] for row in rows] == [PLATFORMS[1], PLATFORMS[3], PLATFORMS[4]]


def test_list_shows_a_null_username(user, user_client):
    SocialAccountFactory(user=user, platform="bluesky", platform_username=None, display_name=None)

    rows = assert_success(user_client.get(LIST_URL))

    assert rows[0]["platformUsername"] is None
    assert rows[0]["platform"] == "bluesky"


def test_list_shows_the_verified_flag_as_stored(user, user_client):
    SocialAccountFactory(user=user, platform="x", verified=False)

    rows = assert_success(user_client.get(LIST_URL))

    assert rows[0]["verified"] is False


def test_list_excludes_other_users_accounts(user, user_client):
    SocialAccountFactory(user=user, platform="x")
    SocialAccountFactory(platform="instagram")
    SocialAccountFactory(platform="x")

    rows = assert_success(user_client.get(LIST_URL))

    assert [row["platform"] for row in rows] == ["x"]


def test_list_is_empty_for_a_new_creator(user_client):
    assert assert_success(user_client.get(LIST_URL)) == []


def test_list_without_token_is_401(api_client, account):
    assert_error(api_client.get(LIST_URL), 401, "AUTH_UNAUTHORIZED")


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-jwt", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"],
)
def test_list_with_bad_token_is_401(api_client, account, header):
    response = api_client.get(LIST_URL, HTTP_AUTHORIZATION=header)

    assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert account.platform_username not in response.content.decode()


def test_list_query_count_does_not_grow_with_accounts(user, user_client, django_assert_num_queries):
    SocialAccountFactory(user=user, platform=PLATFORMS[0])
    with CaptureQueriesContext(connection) as one_account:
        assert len(assert_success(user_client.get(LIST_URL))) == 1
    for platform in PLATFORMS[1:8]:
        SocialAccountFactory(user=user, platform=platform, followers=10)

    with django_assert_num_queries(len(one_account.captured_queries)):
        assert len(assert_success(user_client.get(LIST_URL))) == 8
    assert len(one_account.captured_queries) == 2  # the user (from the JWT) and the list


# POST creators/social/disconnect ------------------------------------------------------


def test_disconnect_query_count_does_not_grow_with_history(
    user, user_client, django_assert_num_queries
):
    account_with_history(user, Platform.X, queued=1, published=1, snapshots=1, inbox=1)
    account_with_history(
        user, Platform.YOUTUBE, queued=300, published=50, snapshots=3000, inbox=300
    )
    with CaptureQueriesContext(connection) as small:
        assert_success(disconnect(user_client, {"platform": "x"}))

    with django_assert_num_queries(len(small.captured_queries)):
        assert_success(disconnect(user_client, {"platform": "youtube"}))
    assert not SocialAccount.objects.filter(user=user).exists()


def test_profile_query_count_does_not_grow_with_accounts(
    user, user_client, django_assert_num_queries
):
    SocialAccountFactory(user=user, platform=PLATFORMS[0], followers=5)
    with CaptureQueriesContext(connection) as one_account:
        assert profile_total(user_client) == 5
    for platform in PLATFORMS[1:8]:
        SocialAccountFactory(user=user, platform=platform, followers=10)

    with django_assert_num_queries(len(one_account.captured_queries)):
        assert profile_total(user_client) == 75


def test_disconnect_answers_success_only(user_client, account):
    response = disconnect(user_client, {"platform": "instagram"})

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert not SocialMetrics.objects.filter(social_account_id=account.pk).exists()


def test_disconnect_removes_the_account_from_the_list(user, user_client, account):
    SocialAccountFactory(user=user, platform="x")

    disconnect(user_client, {"platform": "instagram"})

    rows = assert_success(user_client.get(LIST_URL))
    assert [row["platform"] for row in rows] == ["x"]


def test_disconnect_recomputes_total_followers(user, user_client, account):
    SocialAccountFactory(user=user, platform="x", followers=300)
    SocialAccountFactory(user=user, platform="youtube", followers=45)
    assert profile_total(user_client) == 1200 + 300 + 45

    assert_success(disconnect(user_client, {"platform": "instagram"}))
    assert profile_total(user_client) == 345

    assert_success(disconnect(user_client, {"platform": "youtube"}))
    assert profile_total(user_client) == 300

    assert_success(disconnect(user_client, {"platform": "x"}))
    assert profile_total(user_client) == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"platform": 5},
        {"platform": None},
        {"platform": []},
        {"platform": {}},
        {"platform": True},
        {"platform": ""},
        {"platform": "myspace"},
        {"platform": "Instagram"},
        {"plattform": "instagram"},
    ],
)
def test_disconnect_with_a_bad_platform_is_400(user_client, account, body):
    response = disconnect(user_client, body)

    error = assert_error(response, 400, "VALIDATION")
    assert error["details"]
    assert all(set(item) == {"field", "message"} for item in error["details"])
    assert [item["field"] for item in error["details"]] == ["platform"]
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_disconnect_of_an_unknown_platform_lists_the_known_ones(user_client, account):
    error = assert_error(disconnect(user_client, {"platform": "myspace"}), 400, "VALIDATION")

    detail = error["details"][0]
    assert detail["field"] == "platform"
    assert "instagram" in detail["message"] and "bluesky" in detail["message"]
    assert "myspace" not in detail["message"]  # input is never echoed back
    assert SocialAccount.objects.filter(pk=account.pk).exists()


@pytest.mark.parametrize("body", [[{"platform": "instagram"}], "instagram", 5])
def test_disconnect_with_a_body_that_is_not_an_object_is_400(user_client, account, body):
    error = assert_error(disconnect(user_client, body), 400, "VALIDATION")

    assert error["details"] == [{"field": "body", "message": error["details"][0]["message"]}]
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_disconnect_with_malformed_json_is_400(user_client, account):
    response = user_client.post(
        DISCONNECT_URL, data='{"platform": "instagram"', content_type="application/json"
    )

    error = assert_error(response, 400, "VALIDATION")
    assert error["details"][0]["field"] == "body"
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_disconnect_of_a_platform_not_connected_is_404(user_client, account):
    response = disconnect(user_client, {"platform": "x"})

    assert_error(response, 404, "NOT_FOUND", "creator.social.not_found")
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_disconnect_cannot_reach_another_users_account(user_client):
    other = SocialAccountFactory(platform="youtube", followers=777)

    response = disconnect(user_client, {"platform": "youtube"})

    assert_error(response, 404, "NOT_FOUND", "creator.social.not_found")
    other.refresh_from_db()
    assert other.metrics.follower_count == 777
    assert profile_total(bearer_client(other.user)) == 777


def test_disconnect_twice_is_404_the_second_time(user_client, account):
    assert_success(disconnect(user_client, {"platform": "instagram"}))

    assert_error(
        disconnect(user_client, {"platform": "instagram"}),
        404,
        "NOT_FOUND",
        "creator.social.not_found",
    )


def test_disconnect_without_token_is_401(api_client, account):
    assert_error(disconnect(api_client, {"platform": "instagram"}), 401, "AUTH_UNAUTHORIZED")
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_disconnect_with_bad_token_is_401(api_client, account):
    response = disconnect(api_client, {"platform": "instagram"}, HTTP_AUTHORIZATION="Bearer x.y.z")

    assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_disconnect_is_rate_limited_after_30_calls_per_user(
    user, user_client, account, steady_clock
):
    """400s and 404s count too; the 31st call is refused whatever it asks."""
    SocialAccountFactory(user=user, platform="x")
    other = SocialAccountFactory(platform="instagram")
    for _ in range(10):
        assert disconnect(user_client, {}).status_code == 400
    for _ in range(19):
        assert disconnect(user_client, {"platform": "youtube"}).status_code == 404
    assert_success(disconnect(user_client, {"platform": "instagram"}))  # call 30

    response = disconnect(user_client, {"platform": "x"})

    error = assert_error(response, 429, "RATE_LIMITED")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert SocialAccount.objects.filter(user=user, platform="x").exists()
    assert_error(disconnect(user_client, {"platform": "x"}), 429, "RATE_LIMITED")
    assert error["i18nKey"]
    # Another user has a counter of their own.
    assert_success(disconnect(bearer_client(other.user), {"platform": "instagram"}))


def test_rate_limit_does_not_block_reads(user, user_client, account, steady_clock):
    for _ in range(30):
        disconnect(user_client, {"platform": "youtube"})
    assert disconnect(user_client, {"platform": "youtube"}).status_code == 429

    assert_success(user_client.get(LIST_URL))
    assert_success(user_client.get(PROFILE_URL))


def test_disconnect_rejects_get_with_405(user_client, account):
    response = user_client.get(DISCONNECT_URL)

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_list_rejects_post_with_405(user_client):
    assert_error(user_client.post(LIST_URL, {}, format="json"), 405, "METHOD_NOT_ALLOWED")


def test_disconnect_revokes_the_tokens_at_the_platform_after_commit(
    user_client, account, sandbox_http, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert_success(disconnect(user_client, {"platform": "instagram"}))
        assert ("POST", "/sandbox/oauth/revoke") not in sandbox_http.calls

    assert ("POST", "/sandbox/oauth/revoke") in sandbox_http.calls
    assert not TokenRevocation.objects.exists()


def test_an_account_disconnected_while_the_request_runs_is_the_same_404(
    user, user_client, account, monkeypatch
):
    """Another request disconnects the account between this one's lookup and its lock (a
    double tap). The loser must get this endpoint's 404, the one a second call gets."""
    found = selectors.social_account_get_for_creator

    def found_then_disconnected_elsewhere(**kwargs):
        looked_up = found(**kwargs)
        social_account_disconnect(
            account=looked_up, actor=Actor.for_user(user), reason="revoked_by_user"
        )
        return looked_up

    monkeypatch.setattr(
        "accounts.selectors.social_account_get_for_creator", found_then_disconnected_elsewhere
    )

    response = disconnect(user_client, {"platform": "instagram"})

    error = assert_error(response, 404, "NOT_FOUND", "creator.social.not_found")
    assert error["message"] == "No instagram account is connected for this user."
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_disconnects_succeed_exactly_once(settings, idle_broker):
    # given: a creator with two accounts, the instagram one with queued posts (one shared
    # with the x account) and history; fifty clients, each on its own thread and connection
    settings.RATELIMITS = {**settings.RATELIMITS, "creator.social.disconnect": "1000/h"}
    user = UserFactory()
    account = account_with_history(
        user, Platform.INSTAGRAM, queued=2, published=1, snapshots=3, inbox=2
    )
    sibling = SocialAccountFactory(user=user, platform=Platform.X, followers=800)
    assert profile_total(bearer_client(user)) == 500 + 800
    shared = PostTargetFactory(social_account=account).post
    PostTargetFactory(post=shared, social_account=sibling)
    queued = list(
        PostTarget.objects.filter(social_account=account, status=PostTarget.Status.QUEUED)
    )

    # when: all released together
    responses = run_concurrently(
        *[lambda: disconnect(bearer_client(user), {"platform": "instagram"})] * 50
    )

    # then: one success, the same 404 for everyone else
    assert [response.json() for response in responses].count({"success": True}) == 1
    for response in responses:
        if response.status_code != 200:
            assert_error(response, 404, "NOT_FOUND", "creator.social.not_found")
    # and it happened once: one audit row, one revocation, totals right
    [event] = AuditEvent.objects.filter(action="social_account.disconnected")
    assert event.data["canceledScheduledPosts"] == len(queued) == 3
    assert event.data["purged"] == {"metrics": 1, "metricsSnapshots": 3, "inboxItems": 2}
    assert list(TokenRevocation.objects.values_list("account_public_id", flat=True)) == [
        account.public_id
    ]
    assert idle_broker.queued() == 1
    assert profile_total(bearer_client(user)) == 800
    assert set(
        PostTarget.objects.filter(pk__in=[t.pk for t in queued]).values_list(
            "status", "canceled_reason", "social_account"
        )
    ) == {(PostTarget.Status.CANCELED, "account_disconnected", None)}
    assert ScheduledPost.objects.get(pk=shared.pk).status == ScheduledPost.Status.QUEUED
    assert PostTarget.objects.filter(status=PostTarget.Status.PUBLISHED).count() == 1


# GET creators/profile -----------------------------------------------------------------


def test_profile_shows_total_followers_over_the_users_accounts(user, user_client):
    SocialAccountFactory(user=user, platform="x", followers=1000)
    SocialAccountFactory(user=user, platform="youtube", followers=234)
    SocialAccountFactory(platform="x", followers=99999)  # someone else's

    data = assert_success(user_client.get(PROFILE_URL))

    assert data["totalFollowers"] == 1234
    assert data["id"] == user.public_id
    assert data["email"] == user.email


def test_profile_follows_metrics_updates(user, user_client, account):
    assert profile_total(user_client) == 1200

    metrics = account.metrics
    metrics.follower_count = 5000
    metrics.save()

    assert profile_total(user_client) == 5000


def test_profile_of_a_creator_without_accounts_is_zero(user_client):
    assert profile_total(user_client) == 0


def test_profile_without_token_is_401(api_client):
    assert_error(api_client.get(PROFILE_URL), 401, "AUTH_UNAUTHORIZED")


def test_profile_of_a_deleted_user_is_401(db):
    user = UserFactory()
    client = bearer_client(user)
    user.delete()

    assert_error(client.get(PROFILE_URL), 401, "AUTH_UNAUTHORIZED")
