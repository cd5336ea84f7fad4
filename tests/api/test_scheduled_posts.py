"""HTTP tests of the scheduled-post API: create, list, read, edit and cancel, as workspace
members (by authorship and role) and as workspace API keys (by scope)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import types
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditEvent, IdempotencyRecord, Membership, Platform
from accounts.models import SocialAccount as Account
from scheduling import urls as scheduling_urls
from scheduling.models import PostTarget, ScheduledPost
from scheduling.services import post_targets_claim_due
from tests.factories import (
    PostTargetFactory,
    ScheduledPostFactory,
    SocialAccountFactory,
    UserFactory,
    add_member,
    api_key_for,
    personal_workspace,
    shared_workspace,
)
from tests.helpers import assert_error, assert_success, bearer_client, key_client

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/scheduled-posts"
READ = ApiKey.Scope.POSTS_READ
WRITE = ApiKey.Scope.POSTS_WRITE
Role = Membership.Role
T = PostTarget.Status
P = ScheduledPost.Status

POST_KEYS = {
    "id",
    "workspaceId",
    "authorId",
    "text",
    "mediaUrls",
    "scheduledAt",
    "status",
    "createdAt",
    "updatedAt",
    "targets",
}
TARGET_KEYS = {
    "id",
    "socialAccountId",
    "platform",
    "accountHandle",
    "status",
    "canceledReason",
    "platformPostId",
    "error",
    "publishedAt",
}


def post_url(post_or_id) -> str:
    return f"{LIST_URL}/{getattr(post_or_id, 'public_id', post_or_id)}"


def cancel_url(post_or_id) -> str:
    return f"{post_url(post_or_id)}/cancel"


def later(**delta) -> str:
    return (timezone.now() + dt.timedelta(**(delta or {"hours": 2}))).isoformat()


def body_for(*accounts, **overrides) -> dict:
    body = {
        "text": "Launch day!",
        "scheduledAt": later(),
        "socialAccountIds": [account.public_id for account in accounts],
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def stored_rows() -> tuple:
    """What a create, edit or cancel may write, for nothing-changed comparisons."""
    return (
        {
            (pk, text, scheduled_at, status, tuple(media))
            for pk, text, scheduled_at, status, media in ScheduledPost.objects.values_list(
                "id", "text", "scheduled_at", "status", "media_urls"
            )
        },
        set(PostTarget.objects.values_list("id", "post_id", "social_account_id", "status")),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def team():
    """A shared workspace: owner, admin and two members, accounts on X, Instagram and
    Bluesky in it, a key with both posts scopes; and an outsider with an account of their
    own in their personal workspace."""
    owner, admin, member, other_member = (UserFactory() for _ in range(4))
    workspace = shared_workspace(owner, name="Agency")
    add_member(workspace, admin, Role.ADMIN)
    add_member(workspace, member, Role.MEMBER)
    add_member(workspace, other_member, Role.MEMBER)
    accounts = types.SimpleNamespace(
        x=SocialAccountFactory(user=owner, workspace=workspace, platform=Platform.X),
        instagram=SocialAccountFactory(user=member, workspace=workspace),
        bluesky=SocialAccountFactory(user=admin, workspace=workspace, platform=Platform.BLUESKY),
    )
    key, secret = api_key_for(workspace, scopes=[READ, WRITE])
    outsider = UserFactory()
    return types.SimpleNamespace(
        workspace=workspace,
        owner=owner,
        admin=admin,
        member=member,
        other_member=other_member,
        accounts=accounts,
        key=key,
        secret=secret,
        outsider=outsider,
        outsider_account=SocialAccountFactory(user=outsider, platform=Platform.X),
    )


def create(client, *accounts, **overrides):
    return client.post(LIST_URL, body_for(*accounts, **overrides), format="json")


def created(client, *accounts, **overrides) -> dict:
    return assert_success(create(client, *accounts, **overrides), 201)


# POST scheduled-posts --------------------------------------------------------------------


def test_a_member_schedules_a_post_to_two_accounts(team):
    when = timezone.now() + dt.timedelta(days=3)
    media = ["https://cdn.example.com/launch.png"]

    data = created(
        bearer_client(team.member),
        team.accounts.x,
        team.accounts.instagram,
        scheduledAt=when.isoformat(),
        mediaUrls=media,
    )

    assert set(data) == POST_KEYS
    post = ScheduledPost.objects.get()
    assert data["id"] == post.public_id
    assert data["workspaceId"] == team.workspace.public_id
    assert data["authorId"] == team.member.public_id
    assert (data["text"], data["mediaUrls"], data["status"]) == ("Launch day!", media, "queued")
    assert parse_datetime(data["scheduledAt"]) == when == post.scheduled_at
    assert parse_datetime(data["createdAt"]) == post.created_at
    by_account = {target["socialAccountId"]: target for target in data["targets"]}
    assert set(by_account) == {team.accounts.x.public_id, team.accounts.instagram.public_id}
    for account in (team.accounts.x, team.accounts.instagram):
        target = by_account[account.public_id]
        assert set(target) == TARGET_KEYS
        assert target["id"] == PostTarget.objects.get(social_account=account).public_id
        assert target == {
            "id": target["id"],
            "socialAccountId": account.public_id,
            "platform": account.platform,
            "accountHandle": account.platform_username,
            "status": "queued",
            "canceledReason": None,
            "platformPostId": None,
            "error": None,
            "publishedAt": None,
        }
    event = AuditEvent.objects.get(action="scheduled_post.created")
    assert (event.actor_type, event.actor_id) == ("user", team.member.public_id)
    assert event.workspace_id == team.workspace.public_id
    assert post.public_id in event.subject_ids


def test_the_targets_keep_the_account_handle_taken_at_creation(team):
    data = created(bearer_client(team.owner), team.accounts.x)
    Account.objects.filter(pk=team.accounts.x.pk).update(platform_username="renamed")

    read = assert_success(bearer_client(team.owner).get(post_url(data["id"])))

    assert read["targets"][0]["accountHandle"] == team.accounts.x.platform_username


def test_an_api_key_schedules_in_its_workspace_with_no_author(team):
    data = created(key_client(team.secret), team.accounts.bluesky)

    assert data["authorId"] is None
    assert data["workspaceId"] == team.workspace.public_id
    event = AuditEvent.objects.get(action="scheduled_post.created")
    assert (event.actor_type, event.actor_id) == ("api_key", team.key.public_id)


def test_media_alone_needs_no_text(team):
    data = created(
        bearer_client(team.owner),
        team.accounts.instagram,
        text=...,
        mediaUrls=["http://cdn.example.com/a.jpg"],
    )

    assert data["text"] == ""


def test_an_offset_the_database_cannot_store_is_read_as_the_instant_it_names(team):
    """An ISO-8601 offset beyond ±15:59 once crashed the create with a 500."""
    when = timezone.now() + dt.timedelta(days=2)
    far_west = dt.timezone(-dt.timedelta(hours=18, minutes=6))

    post = created(
        bearer_client(team.owner),
        team.accounts.x,
        scheduledAt=when.astimezone(far_west).isoformat(),
    )

    assert parse_datetime(post["scheduledAt"]) == when
    assert ScheduledPost.objects.get().scheduled_at == when


def test_text_is_stored_as_written(team):
    text = "  first line\n\nsecond line\n"

    data = created(bearer_client(team.owner), team.accounts.instagram, text=text)

    assert data["text"] == text == ScheduledPost.objects.get().text


def test_text_at_each_platforms_limit_is_accepted(team):
    client = bearer_client(team.owner)

    created(client, team.accounts.x, text="x" * 280)
    created(client, team.accounts.bluesky, text="b" * 300)
    created(client, team.accounts.instagram, text="é" * 2200)  # characters, not bytes

    assert ScheduledPost.objects.count() == 3


def _other_workspace_account(team):
    """An account in a second workspace the member also belongs to."""
    second = shared_workspace(team.admin, name="Second")
    add_member(second, team.member, Role.MEMBER)
    return SocialAccountFactory(user=team.admin, workspace=second, platform=Platform.THREADS)


def _invalid_cases():
    """(name, body overrides given the team, field named in the details)."""
    missing = f"sa_{uuid.uuid4()}"
    return [
        ("no accounts", lambda t: {"socialAccountIds": ...}, "socialAccountIds"),
        ("empty accounts", lambda t: {"socialAccountIds": []}, "socialAccountIds"),
        ("accounts not a list", lambda t: {"socialAccountIds": t.accounts.x.public_id}, None),
        (
            "too many accounts",
            lambda t: {"socialAccountIds": [f"sa_{uuid.uuid4()}" for _ in range(21)]},
            "socialAccountIds",
        ),
        (
            "malformed id",
            lambda t: {"socialAccountIds": [t.accounts.x.public_id, "sa_nope"]},
            "socialAccountIds[1]",
        ),
        (
            "wrong prefix",
            lambda t: {"socialAccountIds": [f"ws_{t.accounts.x.pk}"]},
            "socialAccountIds[0]",
        ),
        (
            "duplicate id",
            lambda t: {"socialAccountIds": [t.accounts.x.public_id, t.accounts.x.public_id]},
            "socialAccountIds[1]",
        ),
        ("unknown account", lambda t: {"socialAccountIds": [missing]}, "socialAccountIds[0]"),
        (
            "another tenant's account",
            lambda t: {"socialAccountIds": [t.accounts.x.public_id, t.outsider_account.public_id]},
            "socialAccountIds[1]",
        ),
        (
            "two workspaces",
            lambda t: {
                "socialAccountIds": [
                    t.accounts.instagram.public_id,
                    _other_workspace_account(t).public_id,
                ]
            },
            "socialAccountIds[1]",
        ),
        ("no time", lambda t: {"scheduledAt": ...}, "scheduledAt"),
        ("time without zone", lambda t: {"scheduledAt": "2031-01-01T10:00:00"}, "scheduledAt"),
        ("time not a date", lambda t: {"scheduledAt": "next tuesday"}, "scheduledAt"),
        ("impossible date", lambda t: {"scheduledAt": "2031-02-30T10:00:00Z"}, "scheduledAt"),
        ("time a number", lambda t: {"scheduledAt": 1893456000}, "scheduledAt"),
        ("time in the past", lambda t: {"scheduledAt": later(minutes=-1)}, "scheduledAt"),
        ("time is now", lambda t: {"scheduledAt": later(seconds=0)}, "scheduledAt"),
        ("over a year ahead", lambda t: {"scheduledAt": later(days=366)}, "scheduledAt"),
        ("no text and no media", lambda t: {"text": ...}, "text"),
        ("blank text and no media", lambda t: {"text": "  \n "}, "text"),
        ("blank text and empty media", lambda t: {"text": "", "mediaUrls": []}, "text"),
        ("text a number", lambda t: {"text": 42}, "text"),
        ("text null", lambda t: {"text": None}, "text"),
        ("text over x's limit", lambda t: {"text": "y" * 281}, "text"),
        ("media not a list", lambda t: {"mediaUrls": "https://a.example/x.png"}, "mediaUrls"),
        (
            "too many media",
            lambda t: {"mediaUrls": [f"https://a.example/{i}.png" for i in range(11)]},
            "mediaUrls",
        ),
        (
            "media not http",
            lambda t: {"mediaUrls": ["https://a.example/1.png", "ftp://a.example/2.png"]},
            "mediaUrls[1]",
        ),
        ("media relative", lambda t: {"mediaUrls": ["/img/1.png"]}, "mediaUrls[0]"),
        ("media not a string", lambda t: {"mediaUrls": [{"url": "x"}]}, "mediaUrls[0]"),
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [pytest.param(overrides, field, id=name) for name, overrides, field in _invalid_cases()],
)
def test_an_invalid_post_is_400_naming_the_field_and_writes_nothing(team, overrides, field):
    body = overrides(team)
    before = stored_rows()

    response = create(bearer_client(team.member), team.accounts.x, **body)

    error = assert_error(response, 400, "VALIDATION")
    assert [item["field"] for item in error["details"]] == [field or "socialAccountIds"]
    assert error["message"].startswith(f"{field or 'socialAccountIds'}: ")
    assert stored_rows() == before


def test_another_tenants_account_reads_exactly_like_a_missing_one(team):
    client = bearer_client(team.member)

    theirs = create(client, team.outsider_account)
    missing = create(client, types.SimpleNamespace(public_id=f"sa_{uuid.uuid4()}"))

    a, b = assert_error(theirs, 400, "VALIDATION"), assert_error(missing, 400, "VALIDATION")
    assert {**a, "correlationId": ""} == {**b, "correlationId": ""}
    assert a["details"] == [
        {"field": "socialAccountIds[0]", "message": "Social account not found."}
    ]


def test_a_key_cannot_schedule_to_accounts_outside_its_workspace(team):
    own_personal = SocialAccountFactory(user=team.owner, platform=Platform.YOUTUBE)

    error = assert_error(create(key_client(team.secret), own_personal), 400, "VALIDATION")

    assert error["details"] == [
        {"field": "socialAccountIds[0]", "message": "Social account not found."}
    ]


@pytest.mark.parametrize("status", [Account.Status.TOKEN_EXPIRED, Account.Status.REVOKED])
def test_an_account_that_is_not_active_cannot_be_scheduled_to(team, status):
    Account.objects.filter(pk=team.accounts.instagram.pk).update(status=status)

    error = assert_error(
        create(bearer_client(team.member), team.accounts.x, team.accounts.instagram),
        400,
        "VALIDATION",
    )

    assert [item["field"] for item in error["details"]] == ["socialAccountIds[1]"]
    assert "reconnect" in error["details"][0]["message"]
    assert not ScheduledPost.objects.exists()


def test_the_text_limit_message_names_every_platform_it_breaks(team):
    error = assert_error(
        create(
            bearer_client(team.owner),
            team.accounts.x,
            team.accounts.bluesky,
            team.accounts.instagram,
            text="z" * 301,
        ),
        400,
        "VALIDATION",
    )

    assert error["details"] == [
        {
            "field": "text",
            "message": "Too long: 301 characters, and the limit is 280 on x, 300 on bluesky.",
        }
    ]


def test_every_problem_is_reported_at_once(team):
    error = assert_error(
        create(
            bearer_client(team.owner),
            team.accounts.x,
            types.SimpleNamespace(public_id=f"sa_{uuid.uuid4()}"),
            text="q" * 281,
            scheduledAt=later(days=-1),
        ),
        400,
        "VALIDATION",
    )

    assert sorted(item["field"] for item in error["details"]) == [
        "scheduledAt",
        "socialAccountIds[1]",
        "text",
    ]
    assert error["message"] == "The request is not valid."


def test_a_retried_create_with_the_same_idempotency_key_creates_one_post(team):
    client = key_client(team.secret)
    body = body_for(team.accounts.x)

    first = client.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="post-1")
    again = client.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="post-1")

    assert assert_success(again, 201) == assert_success(first, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ScheduledPost.objects.count() == 1
    assert IdempotencyRecord.objects.filter(key="post-1").count() == 1


# Who may call ----------------------------------------------------------------------------


def test_endpoints_without_credentials_are_401(team):
    post = ScheduledPostFactory(author=team.owner, workspace=team.workspace)
    client = APIClient()
    before = stored_rows()

    for response in (
        client.get(LIST_URL),
        client.post(LIST_URL, body_for(team.accounts.x), format="json"),
        client.get(post_url(post)),
        client.patch(post_url(post), {"text": "hi"}, format="json"),
        client.post(cancel_url(post)),
    ):
        assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert stored_rows() == before


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        ([READ], {"read"}),
        ([WRITE], {"write"}),
        ([ApiKey.Scope.SOCIAL_READ, ApiKey.Scope.SOCIAL_WRITE], set()),
    ],
)
def test_keys_need_the_posts_scope_of_each_method(team, scopes, allowed):
    post = ScheduledPostFactory(author=team.owner, workspace=team.workspace)
    PostTargetFactory(post=post, social_account=team.accounts.x)
    _key, secret = api_key_for(team.workspace, scopes=scopes, name="limited")
    client = key_client(secret)
    calls = {
        "read": [lambda: client.get(LIST_URL), lambda: client.get(post_url(post))],
        "write": [
            lambda: client.patch(post_url(post), {"text": "edited"}, format="json"),
            lambda: create(client, team.accounts.x),
            lambda: client.post(cancel_url(post)),
        ],
    }

    for kind, requests in calls.items():
        for call in requests:
            response = call()
            if kind in allowed:
                assert response.status_code in (200, 201), response.content
            else:
                error = assert_error(response, 403, "FORBIDDEN_SCOPE")
                scope = READ if kind == "read" else WRITE
                assert error["details"] == {"requiredScope": scope}


def test_a_method_an_endpoint_lacks_is_405(team):
    post = ScheduledPostFactory(author=team.owner, workspace=team.workspace)
    user, key = bearer_client(team.owner), key_client(team.secret)

    for client in (user, key):
        for response in (
            client.delete(LIST_URL),
            client.put(post_url(post), {"text": "x"}, format="json"),
            client.delete(post_url(post)),
            client.get(cancel_url(post)),
            client.patch(cancel_url(post), {}, format="json"),
        ):
            assert_error(response, 405, "METHOD_NOT_ALLOWED")


def test_another_tenants_post_is_404_on_every_endpoint(team):
    theirs = ScheduledPostFactory(author=team.outsider)
    PostTargetFactory(post=theirs, social_account=team.outsider_account)
    before = stored_rows()

    for client in (bearer_client(team.member), bearer_client(team.owner), key_client(team.secret)):
        for response in (
            client.get(post_url(theirs)),
            client.patch(post_url(theirs), {"text": "mine now"}, format="json"),
            client.post(cancel_url(theirs)),
            client.get(post_url(f"sp_{uuid.uuid4()}")),
        ):
            assert_error(response, 404, "NOT_FOUND", "scheduled_post.not_found")
    assert stored_rows() == before


def test_a_key_does_not_see_posts_of_its_creators_other_workspaces(team):
    personal = ScheduledPostFactory(author=team.owner, workspace=personal_workspace(team.owner))

    assert_error(key_client(team.secret).get(post_url(personal)), 404, "NOT_FOUND")
    assert_success(bearer_client(team.owner).get(post_url(personal)))


@pytest.mark.parametrize(
    "value", ["sp_nope", f"sa_{uuid.uuid4()}", f"sp_{str(uuid.uuid4()).upper()}", "1"]
)
def test_a_malformed_post_id_is_400_on_every_endpoint(team, value):
    client = bearer_client(team.owner)

    for response in (
        client.get(post_url(value)),
        client.patch(post_url(value), {"text": "x"}, format="json"),
        client.post(cancel_url(value)),
    ):
        error = assert_error(response, 400, "VALIDATION")
        assert [item["field"] for item in error["details"]] == ["scheduledPostId"]


def test_every_mutating_scheduling_endpoint_honours_the_idempotency_key():
    checked = []
    for pattern in scheduling_urls.urlpatterns:
        view_class = pattern.callback.view_class
        for name in ("post", "put", "patch", "delete"):
            handler = getattr(view_class, name, None)
            if handler is not None:
                assert getattr(handler, "idempotent", False) is True, (view_class, name)
                checked.append(f"{view_class.__name__}.{name}")

    assert sorted(checked) == [
        "ScheduledPostCancelView.post",
        "ScheduledPostDetailView.patch",
        "ScheduledPostListView.post",
    ]


def test_the_urls_resolve_to_the_scheduling_views():
    assert resolve(LIST_URL).func.view_class.__name__ == "ScheduledPostListView"
    assert resolve(cancel_url(f"sp_{uuid.uuid4()}")).func.view_class.__name__ == (
        "ScheduledPostCancelView"
    )


# GET scheduled-posts/{id} ---------------------------------------------------------------


def test_read_shows_the_post_and_every_target_state(team):
    post = ScheduledPostFactory(author=team.member, workspace=team.workspace, status=P.PUBLISHING)
    published_at = timezone.now() - dt.timedelta(minutes=1)
    done = PostTargetFactory(
        post=post,
        social_account=team.accounts.x,
        status=T.PUBLISHED,
        platform_post_id="x-42",
        published_at=published_at,
    )
    failed = PostTargetFactory(
        post=post, social_account=team.accounts.bluesky, status=T.FAILED, error="bluesky said no"
    )
    gone = PostTargetFactory(
        post=post,
        social_account=team.accounts.instagram,
        status=T.CANCELED,
        canceled_reason="account_disconnected",
    )
    PostTarget.objects.filter(pk=gone.pk).update(social_account=None)

    data = assert_success(key_client(team.secret).get(post_url(post)))

    targets = {target["id"]: target for target in data["targets"]}
    assert targets[done.public_id]["platformPostId"] == "x-42"
    assert parse_datetime(targets[done.public_id]["publishedAt"]) == published_at
    assert targets[failed.public_id]["error"] == "bluesky said no"
    assert targets[gone.public_id]["socialAccountId"] is None
    assert targets[gone.public_id]["canceledReason"] == "account_disconnected"
    assert targets[gone.public_id]["accountHandle"] == team.accounts.instagram.platform_username
    assert data["status"] == "publishing"


def test_read_query_count_does_not_grow_with_targets(team, django_assert_num_queries):
    client = bearer_client(team.member)
    small = created(client, team.accounts.x)["id"]
    large = created(client, team.accounts.x, team.accounts.instagram, team.accounts.bluesky)["id"]

    with django_assert_num_queries(3):  # the user, the post, its targets
        assert len(assert_success(client.get(post_url(small)))["targets"]) == 1
    with django_assert_num_queries(3):
        assert len(assert_success(client.get(post_url(large)))["targets"]) == 3


# GET scheduled-posts ----------------------------------------------------------------------


def listed(client, **query) -> dict:
    data = assert_success(client.get(LIST_URL, query))
    assert set(data) == {"scheduledPosts", "nextCursor"}
    return data


def ids(data: dict) -> list[str]:
    return [post["id"] for post in data["scheduledPosts"]]


def post_at(team, hours: float, *accounts, workspace=None, status=P.QUEUED, author=None):
    post = ScheduledPostFactory(
        author=author or team.owner,
        workspace=workspace or team.workspace,
        scheduled_at=timezone.now() + dt.timedelta(hours=hours),
        status=status,
    )
    for account in accounts:
        PostTargetFactory(post=post, social_account=account)
    return post


def test_list_is_ordered_by_time_and_scoped_to_the_callers_workspaces(team):
    late = post_at(team, 5, team.accounts.x)
    early = post_at(team, 1, team.accounts.instagram)
    personal = post_at(team, 3, workspace=personal_workspace(team.owner), author=team.owner)
    post_at(team, 2, team.outsider_account, workspace=team.outsider_account.workspace)

    as_owner = listed(bearer_client(team.owner))
    as_member = listed(bearer_client(team.member))
    as_key = listed(key_client(team.secret))

    assert ids(as_owner) == [early.public_id, personal.public_id, late.public_id]
    assert ids(as_member) == ids(as_key) == [early.public_id, late.public_id]
    assert as_owner["nextCursor"] is None
    first = as_key["scheduledPosts"][0]
    assert set(first) == POST_KEYS
    assert [target["socialAccountId"] for target in first["targets"]] == [
        team.accounts.instagram.public_id
    ]


def test_list_filters(team):
    x_soon = post_at(team, 1, team.accounts.x)
    both_later = post_at(team, 6, team.accounts.x, team.accounts.instagram)
    canceled = post_at(team, 3, team.accounts.instagram, status=P.CANCELED)
    personal = post_at(team, 2, workspace=personal_workspace(team.owner))
    client = bearer_client(team.owner)
    at = lambda hours: (timezone.now() + dt.timedelta(hours=hours)).isoformat()  # noqa: E731

    assert ids(listed(client, status="canceled")) == [canceled.public_id]
    assert ids(listed(client, status="queued")) == [
        x_soon.public_id,
        personal.public_id,
        both_later.public_id,
    ]
    assert ids(listed(client, socialAccountId=team.accounts.instagram.public_id)) == [
        canceled.public_id,
        both_later.public_id,
    ]
    assert ids(listed(client, scheduledAfter=at(2.5))) == [
        canceled.public_id,
        both_later.public_id,
    ]
    assert ids(listed(client, scheduledBefore=at(2.5))) == [x_soon.public_id, personal.public_id]
    assert ids(listed(client, scheduledAfter=at(0.5), scheduledBefore=at(1.5))) == [
        x_soon.public_id
    ]
    assert ids(listed(client, workspace=personal_workspace(team.owner).public_id)) == [
        personal.public_id
    ]
    assert ids(listed(client, workspace=team.workspace.public_id, status="queued")) == [
        x_soon.public_id,
        both_later.public_id,
    ]
    # Another tenant's account id simply matches nothing.
    assert ids(listed(client, socialAccountId=team.outsider_account.public_id)) == []


def test_an_unencoded_plus_in_a_time_filter_is_read_as_the_offset(team):
    post = post_at(team, 1, team.accounts.x)
    before = (post.scheduled_at - dt.timedelta(minutes=1)).astimezone(
        dt.timezone(dt.timedelta(hours=2))
    )

    response = bearer_client(team.owner).get(f"{LIST_URL}?scheduledAfter={before.isoformat()}")

    assert ids(assert_success(response)) == [post.public_id]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=sent", "status"),
        ("status=queued&status=canceled", "status"),
        ("socialAccountId=sa_nope", "socialAccountId"),
        (f"socialAccountId=sp_{uuid.uuid4()}", "socialAccountId"),
        ("scheduledAfter=yesterday", "scheduledAfter"),
        ("scheduledAfter=2031-01-01T10:00:00", "scheduledAfter"),
        ("scheduledBefore=2031-13-01T10:00:00Z", "scheduledBefore"),
        ("scheduledAfter=0001-01-01T00:00:00%2B05:00", "scheduledAfter"),
        ("workspace=ws_nope", "workspace"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
    ],
)
def test_list_with_a_bad_filter_is_400(team, query, field):
    for client in (bearer_client(team.owner), key_client(team.secret)):
        error = assert_error(client.get(f"{LIST_URL}?{query}"), 400, "VALIDATION")

        assert [item["field"] for item in error["details"]] == [field]


def test_list_filters_with_an_offset_the_database_cannot_store_answer_200(team):
    """An ISO-8601 offset beyond ±15:59 once crashed the query with a 500."""
    post = created(bearer_client(team.owner), team.accounts.x)
    client = bearer_client(team.owner)

    assert ids(listed(client, scheduledBefore="0291-06-13T09:25:27-18:06")) == []
    assert ids(listed(client, scheduledAfter="0291-06-13T09:25:27-18:06")) == [post["id"]]


def test_a_cursor_naming_such_an_offset_is_read_too(team):
    cursor = base64.urlsafe_b64encode(
        json.dumps(["0291-06-13T09:25:27-18:06", str(uuid.uuid4())]).encode()
    ).decode()

    response = bearer_client(team.owner).get(f"{LIST_URL}?cursor={cursor.rstrip('=')}")

    assert assert_success(response)["nextCursor"] is None


def test_list_of_a_workspace_the_caller_is_not_in_is_404(team):
    theirs = team.outsider_account.workspace.public_id

    for client in (bearer_client(team.member), key_client(team.secret)):
        response = client.get(LIST_URL, {"workspace": theirs})
        assert_error(response, 404, "NOT_FOUND", "workspace.not_found")
    mine_but_not_the_keys = personal_workspace(team.owner).public_id
    assert_error(
        key_client(team.secret).get(LIST_URL, {"workspace": mine_but_not_the_keys}),
        404,
        "NOT_FOUND",
    )


def test_pages_cover_every_post_once_in_order(team):
    base = timezone.now() + dt.timedelta(hours=1)
    posts = [
        ScheduledPostFactory(
            author=team.owner,
            workspace=team.workspace,
            # Pairs share a time: the id breaks the tie across page boundaries.
            scheduled_at=base + dt.timedelta(minutes=i // 2),
        )
        for i in range(23)
    ]
    expected = [
        post.public_id for post in sorted(posts, key=lambda post: (post.scheduled_at, post.pk))
    ]
    client = key_client(team.secret)

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        data = listed(client, **query)
        seen += ids(data)
        pages += 1
        cursor = data["nextCursor"]
        if cursor is None:
            break

    assert pages == 5
    assert seen == expected


def test_list_query_count_does_not_grow_with_posts_or_targets(team, django_assert_num_queries):
    user = bearer_client(team.member)
    key = key_client(team.secret)
    filtered = {"workspace": team.workspace.public_id}
    post_at(team, 1, team.accounts.x)
    assert_success(key.get(LIST_URL))  # the key's first use writes last_used_at
    measured = {}
    for name, client, query in (
        ("user", user, {}),
        ("user filtered", user, filtered),
        ("key", key, {}),
    ):
        with CaptureQueriesContext(connection) as one:
            assert len(ids(listed(client, **query))) == 1
        measured[name] = len(one.captured_queries)
    for hours in range(2, 14):
        post_at(team, hours, team.accounts.x, team.accounts.instagram, team.accounts.bluesky)

    for name, client, query in (
        ("user", user, {}),
        ("user filtered", user, filtered),
        ("key", key, {}),
    ):
        with django_assert_num_queries(measured[name]):
            data = listed(client, **query)
        assert len(ids(data)) == 13
        assert sum(len(post["targets"]) for post in data["scheduledPosts"]) == 1 + 12 * 3
    assert measured["user"] == 3  # the user, the posts, their targets


# PATCH scheduled-posts/{id} -------------------------------------------------------------


def patch(client, post_id, **body):
    return client.patch(post_url(post_id), body, format="json")


def test_the_author_edits_text_time_and_media(team):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.x)["id"]
    when = timezone.now() + dt.timedelta(days=2)

    data = assert_success(
        patch(
            client,
            post_id,
            text="Edited",
            scheduledAt=when.isoformat(),
            mediaUrls=["https://cdn.example.com/b.png"],
        )
    )

    assert (data["text"], data["mediaUrls"]) == ("Edited", ["https://cdn.example.com/b.png"])
    assert parse_datetime(data["scheduledAt"]) == when
    post = ScheduledPost.objects.get()
    assert (post.text, post.scheduled_at) == ("Edited", when)
    assert parse_datetime(data["updatedAt"]) == post.updated_at > post.created_at
    event = AuditEvent.objects.get(action="scheduled_post.updated")
    assert event.data == {"changed": ["text", "scheduledAt", "mediaUrls"]}


def test_changing_the_accounts_adds_and_removes_queued_targets(team):
    client = bearer_client(team.member)
    data = created(client, team.accounts.x, team.accounts.instagram)
    kept = next(t["id"] for t in data["targets"] if t["platform"] == "instagram")

    edited = assert_success(
        patch(
            client,
            data["id"],
            socialAccountIds=[team.accounts.instagram.public_id, team.accounts.bluesky.public_id],
        )
    )

    by_platform = {target["platform"]: target for target in edited["targets"]}
    assert set(by_platform) == {"instagram", "bluesky"}
    assert by_platform["instagram"]["id"] == kept
    assert by_platform["bluesky"]["status"] == "queued"
    assert not PostTarget.objects.filter(social_account=team.accounts.x).exists()


def test_an_edit_must_still_fit_every_platform(team):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.instagram, text="w" * 290)["id"]
    before = stored_rows()

    to_x = patch(client, post_id, socialAccountIds=[team.accounts.x.public_id])
    longer = patch(client, post_id, text="w" * 2201)

    assert assert_error(to_x, 400, "VALIDATION")["details"][0]["field"] == "text"
    assert assert_error(longer, 400, "VALIDATION")["details"][0]["field"] == "text"
    assert stored_rows() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"scheduledAt": "2020-01-01T00:00:00Z"}, "scheduledAt"),
        ({"socialAccountIds": []}, "socialAccountIds"),
        ({"text": ""}, "text"),
        ({"mediaUrls": ["nope"]}, "mediaUrls[0]"),
        ({"text": None}, "text"),
    ],
)
def test_an_invalid_edit_is_400_and_changes_nothing(team, body, field):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.x)["id"]
    before = stored_rows()

    error = assert_error(client.patch(post_url(post_id), body, format="json"), 400, "VALIDATION")

    assert [item["field"] for item in error["details"]] == [field]
    assert stored_rows() == before


def test_an_edit_cannot_move_a_post_to_another_workspace(team):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.x)["id"]
    elsewhere = _other_workspace_account(team)

    error = assert_error(
        patch(client, post_id, socialAccountIds=[elsewhere.public_id]), 400, "VALIDATION"
    )

    assert error["details"][0]["field"] == "socialAccountIds[0]"


@pytest.mark.parametrize(
    ("editor", "allowed"),
    [("owner", True), ("admin", True), ("key", True), ("other_member", False)],
)
def test_who_may_edit_and_cancel_a_members_post(team, editor, allowed):
    post_id = created(bearer_client(team.member), team.accounts.x)["id"]
    client = key_client(team.secret) if editor == "key" else bearer_client(getattr(team, editor))

    edit = patch(client, post_id, text="by someone else")
    cancel = client.post(cancel_url(post_id))

    if allowed:
        assert assert_success(edit)["text"] == "by someone else"
        assert assert_success(cancel)["status"] == "canceled"
    else:
        for response in (edit, cancel):
            error = assert_error(response, 403, "FORBIDDEN_ROLE", "scheduled_post.forbidden_role")
            assert error["i18nVars"] == {"role": "member"}
        assert ScheduledPost.objects.get().status == P.QUEUED
        # ... though they may read it
        assert_success(client.get(post_url(post_id)))


def test_a_removed_member_cannot_replay_an_edit(team):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.x)["id"]
    assert_success(
        client.patch(post_url(post_id), {"text": "v2"}, format="json", HTTP_IDEMPOTENCY_KEY="e")
    )
    Membership.objects.filter(workspace=team.workspace, user=team.member).delete()

    again = client.patch(post_url(post_id), {"text": "v2"}, format="json", HTTP_IDEMPOTENCY_KEY="e")

    assert_error(again, 404, "NOT_FOUND")


@pytest.mark.parametrize("status", [T.PUBLISHING, T.PUBLISHED, T.FAILED])
def test_a_post_whose_publishing_started_cannot_be_edited(team, status):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.x, team.accounts.instagram)["id"]
    PostTarget.objects.filter(social_account=team.accounts.x).update(status=status)
    before = stored_rows()

    response = patch(client, post_id, text="too late")

    assert_error(response, 409, "CONFLICT", "scheduled_post.not_editable")
    assert stored_rows() == before


def test_an_edit_after_the_publisher_claimed_the_post_is_409(team):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.x)["id"]
    ScheduledPost.objects.update(scheduled_at=timezone.now() - dt.timedelta(seconds=1))
    assert len(post_targets_claim_due(limit=10)) == 1

    response = patch(client, post_id, text="too late")

    assert_error(response, 409, "CONFLICT", "scheduled_post.not_editable")
    assert ScheduledPost.objects.get().text == "Launch day!"


@pytest.mark.parametrize("status", [P.CANCELED, P.PUBLISHED, P.FAILED, P.PARTIALLY_PUBLISHED])
def test_a_settled_post_cannot_be_edited(team, status):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.x)["id"]
    ScheduledPost.objects.update(status=status)

    assert_error(patch(client, post_id, text="x"), 409, "CONFLICT", "scheduled_post.not_editable")


# POST scheduled-posts/{id}/cancel ------------------------------------------------------


def test_cancel_cancels_the_queued_targets_and_the_post(team):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.x, team.accounts.instagram)["id"]

    data = assert_success(client.post(cancel_url(post_id)))

    assert data["status"] == "canceled"
    assert {(t["status"], t["canceledReason"]) for t in data["targets"]} == {
        ("canceled", "canceled_by_user")
    }
    assert ScheduledPost.objects.get().status == P.CANCELED
    event = AuditEvent.objects.get(action="scheduled_post.canceled")
    assert event.data == {"canceledTargets": 2, "status": "canceled"}


def test_canceling_a_canceled_post_answers_it_unchanged(team):
    client = bearer_client(team.member)
    post_id = created(client, team.accounts.x)["id"]
    first = assert_success(client.post(cancel_url(post_id)))

    again = assert_success(client.post(cancel_url(post_id)))

    assert again == first
    assert AuditEvent.objects.filter(action="scheduled_post.canceled").count() == 1


@pytest.mark.parametrize("status", [P.PUBLISHED, P.PARTIALLY_PUBLISHED, P.FAILED])
def test_a_finished_post_cannot_be_canceled(team, status):
    post = post_at(team, -1, team.accounts.x, status=status, author=team.member)
    PostTarget.objects.update(status=T.PUBLISHED if status != P.FAILED else T.FAILED)
    before = stored_rows()

    response = bearer_client(team.member).post(cancel_url(post))

    error = assert_error(response, 409, "CONFLICT", "scheduled_post.not_cancelable")
    assert error["i18nVars"] == {"status": status}
    assert stored_rows() == before


def test_cancel_while_publishing_lets_the_started_target_finish(team):
    post = post_at(team, -1, team.accounts.x, team.accounts.instagram, status=P.PUBLISHING)
    PostTarget.objects.filter(social_account=team.accounts.x).update(status=T.PUBLISHING)

    data = assert_success(bearer_client(team.owner).post(cancel_url(post)))

    assert data["status"] == "publishing"
    statuses = {t["platform"]: (t["status"], t["canceledReason"]) for t in data["targets"]}
    assert statuses == {
        "x": ("publishing", None),
        "instagram": ("canceled", "canceled_by_user"),
    }


def test_cancel_is_rate_limited_with_the_other_writes(team, settings, steady_clock):
    settings.RATELIMITS = {**settings.RATELIMITS, "posts.write": "2/m"}
    client = key_client(team.secret)
    post_id = created(client, team.accounts.x)["id"]
    assert_success(patch(client, post_id, text="second write"))

    limited = [client.post(cancel_url(post_id)), create(client, team.accounts.x)]

    for response in limited:
        assert_error(response, 429, "RATE_LIMITED")
        assert 1 <= int(response["Retry-After"]) <= 60
    assert ScheduledPost.objects.get().status == P.QUEUED
    # Reads are not limited, and another caller has a budget of their own.
    for _ in range(3):
        listed(client)
    created(bearer_client(team.owner), team.accounts.x)


# The published schema describes these responses ------------------------------------------


def test_responses_match_the_published_schema(team, api_client):
    import jsonschema

    from tests.api.test_health_and_schema import _response_schema

    spec = api_client.get("/api/schema/?format=json").json()
    client = key_client(team.secret)
    one = "/api/v1/scheduled-posts/{scheduled_post_id}"

    made = client.post(LIST_URL, body_for(team.accounts.x), format="json")
    post_id = made.json()["data"]["id"]
    checks = [
        (made, LIST_URL, "post", "201"),
        (client.get(LIST_URL, {"limit": 1}), LIST_URL, "get", "200"),
        (client.get(post_url(post_id)), one, "get", "200"),
        (patch(client, post_id, text="schema"), one, "patch", "200"),
        (client.post(cancel_url(post_id)), f"{one}/cancel", "post", "200"),
        (create(client, team.outsider_account), LIST_URL, "post", "400"),
        (client.post(cancel_url(post_id.replace("sp_", "sp_0"))), f"{one}/cancel", "post", "400"),
    ]
    for response, path, method, status in checks:
        assert str(response.status_code) == status, response.content
        jsonschema.validate(response.json(), _response_schema(spec, path, method, status))
    with pytest.raises(jsonschema.ValidationError):  # the check has teeth
        jsonschema.validate(checks[-1][0].json(), _response_schema(spec, LIST_URL, "post", "201"))
