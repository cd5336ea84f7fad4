"""HTTP tests of the workspace API: list and create workspaces, list and add members."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import AuditEvent, Membership, User, Workspace
from tests.factories import (
    UserFactory,
    add_member,
    api_key_for,
    member_of,
    personal_workspace,
    shared_workspace,
)
from tests.helpers import assert_error, assert_success, bearer_client, key_client

pytestmark = pytest.mark.django_db

WORKSPACES_URL = "/api/v1/workspaces"
WORKSPACE_KEYS = {"id", "name", "role"}
MEMBER_KEYS = {"userId", "email", "name", "role", "addedAt"}
WORKSPACE_ID = re.compile(r"^ws_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


def members_url(workspace) -> str:
    workspace_id = workspace if isinstance(workspace, str) else workspace.public_id
    return f"{WORKSPACES_URL}/{workspace_id}/members"


def create_workspace(client, body):
    return client.post(WORKSPACES_URL, body, format="json")


def add(client, workspace, email: str, role: str = "member"):
    return client.post(members_url(workspace), {"email": email, "role": role}, format="json")


def listed(client) -> list[dict]:
    return assert_success(client.get(WORKSPACES_URL))


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("created_at"))


@pytest.fixture
def team(user):
    """A shared workspace owned by ``user``."""
    return shared_workspace(user, "Team")


# Who may call -----------------------------------------------------------------------------


ENDPOINTS = [
    ("get", WORKSPACES_URL, None),
    ("post", WORKSPACES_URL, {"name": "Agency"}),
    ("get", "members", None),
    ("post", "members", {"email": "someone@example.com", "role": "member"}),
]


def _resolve(path: str, workspace) -> str:
    return members_url(workspace) if path == "members" else path


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_no_credentials_get_401(api_client, team, method, path, body):
    response = getattr(api_client, method)(_resolve(path, team), body, format="json")

    assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert response["WWW-Authenticate"]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_an_api_key_cannot_call_workspace_endpoints(team, method, path, body):
    _key, secret = api_key_for(team)
    before = (Workspace.objects.count(), Membership.objects.count())

    response = getattr(key_client(secret), method)(_resolve(path, team), body, format="json")

    assert_error(response, 403, "FORBIDDEN_ROLE", "auth.user_token_required")
    assert (Workspace.objects.count(), Membership.objects.count()) == before


# GET workspaces ---------------------------------------------------------------------------


def test_a_new_user_has_exactly_their_personal_workspace_as_owner(user, user_client):
    rows = listed(user_client)

    workspace = personal_workspace(user)
    assert rows == [{"id": workspace.public_id, "name": workspace.name, "role": "owner"}]
    assert WORKSPACE_ID.match(rows[0]["id"])


def test_list_never_shows_another_users_workspaces(user, user_client):
    stranger = UserFactory()
    theirs = shared_workspace(stranger, "Not yours")

    rows = listed(user_client)

    ids = [row["id"] for row in rows]
    assert ids == [personal_workspace(user).public_id]
    assert theirs.public_id not in ids
    assert personal_workspace(stranger).public_id not in ids


def test_list_is_oldest_workspace_first_with_the_callers_role(user, user_client):
    owner = UserFactory()
    now = timezone.now()
    older = shared_workspace(owner, "Older")
    newer = shared_workspace(owner, "Newer")
    Workspace.objects.filter(pk=older.pk).update(created_at=now - dt.timedelta(days=30))
    Workspace.objects.filter(pk=newer.pk).update(created_at=now + dt.timedelta(days=1))
    # Joined in the opposite order: the workspace's age decides, not the membership's.
    add_member(newer, user, "admin")
    add_member(older, user, "member")

    rows = listed(user_client)

    assert [(row["name"], row["role"]) for row in rows] == [
        ("Older", "member"),
        (personal_workspace(user).name, "owner"),
        ("Newer", "admin"),
    ]


def test_list_query_count_does_not_grow_with_workspaces(user, user_client):
    with CaptureQueriesContext(connection) as one:
        assert len(listed(user_client)) == 1
    owner = UserFactory()
    for i in range(9):
        add_member(shared_workspace(owner, f"Team {i}"), user, "member")

    with CaptureQueriesContext(connection) as ten:
        assert len(listed(user_client)) == 10

    assert len(ten.captured_queries) == len(one.captured_queries)


# POST workspaces --------------------------------------------------------------------------


def test_create_answers_201_with_the_caller_as_owner(user, user_client):
    response = create_workspace(user_client, {"name": "Agency"})

    data = assert_success(response, 201)
    assert set(data) == WORKSPACE_KEYS
    assert data["name"] == "Agency"
    assert data["role"] == "owner"
    assert WORKSPACE_ID.match(data["id"])
    workspace = Workspace.objects.get(pk=data["id"].removeprefix("ws_"))
    assert workspace.name == "Agency"
    assert workspace.is_personal is False
    assert Membership.objects.get(workspace=workspace).user == user


def test_created_workspace_is_listed_after_the_personal_one(user, user_client):
    data = assert_success(create_workspace(user_client, {"name": "Agency"}), 201)

    rows = listed(user_client)

    assert [row["id"] for row in rows] == [personal_workspace(user).public_id, data["id"]]
    assert rows[1] == data


def test_a_name_of_150_characters_is_accepted(user_client):
    name = "n" * 150

    data = assert_success(create_workspace(user_client, {"name": name}), 201)

    assert data["name"] == name


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "a\x00b"},
        {"name": None},
        {"name": 42},
        {"name": ["Agency"]},
        {"name": {"text": "Agency"}},
        {"name": "n" * 151},
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "nul-character",
        "null",
        "number",
        "list",
        "object",
        "151-chars",
    ],
)
def test_create_rejects_a_bad_name_and_creates_nothing(user_client, body):
    before = (Workspace.objects.count(), Membership.objects.count(), AuditEvent.objects.count())

    error = assert_error(create_workspace(user_client, body), 400, "VALIDATION")

    assert [detail["field"] for detail in error["details"]] == ["name"]
    assert all(detail["message"] for detail in error["details"])
    after = (Workspace.objects.count(), Membership.objects.count(), AuditEvent.objects.count())
    assert after == before


@pytest.mark.parametrize("body", [["Agency"], "Agency", 42])
def test_create_rejects_a_body_that_is_not_an_object(user_client, body):
    before = Workspace.objects.count()

    error = assert_error(create_workspace(user_client, body), 400, "VALIDATION")

    assert [detail["field"] for detail in error["details"]] == ["body"]
    assert Workspace.objects.count() == before


def test_create_trims_the_name(user_client):
    data = assert_success(create_workspace(user_client, {"name": "  Agency \n"}), 201)

    assert data["name"] == "Agency"


def test_create_rejects_malformed_json(user_client):
    before = Workspace.objects.count()

    response = user_client.post(
        WORKSPACES_URL, data='{"name": "Agency"', content_type="application/json"
    )

    error = assert_error(response, 400, "VALIDATION")
    assert error["details"] and error["details"][0]["field"] == "body"
    assert Workspace.objects.count() == before


def test_create_writes_a_workspace_created_audit_event(user, user_client):
    data = assert_success(create_workspace(user_client, {"name": "Agency"}), 201)

    [event] = events("workspace.created")
    assert event.actor_type == "user"
    assert event.actor_id == user.public_id
    assert event.workspace_id == data["id"]
    assert event.subject_ids == [data["id"]]


# GET workspaces/{id}/members -------------------------------------------------------------


def test_members_lists_everyone_with_their_role(user, user_client, team):
    admin = member_of(team, "admin")

    rows = assert_success(user_client.get(members_url(team)))

    assert all(set(row) == MEMBER_KEYS for row in rows)
    by_user = {row["userId"]: row for row in rows}
    assert set(by_user) == {user.public_id, admin.public_id}
    assert by_user[admin.public_id]["email"] == admin.email
    assert by_user[admin.public_id]["name"] == admin.name
    assert by_user[admin.public_id]["role"] == "admin"
    assert by_user[user.public_id]["role"] == "owner"
    membership = Membership.objects.get(workspace=team, user=admin)
    assert parse_datetime(by_user[admin.public_id]["addedAt"]) == membership.created_at


def test_a_plain_member_may_see_the_members(user, team):
    plain = member_of(team, "member")

    rows = assert_success(bearer_client(plain).get(members_url(team)))

    assert {row["userId"] for row in rows} == {user.public_id, plain.public_id}


def test_members_of_a_workspace_the_caller_is_not_in_is_404(team):
    stranger = UserFactory()

    response = bearer_client(stranger).get(members_url(team))

    assert_error(response, 404, "NOT_FOUND", "workspace.not_found")
    assert team.name not in response.content.decode()


def test_members_of_an_unknown_workspace_is_404(user_client):
    response = user_client.get(members_url("ws_00000000-0000-4000-8000-000000000000"))

    assert_error(response, 404, "NOT_FOUND", "workspace.not_found")


@pytest.mark.parametrize(
    "workspace_id",
    [
        "ws_nope",
        "sa_6f0f8b8e-34a1-4c8e-9d3e-0b6a2f7c1d11",
        "6f0f8b8e-34a1-4c8e-9d3e-0b6a2f7c1d11",
        "ws_6F0F8B8E-34A1-4C8E-9D3E-0B6A2F7C1D11",
    ],
)
def test_members_with_a_malformed_workspace_id_is_400(user_client, workspace_id):
    error = assert_error(user_client.get(members_url(workspace_id)), 400, "VALIDATION")

    assert [detail["field"] for detail in error["details"]] == ["workspaceId"]


def test_members_query_count_does_not_grow_with_members(user_client, team):
    with CaptureQueriesContext(connection) as one:
        assert len(assert_success(user_client.get(members_url(team)))) == 1
    for _ in range(9):
        member_of(team, "member")

    with CaptureQueriesContext(connection) as ten:
        assert len(assert_success(user_client.get(members_url(team)))) == 10

    assert len(ten.captured_queries) == len(one.captured_queries)


# POST workspaces/{id}/members ------------------------------------------------------------


def test_owner_adds_a_member_and_gets_201(user_client, team):
    newcomer = UserFactory()

    response = add(user_client, team, newcomer.email, "member")

    data = assert_success(response, 201)
    assert set(data) == MEMBER_KEYS
    membership = Membership.objects.get(workspace=team, user=newcomer)
    assert data == {
        "userId": newcomer.public_id,
        "email": newcomer.email,
        "name": newcomer.name,
        "role": "member",
        "addedAt": data["addedAt"],
    }
    assert membership.role == "member"
    assert parse_datetime(data["addedAt"]) == membership.created_at


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_the_added_user_sees_the_workspace_with_that_role(user_client, team, role):
    newcomer = UserFactory()
    assert_success(add(user_client, team, newcomer.email, role), 201)

    rows = listed(bearer_client(newcomer))

    assert {"id": team.public_id, "name": "Team", "role": role} in rows
    members = assert_success(bearer_client(newcomer).get(members_url(team)))
    assert {row["userId"] for row in members} >= {newcomer.public_id}


def test_email_lookup_is_case_insensitive_and_trimmed(user_client, team):
    newcomer = UserFactory()

    response = add(user_client, team, f"  {newcomer.email.upper()} ", "admin")

    data = assert_success(response, 201)
    assert data["userId"] == newcomer.public_id
    assert data["email"] == newcomer.email


def test_adding_an_unknown_email_is_404_and_adds_nobody(user_client, team):
    response = add(user_client, team, "nobody@example.com", "member")

    assert_error(response, 404, "NOT_FOUND", "workspace.member.user_not_found")
    assert Membership.objects.filter(workspace=team).count() == 1
    assert events("workspace.member_added") == []


def test_adding_a_deactivated_user_is_404(user_client, team):
    gone = UserFactory()
    User.objects.filter(pk=gone.pk).update(is_active=False)

    response = add(user_client, team, gone.email, "member")

    assert_error(response, 404, "NOT_FOUND", "workspace.member.user_not_found")
    assert not Membership.objects.filter(workspace=team, user=gone).exists()


def test_adding_someone_already_a_member_is_409_and_keeps_their_role(user_client, team):
    admin = member_of(team, "admin")

    response = add(user_client, team, admin.email, "member")

    assert_error(response, 409, "CONFLICT", "workspace.member.already_member")
    assert Membership.objects.get(workspace=team, user=admin).role == "admin"
    assert events("workspace.member_added") == []


def test_adding_yourself_is_409(user, user_client, team):
    response = add(user_client, team, user.email, "member")

    assert_error(response, 409, "CONFLICT", "workspace.member.already_member")
    assert Membership.objects.get(workspace=team, user=user).role == "owner"


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_a_plain_member_may_not_add_anyone(team, role):
    plain = member_of(team, "member")
    newcomer = UserFactory()

    response = add(bearer_client(plain), team, newcomer.email, role)

    assert_error(response, 403, "FORBIDDEN_ROLE")
    assert not Membership.objects.filter(workspace=team, user=newcomer).exists()


@pytest.mark.parametrize("role", ["admin", "member"])
def test_an_admin_may_add_admins_and_members(team, role):
    admin = member_of(team, "admin")
    newcomer = UserFactory()

    response = add(bearer_client(admin), team, newcomer.email, role)

    assert assert_success(response, 201)["role"] == role
    assert Membership.objects.get(workspace=team, user=newcomer).role == role


def test_an_admin_may_not_make_someone_an_owner(team):
    admin = member_of(team, "admin")
    newcomer = UserFactory()

    response = add(bearer_client(admin), team, newcomer.email, "owner")

    assert_error(response, 403, "FORBIDDEN_ROLE")
    assert not Membership.objects.filter(workspace=team, user=newcomer).exists()
    assert events("workspace.member_added") == []


def test_an_owner_may_add_another_owner(user_client, team):
    newcomer = UserFactory()

    data = assert_success(add(user_client, team, newcomer.email, "owner"), 201)

    assert data["role"] == "owner"
    # The new owner holds the full power of one: they may add owners too.
    third = UserFactory()
    assert_success(add(bearer_client(newcomer), team, third.email, "owner"), 201)


def test_a_non_member_adding_to_a_workspace_gets_404(team):
    stranger = UserFactory()

    response = add(bearer_client(stranger), team, stranger.email, "owner")

    assert_error(response, 404, "NOT_FOUND", "workspace.not_found")
    assert not Membership.objects.filter(workspace=team, user=stranger).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "x@example.com", "role": "superuser"},
        {"email": "x@example.com", "role": "OWNER"},
        {"email": "x@example.com", "role": 1},
        {"email": "x@example.com"},
        {"role": "member"},
        {"email": ["x@example.com"], "role": "member"},
    ],
    ids=["unknown-role", "upper-case-role", "numeric-role", "no-role", "no-email", "email-list"],
)
def test_adding_with_a_bad_body_is_400(user_client, team, body):
    UserFactory(email="x@example.com")

    response = user_client.post(members_url(team), body, format="json")

    error = assert_error(response, 400, "VALIDATION")
    assert error["details"]
    assert {detail["field"] for detail in error["details"]} <= {"email", "role"}
    assert Membership.objects.filter(workspace=team).count() == 1


def test_adding_to_a_malformed_workspace_id_is_400(user_client):
    response = add(user_client, "ws_nope", "x@example.com", "member")

    assert_error(response, 400, "VALIDATION")


def test_adding_a_member_writes_an_audit_event(user, user_client, team):
    newcomer = UserFactory()
    assert_success(add(user_client, team, newcomer.email, "admin"), 201)

    [event] = events("workspace.member_added")
    assert event.actor_type == "user"
    assert event.actor_id == user.public_id
    assert event.workspace_id == team.public_id
    assert event.subject_ids == [team.public_id, newcomer.public_id]


# Rate limit -------------------------------------------------------------------------------


@pytest.fixture
def two_writes_a_minute(settings, steady_clock):
    settings.RATELIMITS = {**settings.RATELIMITS, "workspace.write": "2/m"}


def test_the_third_workspace_write_in_a_minute_is_429(user, user_client, two_writes_a_minute):
    assert_success(create_workspace(user_client, {"name": "One"}), 201)
    assert_success(create_workspace(user_client, {"name": "Two"}), 201)

    response = create_workspace(user_client, {"name": "Three"})

    assert_error(response, 429, "RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert not Workspace.objects.filter(name="Three").exists()
    assert Membership.objects.filter(user=user).count() == 3


def test_workspace_writes_share_one_budget_per_user(user_client, team, two_writes_a_minute):
    assert_success(create_workspace(user_client, {"name": "One"}), 201)
    assert_success(add(user_client, team, UserFactory().email, "member"), 201)
    late = UserFactory()

    response = add(user_client, team, late.email, "member")

    assert_error(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert not Membership.objects.filter(workspace=team, user=late).exists()


def test_reads_are_not_counted_against_the_write_limit(user_client, team, two_writes_a_minute):
    for _ in range(5):
        assert_success(user_client.get(WORKSPACES_URL))
        assert_success(user_client.get(members_url(team)))

    assert_success(create_workspace(user_client, {"name": "One"}), 201)
    assert_success(create_workspace(user_client, {"name": "Two"}), 201)
    assert_error(create_workspace(user_client, {"name": "Three"}), 429, "RATE_LIMITED")
    # A limited writer may still read.
    assert len(listed(user_client)) == 4


def test_each_user_has_a_write_budget_of_their_own(user_client, two_writes_a_minute):
    for name in ("One", "Two"):
        assert_success(create_workspace(user_client, {"name": name}), 201)
    assert_error(create_workspace(user_client, {"name": "Three"}), 429, "RATE_LIMITED")

    other = bearer_client(UserFactory())

    assert_success(create_workspace(other, {"name": "Theirs"}), 201)
