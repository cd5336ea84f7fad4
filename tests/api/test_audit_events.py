"""HTTP tests of the audit trail: who may read it, filters, and cursor pagination."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import AuditEvent, Membership
from accounts.services.actors import Actor
from accounts.services.audit import audit_event_record
from tests.factories import (
    UserFactory,
    api_key_for,
    member_of,
    personal_workspace,
    shared_workspace,
)
from tests.helpers import account_url, assert_error, assert_success, bearer_client, key_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events"


def record(workspace, action: str = "thing.done", *, at=None, **data) -> AuditEvent:
    event = audit_event_record(
        actor=Actor.system("test"), action=action, workspace_id=workspace.public_id, data=data
    )
    if at is not None:
        AuditEvent.objects.filter(pk=event.pk).update(created_at=at)
    return event


def listed(client, query: str = "") -> dict:
    return assert_success(client.get(f"{URL}{query}"))


@pytest.fixture
def team(user):
    return shared_workspace(user, "Team")


def test_owner_reads_events_of_the_workspaces_they_manage_newest_first(user, user_client, team):
    older = record(team, "first", at=timezone.now() - dt.timedelta(minutes=2))
    newer = record(personal_workspace(user), "second", at=timezone.now() - dt.timedelta(minutes=1))
    elsewhere = record(shared_workspace(UserFactory(), "Other"), "foreign")

    page = listed(user_client)

    ids = [event["id"] for event in page["auditEvents"]]
    assert ids.index(newer.public_id) < ids.index(older.public_id)
    assert elsewhere.public_id not in ids
    managed = {personal_workspace(user).public_id, team.public_id}
    assert {event["workspaceId"] for event in page["auditEvents"]} == managed
    assert page["nextCursor"] is None
    first = page["auditEvents"][ids.index(newer.public_id)]
    assert first == {
        "id": newer.public_id,
        "action": "second",
        "actor": {"type": "system", "id": "test"},
        "workspaceId": personal_workspace(user).public_id,
        "subjectIds": [],
        "data": {},
        "correlationId": "",
        "createdAt": first["createdAt"],
    }


def test_a_real_disconnect_is_in_the_trail_with_its_counts(user, user_client, account):
    assert_success(user_client.delete(account_url(account)))

    events = listed(user_client, "?action=social_account.disconnected")["auditEvents"]

    assert len(events) == 1
    assert events[0]["actor"] == {"type": "user", "id": user.public_id}
    assert events[0]["subjectIds"][0] == account.public_id
    assert events[0]["data"]["reason"] == "revoked_by_user"
    assert events[0]["correlationId"]


def test_members_see_nothing_and_are_refused_a_named_workspace(user, team):
    member = member_of(team, Membership.Role.MEMBER)
    record(team)
    client = bearer_client(member)

    own = listed(client)["auditEvents"]  # their personal workspace's only
    assert {event["workspaceId"] for event in own} == {personal_workspace(member).public_id}
    assert_error(
        client.get(f"{URL}?workspace={team.public_id}"),
        403,
        "FORBIDDEN_ROLE",
        "workspace.forbidden_role",
    )


def test_admins_read_the_workspace_they_administer(team):
    admin = member_of(team, Membership.Role.ADMIN)
    event = record(team)

    page = listed(bearer_client(admin), f"?workspace={team.public_id}&action=thing.done")

    assert [e["id"] for e in page["auditEvents"]] == [event.public_id]


def test_another_tenants_workspace_is_not_found(user_client):
    stranger_team = shared_workspace(UserFactory(), "Other")
    record(stranger_team)

    assert_error(
        user_client.get(f"{URL}?workspace={stranger_team.public_id}"),
        404,
        "NOT_FOUND",
        "workspace.not_found",
    )


def test_api_keys_and_anonymous_callers_are_refused(user, api_client):
    _key, secret = api_key_for(personal_workspace(user), scopes=["social:read", "posts:read"])

    assert_error(key_client(secret).get(URL), 403, "FORBIDDEN_ROLE", "auth.user_token_required")
    assert_error(api_client.get(URL), 401, "AUTH_UNAUTHORIZED")


def test_filters_by_action_and_time(user_client, team):
    now = timezone.now()
    record(team, "a", at=now - dt.timedelta(hours=3))
    middle = record(team, "a", at=now - dt.timedelta(hours=2))
    record(team, "b", at=now - dt.timedelta(hours=2))
    record(team, "a", at=now - dt.timedelta(hours=1))
    after = (now - dt.timedelta(hours=2, minutes=30)).isoformat().replace("+00:00", "Z")
    before = (now - dt.timedelta(hours=1, minutes=30)).isoformat().replace("+00:00", "Z")

    page = listed(user_client, f"?action=a&createdAfter={after}&createdBefore={before}")

    assert [e["id"] for e in page["auditEvents"]] == [middle.public_id]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?createdAfter=yesterday", "createdAfter"),
        ("?createdBefore=2026-01-01T00:00:00", "createdBefore"),  # no time zone
        # Before year 1 or after 9999 once in UTC.
        ("?createdAfter=0001-01-01T00:00:00%2B05:00", "createdAfter"),
        ("?createdBefore=9999-12-31T23:00:00-05:00", "createdBefore"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=WyJ4IiwieSJd", "cursor"),  # well-encoded, meaningless
        ("?workspace=ws_nope", "workspace"),
        ("?action=a&action=b", "action"),
        ("?action=a%00b", "action"),  # once a 500: PostgreSQL refuses NUL in a query
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_field(user_client, query, field):
    error = assert_error(user_client.get(f"{URL}{query}"), 400, "VALIDATION")

    assert error["details"][0]["field"] == field


@pytest.mark.parametrize("offset", ["-18:06", "%2B23:59"])
def test_an_offset_the_database_cannot_store_is_read_as_the_instant_it_names(
    user, user_client, offset
):
    """An ISO-8601 offset beyond ±15:59 once crashed the query with a 500."""
    event = record(personal_workspace(user), "a")

    assert listed(user_client, f"?createdBefore=0291-06-13T09:25:27{offset}")["auditEvents"] == []
    page = listed(user_client, f"?createdAfter=0291-06-13T09:25:27{offset}")
    assert event.public_id in [e["id"] for e in page["auditEvents"]]


def test_pages_cover_every_event_once_in_constant_queries(
    user_client, team, django_assert_num_queries
):
    same_instant = timezone.now() - dt.timedelta(minutes=5)
    created = [record(team, "tick", at=same_instant) for _ in range(4)]  # ties on created_at
    created += [record(team, "tick", at=same_instant + dt.timedelta(seconds=i)) for i in range(3)]

    seen: list[str] = []
    query = "?action=tick&limit=3"
    pages = 0
    while True:
        # auth (user) + managed workspaces + the page
        with django_assert_num_queries(3):
            page = listed(user_client, query)
        pages += 1
        seen += [event["id"] for event in page["auditEvents"]]
        if page["nextCursor"] is None:
            break
        query = f"?action=tick&limit=3&cursor={page['nextCursor']}"

    assert pages == 3
    assert sorted(seen) == sorted(event.public_id for event in created)
    assert len(seen) == len(set(seen))


def test_an_event_recorded_between_pages_neither_repeats_nor_shifts_the_next_page(
    user_client, team
):
    base = timezone.now() - dt.timedelta(hours=1)
    events = [record(team, "tick", at=base + dt.timedelta(minutes=i)) for i in range(4)]
    first = listed(user_client, "?action=tick&limit=2")

    record(team, "tick")  # newest: belongs before the first page, not in the second
    second = listed(user_client, f"?action=tick&limit=2&cursor={first['nextCursor']}")

    assert [e["id"] for e in first["auditEvents"]] == [events[3].public_id, events[2].public_id]
    assert [e["id"] for e in second["auditEvents"]] == [events[1].public_id, events[0].public_id]
