"""HTTP tests of workspace API keys: issue, list, revoke, and authenticate with them."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import ApiKey, AuditEvent, IdempotencyRecord
from tests.factories import (
    ALL_SCOPES,
    SocialAccountFactory,
    UserFactory,
    api_key_for,
    member_of,
    personal_workspace,
    shared_workspace,
)
from tests.helpers import assert_error, assert_success, bearer_client, key_client, token_client

pytestmark = pytest.mark.django_db

SOCIAL_ACCOUNTS_URL = "/api/v1/social-accounts"
KEY_FIELDS = {"id", "name", "scopes", "prefix", "disabled", "createdAt", "lastUsedAt", "revokedAt"}
KEY_ID = re.compile(r"^key_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


def keys_url(workspace) -> str:
    return f"/api/v1/workspaces/{workspace.public_id}/api-keys"


def key_url(workspace, key_id: str) -> str:
    return f"{keys_url(workspace)}/{key_id}"


def create_key(client, workspace, scopes=("social:read",), name: str = "zapier"):
    body = {"name": name, "scopes": list(scopes) if isinstance(scopes, tuple) else scopes}
    return client.post(keys_url(workspace), body, format="json")


def revoke(client, workspace, key_id: str):
    return client.delete(key_url(workspace, key_id))


def row_of(data: dict) -> ApiKey:
    return ApiKey.objects.get(pk=data["id"].removeprefix("key_"))


def raw_row(api_key: ApiKey) -> tuple:
    """Every column of the key's row, as stored."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table} WHERE id = %s", [api_key.pk])
        return cursor.fetchone()


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("created_at"))


def accounts_seen(client) -> set[str]:
    """The ids of the social accounts the caller sees, across platforms."""
    grouped = assert_success(client.get(SOCIAL_ACCOUNTS_URL))["socialAccounts"]
    return {item["id"] for items in grouped.values() for item in items}


@pytest.fixture
def team(user):
    """A shared workspace owned by ``user``."""
    return shared_workspace(user, "Team")


# POST api-keys ----------------------------------------------------------------------------


def test_create_answers_201_with_the_secret_once(user_client, team):
    response = create_key(user_client, team, ["social:read", "posts:write"], name="zapier")

    data = assert_success(response, 201)
    assert set(data) == KEY_FIELDS | {"key"}
    assert KEY_ID.match(data["id"])
    assert data["name"] == "zapier"
    assert data["scopes"] == ["posts:write", "social:read"]
    assert data["key"].startswith("shk_")
    assert len(data["key"]) > 40
    assert data["prefix"] == data["key"][:12]
    assert data["disabled"] is False
    assert data["lastUsedAt"] is None
    assert data["revokedAt"] is None
    row = row_of(data)
    assert row.workspace_id == team.pk
    assert parse_datetime(data["createdAt"]) == row.created_at


def test_each_key_gets_its_own_secret(user_client, team):
    first = assert_success(create_key(user_client, team), 201)
    second = assert_success(create_key(user_client, team), 201)

    assert first["id"] != second["id"]
    assert first["key"] != second["key"]


def test_scopes_are_sorted_and_deduplicated(user_client, team):
    scopes = ["social:write", "posts:read", "social:write", "posts:read", "social:write"]

    data = assert_success(create_key(user_client, team, scopes), 201)

    assert data["scopes"] == ["posts:read", "social:write"]
    assert row_of(data).scopes == ["posts:read", "social:write"]


def test_all_four_scopes_are_accepted(user_client, team):
    data = assert_success(create_key(user_client, team, list(reversed(ALL_SCOPES))), 201)

    assert data["scopes"] == sorted(ALL_SCOPES)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "zapier", "scopes": []},
        {"name": "zapier", "scopes": ["social:admin"]},
        {"name": "zapier", "scopes": ["social:read", "nope"]},
        {"name": "zapier", "scopes": "social:read"},
        {"name": "zapier", "scopes": [1]},
        {"name": "zapier", "scopes": {"social:read": True}},
        {"name": "zapier", "scopes": None},
        {"name": "zapier"},
        {"scopes": ["social:read"]},
        {"name": "", "scopes": ["social:read"]},
        {"name": 7, "scopes": ["social:read"]},
        {"name": "k" * 101, "scopes": ["social:read"]},
    ],
    ids=[
        "empty-scopes",
        "unknown-scope",
        "one-unknown-scope",
        "scopes-string",
        "scope-number",
        "scopes-object",
        "scopes-null",
        "no-scopes",
        "no-name",
        "empty-name",
        "numeric-name",
        "name-too-long",
    ],
)
def test_create_with_a_bad_body_is_400_and_creates_nothing(user_client, team, body):
    response = user_client.post(keys_url(team), body, format="json")

    error = assert_error(response, 400, "VALIDATION")
    assert error["details"]
    fields = {detail["field"].split(".")[0].split("[")[0] for detail in error["details"]}
    assert fields <= {"name", "scopes"}
    assert not ApiKey.objects.exists()
    assert events("api_key.created") == []


def test_an_admin_may_create_a_key(team):
    admin = member_of(team, "admin")

    data = assert_success(create_key(bearer_client(admin), team), 201)

    assert row_of(data).workspace_id == team.pk


def test_a_plain_member_may_not_create_a_key(team):
    plain = member_of(team, "member")

    response = create_key(bearer_client(plain), team)

    assert_error(response, 403, "FORBIDDEN_ROLE")
    assert not ApiKey.objects.exists()


def test_a_non_member_creating_a_key_gets_404(team):
    stranger = UserFactory()

    response = create_key(bearer_client(stranger), team)

    assert_error(response, 404, "NOT_FOUND", "workspace.not_found")
    assert not ApiKey.objects.exists()


def test_creating_a_key_writes_an_audit_event_without_the_secret(user, user_client, team):
    data = assert_success(create_key(user_client, team, ["posts:read"]), 201)

    [event] = events("api_key.created")
    assert event.actor_type == "user"
    assert event.actor_id == user.public_id
    assert event.workspace_id == team.public_id
    assert event.subject_ids == [data["id"]]
    assert data["key"] not in str(event.data)


# The secret is shown once -----------------------------------------------------------------


def test_the_database_holds_only_a_hash_of_the_secret(user_client, team):
    data = assert_success(create_key(user_client, team), 201)
    secret = data["key"]

    row = row_of(data)

    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.prefix == secret[:12]
    columns = raw_row(row)
    assert len(columns) == len(ApiKey._meta.concrete_fields)
    assert all(secret not in str(value) for value in columns)
    assert all(secret[12:24] not in str(value) for value in columns)


def test_a_retried_create_makes_one_key_and_keeps_no_plain_secret(user_client, team):
    """A retry with the same Idempotency-Key replays the answer (the client may have lost
    it), but the stored answer is not a plain-text copy of the secret."""
    body = {"name": "zapier", "scopes": ["social:read"]}
    first = user_client.post(keys_url(team), body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    data = assert_success(first, 201)

    again = user_client.post(keys_url(team), body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert assert_success(again, 201) == data
    assert again["Idempotent-Replayed"] == "true"
    assert ApiKey.objects.count() == 1
    assert len(events("api_key.created")) == 1
    record = IdempotencyRecord.objects.get()
    with connection.cursor() as cursor:
        table = IdempotencyRecord._meta.db_table
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [record.pk])
        columns = cursor.fetchone()
    assert all(data["key"] not in str(value) for value in columns)


def test_the_list_shows_keys_without_their_secret(user_client, team):
    first = assert_success(create_key(user_client, team, name="first"), 201)
    second = assert_success(create_key(user_client, team, ["posts:write"], name="second"), 201)

    response = user_client.get(keys_url(team))

    rows = assert_success(response)
    assert [row["id"] for row in rows] == [first["id"], second["id"]]
    assert all(set(row) == KEY_FIELDS for row in rows)
    assert rows[0] == {name: first[name] for name in KEY_FIELDS}
    assert rows[1]["scopes"] == ["posts:write"]
    content = response.content.decode()
    assert first["key"] not in content
    assert second["key"] not in content


def test_the_list_shows_only_this_workspaces_keys(user, user_client, team):
    other, _ = api_key_for(personal_workspace(user))
    mine = assert_success(create_key(user_client, team), 201)

    rows = assert_success(user_client.get(keys_url(team)))

    assert [row["id"] for row in rows] == [mine["id"]]
    assert other.public_id not in {row["id"] for row in rows}


def test_an_admin_may_list_the_keys(team):
    key, _ = api_key_for(team)
    admin = member_of(team, "admin")

    rows = assert_success(bearer_client(admin).get(keys_url(team)))

    assert [row["id"] for row in rows] == [key.public_id]


def test_a_plain_member_may_not_list_the_keys(team):
    api_key_for(team)
    plain = member_of(team, "member")

    response = bearer_client(plain).get(keys_url(team))

    assert_error(response, 403, "FORBIDDEN_ROLE")
    assert "integration" not in response.content.decode()


def test_a_non_member_listing_the_keys_gets_404(team):
    api_key_for(team)

    response = bearer_client(UserFactory()).get(keys_url(team))

    assert_error(response, 404, "NOT_FOUND", "workspace.not_found")


def test_list_query_count_does_not_grow_with_keys(user_client, team):
    api_key_for(team)
    with CaptureQueriesContext(connection) as one:
        assert len(assert_success(user_client.get(keys_url(team)))) == 1
    for i in range(9):
        api_key_for(team, name=f"key {i}")

    with CaptureQueriesContext(connection) as ten:
        assert len(assert_success(user_client.get(keys_url(team)))) == 10

    assert len(ten.captured_queries) == len(one.captured_queries)


# DELETE api-keys/{id} ---------------------------------------------------------------------


def test_revoke_answers_the_key_with_revoked_at(user, user_client, team):
    key, _ = api_key_for(team)
    before = timezone.now()

    data = assert_success(revoke(user_client, team, key.public_id))

    assert set(data) == KEY_FIELDS
    assert data["id"] == key.public_id
    revoked_at = parse_datetime(data["revokedAt"])
    assert before <= revoked_at <= timezone.now()
    key.refresh_from_db()
    assert key.revoked_at == revoked_at
    [event] = events("api_key.revoked")
    assert event.actor_type == "user"
    assert event.actor_id == user.public_id
    assert event.workspace_id == team.public_id
    assert event.subject_ids == [key.public_id]


def test_revoking_again_answers_the_same_and_records_nothing_new(user_client, team):
    key, _ = api_key_for(team)
    first = assert_success(revoke(user_client, team, key.public_id))

    second = assert_success(revoke(user_client, team, key.public_id))

    assert second == first
    assert len(events("api_key.revoked")) == 1


def test_a_revoked_key_stays_listed_as_revoked(user_client, team):
    key, _ = api_key_for(team)
    revoked = assert_success(revoke(user_client, team, key.public_id))

    rows = assert_success(user_client.get(keys_url(team)))

    assert [row["revokedAt"] for row in rows] == [revoked["revokedAt"]]


def test_revoking_another_workspaces_key_is_404(user, user_client, team):
    """Even a key of another workspace the caller owns: the path names this workspace."""
    elsewhere, secret = api_key_for(personal_workspace(user))

    response = revoke(user_client, team, elsewhere.public_id)

    assert_error(response, 404, "NOT_FOUND", "api_key.not_found")
    elsewhere.refresh_from_db()
    assert elsewhere.revoked_at is None
    assert_success(key_client(secret).get(SOCIAL_ACCOUNTS_URL))


def test_revoking_a_key_of_a_workspace_you_are_not_in_is_404(team):
    key, _ = api_key_for(team)
    stranger = UserFactory()
    strangers_team = shared_workspace(stranger, "Theirs")

    via_own = revoke(bearer_client(stranger), strangers_team, key.public_id)
    via_theirs = revoke(bearer_client(stranger), team, key.public_id)

    assert_error(via_own, 404, "NOT_FOUND", "api_key.not_found")
    assert_error(via_theirs, 404, "NOT_FOUND", "workspace.not_found")
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize(
    "key_id",
    ["key_nope", "ws_6f0f8b8e-34a1-4c8e-9d3e-0b6a2f7c1d11", "6f0f8b8e-34a1-4c8e-9d3e-0b6a2f7c1d11"],
)
def test_revoking_a_malformed_key_id_is_400(user_client, team, key_id):
    error = assert_error(revoke(user_client, team, key_id), 400, "VALIDATION")

    assert [detail["field"] for detail in error["details"]] == ["apiKeyId"]


def test_a_plain_member_may_not_revoke(team):
    key, secret = api_key_for(team)
    plain = member_of(team, "member")

    response = revoke(bearer_client(plain), team, key.public_id)

    assert_error(response, 403, "FORBIDDEN_ROLE")
    key.refresh_from_db()
    assert key.revoked_at is None
    assert_success(key_client(secret).get(SOCIAL_ACCOUNTS_URL))


def test_an_admin_may_revoke(team):
    key, _ = api_key_for(team)
    admin = member_of(team, "admin")

    data = assert_success(revoke(bearer_client(admin), team, key.public_id))

    assert data["revokedAt"] is not None


# Authenticating with a key ----------------------------------------------------------------


def test_a_key_sees_its_workspaces_accounts_only(user, user_client, team):
    in_team = SocialAccountFactory(user=user, workspace=team, platform="instagram")
    in_personal = SocialAccountFactory(user=user, platform="x")
    in_other = SocialAccountFactory(platform="youtube")
    secret = assert_success(create_key(user_client, team), 201)["key"]

    seen = accounts_seen(key_client(secret))

    assert seen == {in_team.public_id}
    assert in_personal.public_id not in seen
    assert in_other.public_id not in seen


def test_a_new_key_works_right_away_and_stops_on_revocation(user_client, team):
    data = assert_success(create_key(user_client, team), 201)
    client = key_client(data["key"])
    assert_success(client.get(SOCIAL_ACCOUNTS_URL))

    assert_success(revoke(user_client, team, data["id"]))

    assert_error(client.get(SOCIAL_ACCOUNTS_URL), 401, "AUTH_UNAUTHORIZED", "auth.api_key_invalid")


def _assert_key_refused(response):
    assert_error(response, 401, "AUTH_UNAUTHORIZED", "auth.api_key_invalid")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_key_is_401(team):
    api_key_for(team)

    _assert_key_refused(key_client("shk_" + "x" * 43).get(SOCIAL_ACCOUNTS_URL))


@pytest.mark.parametrize(
    "forge",
    [
        lambda secret: secret[:-1] + ("A" if secret[-1] != "A" else "B"),
        lambda secret: secret[:12] + "x" * (len(secret) - 12),
        lambda secret: secret[:-1],
        lambda secret: secret + "x",
        lambda secret: secret[:12] + secret[12:].swapcase(),
    ],
    ids=["last-char-changed", "prefix-only", "truncated", "extended", "case-swapped"],
)
def test_the_right_prefix_with_a_wrong_secret_is_401(team, forge):
    key, secret = api_key_for(team)
    forged = forge(secret)
    assert forged != secret and forged[:12] == key.prefix

    _assert_key_refused(key_client(forged).get(SOCIAL_ACCOUNTS_URL))

    key.refresh_from_db()
    assert key.last_used_at is None


def test_a_key_is_looked_up_by_the_digest_of_the_whole_secret(team):
    """No timing side channel on the secret: the database is asked for the row whose
    SHA-256 digest matches (a unique index), so nothing compares the secret itself, and
    the secret never travels to the database."""
    _key, secret = api_key_for(team)

    with CaptureQueriesContext(connection) as queries:
        assert_success(key_client(secret).get(SOCIAL_ACCOUNTS_URL))

    digest = hashlib.sha256(secret.encode()).hexdigest()
    lookups = [q["sql"] for q in queries.captured_queries if f"'{digest}'" in q["sql"]]
    assert len(lookups) == 1
    assert '"secret_hash" =' in lookups[0]
    assert all(secret[4:] not in q["sql"] for q in queries.captured_queries)
    assert ApiKey._meta.get_field("secret_hash").unique


def test_a_revoked_key_is_401(team):
    key, secret = api_key_for(team)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())

    _assert_key_refused(key_client(secret).get(SOCIAL_ACCOUNTS_URL))


def test_a_disabled_key_is_401(team):
    key, secret = api_key_for(team)
    ApiKey.objects.filter(pk=key.pk).update(disabled=True)

    _assert_key_refused(key_client(secret).get(SOCIAL_ACCOUNTS_URL))


def test_a_refused_key_does_not_touch_last_used_at(team):
    key, secret = api_key_for(team)
    ApiKey.objects.filter(pk=key.pk).update(disabled=True)

    key_client(secret).get(SOCIAL_ACCOUNTS_URL)

    key.refresh_from_db()
    assert key.last_used_at is None


def test_a_non_key_garbage_bearer_gets_the_token_401(team):
    api_key_for(team)

    response = token_client("not-a-jwt-and-not-a-key").get(SOCIAL_ACCOUNTS_URL)

    error = assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert error["i18nKey"] != "auth.api_key_invalid"
    assert response["WWW-Authenticate"]


def test_last_used_at_is_set_on_first_use(team):
    key, secret = api_key_for(team)
    before = timezone.now()

    assert_success(key_client(secret).get(SOCIAL_ACCOUNTS_URL))

    key.refresh_from_db()
    assert before <= key.last_used_at <= timezone.now()


def test_last_used_at_is_not_rewritten_within_a_minute(team):
    key, secret = api_key_for(team)
    client = key_client(secret)
    assert_success(client.get(SOCIAL_ACCOUNTS_URL))
    key.refresh_from_db()
    first_use = key.last_used_at

    with CaptureQueriesContext(connection) as second:
        assert_success(client.get(SOCIAL_ACCOUNTS_URL))

    key.refresh_from_db()
    assert key.last_used_at == first_use
    assert not any(q["sql"].startswith("UPDATE") for q in second.captured_queries)


def test_last_used_at_is_rewritten_after_more_than_a_minute(team):
    key, secret = api_key_for(team)
    client = key_client(secret)
    assert_success(client.get(SOCIAL_ACCOUNTS_URL))
    stale = timezone.now() - dt.timedelta(minutes=2)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    before = timezone.now()

    assert_success(client.get(SOCIAL_ACCOUNTS_URL))

    key.refresh_from_db()
    assert key.last_used_at >= before


def test_the_listing_shows_when_a_key_was_last_used(user_client, team):
    key, secret = api_key_for(team)
    assert_success(key_client(secret).get(SOCIAL_ACCOUNTS_URL))
    key.refresh_from_db()

    [row] = assert_success(user_client.get(keys_url(team)))

    assert parse_datetime(row["lastUsedAt"]) == key.last_used_at


# What a key may not do ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/creators/social", None),
        ("post", "/api/v1/creators/social/disconnect", {"platform": "instagram"}),
        ("get", "/api/v1/workspaces", None),
        ("post", "/api/v1/workspaces", {"name": "Minted by a key"}),
        ("get", "members", None),
        ("post", "members", {"email": "intruder@example.com", "role": "owner"}),
        ("get", "api-keys", None),
        ("post", "api-keys", {"name": "child", "scopes": ["social:write"]}),
        ("delete", "api-keys/self", None),
    ],
)
def test_a_key_cannot_call_user_only_endpoints(user, team, method, path, body):
    """Not even with every scope: a key must not manage its own workspace or act for a user."""
    SocialAccountFactory(user=user, platform="instagram")
    UserFactory(email="intruder@example.com")
    key, secret = api_key_for(team, scopes=ALL_SCOPES)
    if path == "api-keys/self":
        path = key_url(team, key.public_id)
    elif not path.startswith("/"):
        path = f"/api/v1/workspaces/{team.public_id}/{path}"

    response = getattr(key_client(secret), method)(path, body, format="json")

    assert_error(response, 403, "FORBIDDEN_ROLE", "auth.user_token_required")
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.objects.count() == 1
    assert not team.memberships.filter(user__email="intruder@example.com").exists()
    assert user.social_accounts.filter(platform="instagram").exists()


# Rate limit -------------------------------------------------------------------------------


@pytest.fixture
def two_writes_a_minute(settings, steady_clock):
    settings.RATELIMITS = {**settings.RATELIMITS, "workspace.write": "2/m"}


def test_the_third_key_write_in_a_minute_is_429(user_client, team, two_writes_a_minute):
    first = assert_success(create_key(user_client, team), 201)
    assert_success(revoke(user_client, team, first["id"]))

    response = create_key(user_client, team)

    assert_error(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert ApiKey.objects.count() == 1


def test_listing_keys_is_not_counted(user_client, team, two_writes_a_minute):
    for _ in range(5):
        assert_success(user_client.get(keys_url(team)))

    assert_success(create_key(user_client, team), 201)
    assert_success(create_key(user_client, team), 201)
    assert_error(create_key(user_client, team), 429, "RATE_LIMITED")
    assert len(assert_success(user_client.get(keys_url(team)))) == 2
