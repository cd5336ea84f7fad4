"""HTTP tests of the webhook endpoints: register (secret shown once, URL rules), list, read,
delete, re-enable, the delivery log; who may call each, and what they cost."""

from __future__ import annotations

import re
import socket

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import AuditEvent, Membership, WebhookDelivery, WebhookEndpoint
from accounts.services import webhook_urls
from accounts.services.webhooks import MAX_ENDPOINTS_PER_WORKSPACE, webhook_event_emit
from tests.factories import (
    ALL_SCOPES,
    UserFactory,
    api_key_for,
    member_of,
    personal_workspace,
    shared_workspace,
)
from tests.helpers import assert_error, assert_success, bearer_client, key_client
from tests.webhook_receiver import ALL_EVENTS, endpoint_for

pytestmark = pytest.mark.django_db

WEBHOOKS_URL = "/api/v1/webhooks"
ITEM_FIELDS = {
    "id",
    "workspaceId",
    "url",
    "events",
    "description",
    "active",
    "disabledAt",
    "disabledReason",
    "createdAt",
}
DELIVERY_FIELDS = {
    "id",
    "event",
    "status",
    "attempts",
    "lastHttpStatus",
    "lastError",
    "nextAttemptAt",
    "deliveredAt",
    "createdAt",
}
WEBHOOK_ID = re.compile(r"^wh_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
HOOK_URL = "https://hooks.example.com/socialhub"
MISSING_ID = "wh_00000000-0000-4000-8000-000000000000"


def webhook_url(webhook_or_id) -> str:
    return f"{WEBHOOKS_URL}/{getattr(webhook_or_id, 'public_id', webhook_or_id)}"


def create(client, **overrides):
    body = {"url": HOOK_URL, "events": ["account.disconnected"], **overrides}
    return client.post(WEBHOOKS_URL, body, format="json")


def row_of(data: dict) -> WebhookEndpoint:
    return WebhookEndpoint.objects.get(pk=data["id"].removeprefix("wh_"))


def listed(client, query: str = "") -> list[dict]:
    return assert_success(client.get(WEBHOOKS_URL + query))["webhooks"]


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("created_at"))


@pytest.fixture(autouse=True)
def hosts_resolve_publicly(monkeypatch):
    """Name resolution stays on this machine: example.com hosts resolve to a public test
    address, other names to whatever the system says (localhost)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if str(host).endswith("example.com"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(webhook_urls.socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def production(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False


@pytest.fixture
def team(user):
    """A shared workspace owned by ``user``."""
    return shared_workspace(user, "Team")


@pytest.fixture
def hook(team):
    endpoint, _secret = endpoint_for(team, HOOK_URL, ["account.connected"])
    return endpoint


# Who may call -----------------------------------------------------------------------------


def _paths(hook):
    return [
        ("get", WEBHOOKS_URL, None),
        ("post", WEBHOOKS_URL, {"url": HOOK_URL, "events": ["account.connected"]}),
        ("get", webhook_url(hook), None),
        ("delete", webhook_url(hook), None),
        ("post", webhook_url(hook) + "/enable", None),
        ("get", webhook_url(hook) + "/deliveries", None),
    ]


def test_no_credentials_get_401_everywhere(api_client, hook):
    for method, path, body in _paths(hook):
        response = getattr(api_client, method)(path, body, format="json")
        assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert WebhookEndpoint.objects.count() == 1


def test_api_keys_are_refused_everywhere_even_with_every_scope(team, hook):
    _key, secret = api_key_for(team, scopes=ALL_SCOPES)
    client = key_client(secret)
    for method, path, body in _paths(hook):
        response = getattr(client, method)(path, body, format="json")
        assert_error(response, 403, "FORBIDDEN_ROLE", "auth.user_token_required")
    assert list(WebhookEndpoint.objects.values_list("pk", "active")) == [(hook.pk, True)]


def test_a_plain_member_gets_403_everywhere(team, hook):
    member = bearer_client(member_of(team, Membership.Role.MEMBER))
    paths = _paths(hook)
    paths[0] = ("get", f"{WEBHOOKS_URL}?workspace={team.public_id}", None)
    paths[1] = ("post", WEBHOOKS_URL, {"workspace": team.public_id, **paths[1][2]})
    for method, path, body in paths:
        response = getattr(member, method)(path, body, format="json")
        assert_error(response, 403, "FORBIDDEN_ROLE", "workspace.forbidden_role")
    assert WebhookEndpoint.objects.count() == 1


def test_a_non_member_gets_404_everywhere(team, hook):
    stranger = bearer_client(UserFactory())
    paths = _paths(hook)
    paths[0] = ("get", f"{WEBHOOKS_URL}?workspace={team.public_id}", None)
    paths[1] = ("post", WEBHOOKS_URL, {"workspace": team.public_id, **paths[1][2]})
    for method, path, body in paths:
        response = getattr(stranger, method)(path, body, format="json")
        assert_error(response, 404, "NOT_FOUND")
    assert WebhookEndpoint.objects.count() == 1


def test_an_admin_manages_webhooks_like_an_owner(team, hook):
    admin = bearer_client(member_of(team, Membership.Role.ADMIN))

    created = assert_success(create(admin, workspace=team.public_id), 201)
    assert {item["id"] for item in listed(admin)} == {hook.public_id, created["id"]}
    assert_success(admin.get(webhook_url(hook) + "/deliveries"))
    assert_success(admin.post(webhook_url(hook) + "/enable"))
    assert_success(admin.delete(webhook_url(created["id"])))


@pytest.mark.parametrize("suffix", ["", "/enable", "/deliveries"])
@pytest.mark.parametrize("webhook_id", ["wh_123", "sa_00000000-0000-4000-8000-000000000000"])
def test_a_malformed_webhook_id_is_400(user_client, suffix, webhook_id):
    method = "post" if suffix == "/enable" else "get"

    response = getattr(user_client, method)(webhook_url(webhook_id) + suffix)

    error = assert_error(response, 400, "VALIDATION")
    assert error["details"][0]["field"] == "webhookId"


def test_an_unknown_webhook_is_404(user_client):
    for response in [
        user_client.get(webhook_url(MISSING_ID)),
        user_client.delete(webhook_url(MISSING_ID)),
        user_client.post(webhook_url(MISSING_ID) + "/enable"),
        user_client.get(webhook_url(MISSING_ID) + "/deliveries"),
    ]:
        assert_error(response, 404, "NOT_FOUND", "webhook.not_found")


# POST webhooks -----------------------------------------------------------------------------


def test_create_answers_201_with_the_secret_once(user, user_client):
    response = create(
        user_client, events=["account.connected", "post.failed"], description="CRM sync"
    )

    data = assert_success(response, 201)
    assert set(data) == ITEM_FIELDS | {"secret"}
    assert WEBHOOK_ID.match(data["id"])
    assert data["workspaceId"] == personal_workspace(user).public_id  # the default
    assert data["url"] == HOOK_URL
    assert data["events"] == ["account.connected", "post.failed"]
    assert data["description"] == "CRM sync"
    assert (data["active"], data["disabledAt"], data["disabledReason"]) == (True, None, "")
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", data["secret"])
    row = row_of(data)
    assert row.secret == data["secret"]
    assert row.created_by == user
    assert parse_datetime(data["createdAt"]) == row.created_at
    # never again
    assert "secret" not in assert_success(user_client.get(webhook_url(data["id"])))
    assert all("secret" not in item for item in listed(user_client))
    assert (
        data["secret"]
        not in user_client.get(webhook_url(data["id"]) + "/deliveries").content.decode()
    )


def test_each_endpoint_gets_its_own_secret(user_client):
    first = assert_success(create(user_client), 201)
    second = assert_success(create(user_client), 201)

    assert first["secret"] != second["secret"]


def test_the_secret_is_encrypted_at_rest(user_client):
    data = assert_success(create(user_client), 201)

    pk = WebhookEndpoint._meta.pk.get_db_prep_value(row_of(data).pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {WebhookEndpoint._meta.db_table} WHERE id = %s", [pk])
        [stored] = cursor.fetchone()

    assert stored
    assert data["secret"] not in stored
    assert data["secret"].removeprefix("whsec_") not in stored


def test_create_in_a_shared_workspace(user, user_client, team):
    data = assert_success(create(user_client, workspace=team.public_id), 201)

    assert data["workspaceId"] == team.public_id
    assert row_of(data).workspace == team


def test_creating_writes_an_audit_event_without_the_secret(user, user_client, team):
    data = assert_success(create(user_client, workspace=team.public_id), 201)

    [event] = events("webhook.created")
    assert (event.actor_type, event.actor_id) == ("user", user.public_id)
    assert event.workspace_id == team.public_id
    assert event.subject_ids == [data["id"]]
    assert event.data == {"url": HOOK_URL, "events": ["account.disconnected"]}
    assert data["secret"] not in str(event.data)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["account.connected"]}, "url"),
        ({"url": None}, "url"),
        ({"url": 7}, "url"),
        ({"url": ""}, "url"),
        ({"url": "hooks.example.com/path"}, "url"),
        ({"url": "ftp://hooks.example.com/drop"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://user:pass@hooks.example.com/x"}, "url"),
        ({"url": "https://token@hooks.example.com/x"}, "url"),
        ({"url": "https:///no-host"}, "url"),
        ({"url": "https://hooks.example.com:99999/x"}, "url"),
        ({"url": "https://hooks.example.com/a b"}, "url"),
        ({"url": "https://hooks.example.com/" + "a" * 2000}, "url"),
        ({"url": HOOK_URL, "events": None}, "events"),
        ({"url": HOOK_URL, "events": []}, "events"),
        ({"url": HOOK_URL, "events": "account.connected"}, "events"),
        ({"url": HOOK_URL, "events": ["account.exploded"]}, "events.0"),
        ({"url": HOOK_URL, "events": ["account.connected", 3]}, "events.1"),
        ({"url": HOOK_URL, "events": ["post.failed", "post.failed"]}, "events"),
        ({"url": HOOK_URL, "events": ["post.failed"], "description": "d" * 256}, "description"),
        ({"url": HOOK_URL, "events": ["post.failed"], "workspace": "ws_nope"}, "workspace"),
        ({"url": HOOK_URL, "events": ["post.failed"], "workspace": 12}, "workspace"),
    ],
)
def test_a_bad_body_is_400_naming_the_field_and_creates_nothing(user_client, body, field):
    response = user_client.post(WEBHOOKS_URL, {"events": ["post.failed"], **body}, format="json")

    error = assert_error(response, 400, "VALIDATION")
    assert field in {detail["field"] for detail in error["details"]}
    assert not WebhookEndpoint.objects.exists()


def test_a_body_that_is_not_an_object_is_400(user_client):
    response = user_client.post(WEBHOOKS_URL, ["https://hooks.example.com"], format="json")

    assert_error(response, 400, "VALIDATION")


def test_every_event_may_be_subscribed_to(user_client):
    data = assert_success(create(user_client, events=ALL_EVENTS), 201)

    assert data["events"] == ALL_EVENTS


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.20/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_in_production_a_private_address_is_refused(user_client, production, url):
    error = assert_error(create(user_client, url=url), 400, "VALIDATION", "webhook.url_invalid")

    assert error["details"] == [{"field": "url", "message": error["message"].removeprefix("url: ")}]
    assert "public addresses" in error["message"]
    assert not WebhookEndpoint.objects.exists()


def test_in_production_plain_http_is_refused(user_client, production):
    error = assert_error(create(user_client, url="http://hooks.example.com/x"), 400, "VALIDATION")

    assert "https" in error["message"]


def test_in_production_a_host_that_does_not_resolve_is_refused(user_client, production):
    error = assert_error(
        create(user_client, url="https://no-such-host.invalid/x"), 400, "VALIDATION"
    )

    assert "does not resolve" in error["message"]


def test_in_production_a_public_https_url_is_accepted(user_client, production):
    assert_success(create(user_client, url=HOOK_URL), 201)


def test_in_development_a_local_receiver_may_be_registered(user_client):
    data = assert_success(create(user_client, url="http://127.0.0.1:8080/hook"), 201)

    assert data["url"] == "http://127.0.0.1:8080/hook"


def test_a_workspace_holds_a_limited_number_of_webhooks(user, user_client):
    workspace = personal_workspace(user)
    for i in range(MAX_ENDPOINTS_PER_WORKSPACE):
        endpoint_for(workspace, f"{HOOK_URL}/{i}")

    error = assert_error(create(user_client), 409, "CONFLICT", "webhook.limit_reached")

    assert str(MAX_ENDPOINTS_PER_WORKSPACE) in error["message"]
    assert WebhookEndpoint.objects.count() == MAX_ENDPOINTS_PER_WORKSPACE
    assert_success(create(user_client, workspace=shared_workspace(user).public_id), 201)


def test_a_retried_create_answers_the_same_secret_and_creates_one(user_client):
    body = {"url": HOOK_URL, "events": ["post.published"]}

    first = user_client.post(WEBHOOKS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="wh-1")
    again = user_client.post(WEBHOOKS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="wh-1")

    assert again.headers["Idempotent-Replayed"] == "true"
    assert assert_success(again, 201) == assert_success(first, 201)
    assert WebhookEndpoint.objects.count() == 1


def test_a_removed_admin_cannot_replay_a_create_and_read_its_secret(team):
    admin = member_of(team, Membership.Role.ADMIN)
    client = bearer_client(admin)
    body = {"workspace": team.public_id, "url": HOOK_URL, "events": ["post.published"]}
    assert_success(client.post(WEBHOOKS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k"), 201)
    Membership.objects.filter(workspace=team, user=admin).delete()

    response = client.post(WEBHOOKS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert_error(response, 404, "NOT_FOUND")
    assert "Idempotent-Replayed" not in response.headers


# GET webhooks ------------------------------------------------------------------------------


def test_the_list_shows_every_workspace_the_caller_manages_oldest_first(user, user_client, team):
    own, _ = endpoint_for(personal_workspace(user), f"{HOOK_URL}/own")
    in_team, _ = endpoint_for(team, f"{HOOK_URL}/team")
    administered = shared_workspace(UserFactory(), "Agency")
    Membership.objects.create(workspace=administered, user=user, role=Membership.Role.ADMIN)
    in_agency, _ = endpoint_for(administered, f"{HOOK_URL}/agency")
    only_member = shared_workspace(UserFactory(), "Club")
    Membership.objects.create(workspace=only_member, user=user, role=Membership.Role.MEMBER)
    endpoint_for(only_member, f"{HOOK_URL}/club")
    endpoint_for(shared_workspace(UserFactory(), "Elsewhere"), f"{HOOK_URL}/elsewhere")

    items = listed(user_client)

    assert [item["id"] for item in items] == [own.public_id, in_team.public_id, in_agency.public_id]
    assert all(set(item) == ITEM_FIELDS for item in items)


def test_the_list_of_one_workspace(user, user_client, team):
    endpoint_for(personal_workspace(user), f"{HOOK_URL}/own")
    in_team, _ = endpoint_for(team, f"{HOOK_URL}/team")

    items = listed(user_client, f"?workspace={team.public_id}")

    assert [item["id"] for item in items] == [in_team.public_id]
    assert items[0]["url"] == f"{HOOK_URL}/team"


@pytest.mark.parametrize("query", ["?workspace=ws_nope", "?workspace=a&workspace=b"])
def test_a_bad_workspace_filter_is_400(user_client, query):
    assert_error(user_client.get(WEBHOOKS_URL + query), 400, "VALIDATION")


def test_list_query_count_does_not_grow_with_webhooks_or_workspaces(
    user, user_client, team, django_assert_num_queries
):
    endpoint_for(team, f"{HOOK_URL}/first")
    with CaptureQueriesContext(connection) as one:
        assert len(listed(user_client)) == 1
    with CaptureQueriesContext(connection) as one_filtered:
        assert len(listed(user_client, f"?workspace={team.public_id}")) == 1
    for i in range(5):
        endpoint_for(team, f"{HOOK_URL}/{i}")
        endpoint_for(shared_workspace(user, f"Team {i}"), f"{HOOK_URL}/{i}")

    with django_assert_num_queries(len(one.captured_queries)):
        assert len(listed(user_client)) == 11
    with django_assert_num_queries(len(one_filtered.captured_queries)):
        assert len(listed(user_client, f"?workspace={team.public_id}")) == 6


# GET / DELETE webhooks/{id} ------------------------------------------------------------------


def test_read_one(user_client, team, hook):
    data = assert_success(user_client.get(webhook_url(hook)))

    assert set(data) == ITEM_FIELDS
    assert data["id"] == hook.public_id
    assert data["workspaceId"] == team.public_id
    assert data["events"] == ["account.connected"]


def test_delete_answers_the_webhook_and_takes_its_deliveries(user, user_client, team, hook):
    webhook_event_emit(workspace_id=team.pk, event="account.connected", data={})
    kept, _ = endpoint_for(team, f"{HOOK_URL}/kept")
    webhook_event_emit(workspace_id=team.pk, event="account.disconnected", data={})

    response = user_client.delete(webhook_url(hook))

    data = assert_success(response)
    assert set(data) == ITEM_FIELDS
    assert data["id"] == hook.public_id
    assert not WebhookEndpoint.objects.filter(pk=hook.pk).exists()
    assert list(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [kept.pk]
    [event] = events("webhook.deleted")
    assert (event.actor_id, event.workspace_id, event.subject_ids) == (
        user.public_id,
        team.public_id,
        [hook.public_id],
    )
    assert_error(user_client.get(webhook_url(hook)), 404, "NOT_FOUND")
    assert_error(user_client.delete(webhook_url(hook)), 404, "NOT_FOUND")


def test_a_retried_delete_replays_its_answer_instead_of_404(user_client, hook):
    first = user_client.delete(webhook_url(hook), HTTP_IDEMPOTENCY_KEY="del-1")
    again = user_client.delete(webhook_url(hook), HTTP_IDEMPOTENCY_KEY="del-1")

    assert again.headers["Idempotent-Replayed"] == "true"
    assert assert_success(again) == assert_success(first)
    assert len(events("webhook.deleted")) == 1
    assert_error(user_client.delete(webhook_url(hook)), 404, "NOT_FOUND", "webhook.not_found")


def test_a_member_cannot_delete_under_an_idempotency_key_either(team, hook):
    member = bearer_client(member_of(team, Membership.Role.MEMBER))

    response = member.delete(webhook_url(hook), HTTP_IDEMPOTENCY_KEY="del-2")

    assert_error(response, 403, "FORBIDDEN_ROLE")
    assert WebhookEndpoint.objects.filter(pk=hook.pk).exists()


# POST webhooks/{id}/enable ----------------------------------------------------------------


def test_enable_turns_a_disabled_webhook_back_on_with_a_clean_count(user, user_client, hook):
    WebhookEndpoint.objects.filter(pk=hook.pk).update(
        active=False,
        disabled_at=timezone.now(),
        disabled_reason="Disabled after 5 deliveries in a row failed.",
        consecutive_failures=5,
    )
    disabled = assert_success(user_client.get(webhook_url(hook)))
    assert disabled["active"] is False
    assert disabled["disabledReason"].startswith("Disabled after 5")
    assert disabled["disabledAt"] is not None

    data = assert_success(user_client.post(webhook_url(hook) + "/enable"))

    assert (data["active"], data["disabledAt"], data["disabledReason"]) == (True, None, "")
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures) == (True, 0)
    [event] = events("webhook.enabled")
    assert (event.actor_id, event.subject_ids) == (user.public_id, [hook.public_id])


def test_enabling_an_active_webhook_changes_nothing(user_client, hook):
    before = hook.updated_at

    data = assert_success(user_client.post(webhook_url(hook) + "/enable"))

    assert data["active"] is True
    hook.refresh_from_db()
    assert hook.updated_at == before
    assert events("webhook.enabled") == []


# GET webhooks/{id}/deliveries ---------------------------------------------------------------


def test_the_delivery_log_is_newest_first_and_paged(user_client, team, hook):
    for _ in range(5):
        webhook_event_emit(workspace_id=team.pk, event="account.connected", data={})
    newest_first = list(WebhookDelivery.objects.order_by("-created_at", "-pk"))
    WebhookDelivery.objects.filter(pk=newest_first[1].pk).update(
        status="delivered", attempts=1, last_http_status=204, delivered_at=timezone.now()
    )
    WebhookDelivery.objects.filter(pk=newest_first[2].pk).update(
        status="failed", attempts=8, last_http_status=500, last_error="HTTP 500."
    )
    url = webhook_url(hook) + "/deliveries"

    first = assert_success(user_client.get(url + "?limit=3"))
    rest = assert_success(user_client.get(f"{url}?limit=3&cursor={first['nextCursor']}"))

    assert rest["nextCursor"] is None
    items = first["deliveries"] + rest["deliveries"]
    assert [item["id"] for item in items] == [d.public_id for d in newest_first]
    assert all(set(item) == DELIVERY_FIELDS for item in items)
    pending, delivered, failed = items[:3]
    assert pending["status"] == "pending"
    assert pending["attempts"] == 0
    assert parse_datetime(pending["nextAttemptAt"]) == newest_first[0].next_attempt_at
    assert (delivered["status"], delivered["lastHttpStatus"], delivered["nextAttemptAt"]) == (
        "delivered",
        204,
        None,
    )
    assert delivered["deliveredAt"] is not None
    assert (failed["status"], failed["attempts"], failed["lastError"]) == (
        "failed",
        8,
        "HTTP 500.",
    )
    assert failed["nextAttemptAt"] is None
    assert all(item["event"] == "account.connected" for item in items)


def test_the_delivery_log_shows_only_this_webhooks_deliveries(user_client, team, hook):
    endpoint_for(team, f"{HOOK_URL}/other", ["account.connected"])
    webhook_event_emit(workspace_id=team.pk, event="account.connected", data={})

    items = assert_success(user_client.get(webhook_url(hook) + "/deliveries"))["deliveries"]

    assert [item["id"] for item in items] == [WebhookDelivery.objects.get(endpoint=hook).public_id]


def test_the_delivery_log_rejects_a_bad_cursor_or_limit(user_client, hook):
    url = webhook_url(hook) + "/deliveries"

    assert_error(user_client.get(url + "?cursor=garbage"), 400, "VALIDATION")
    assert_error(user_client.get(url + "?limit=0"), 400, "VALIDATION")


def test_delivery_log_query_count_does_not_grow_with_deliveries(
    user_client, team, hook, django_assert_num_queries
):
    url = webhook_url(hook) + "/deliveries"
    webhook_event_emit(workspace_id=team.pk, event="account.connected", data={})
    with CaptureQueriesContext(connection) as one:
        assert len(assert_success(user_client.get(url))["deliveries"]) == 1
    for _ in range(30):
        webhook_event_emit(workspace_id=team.pk, event="account.connected", data={})

    with django_assert_num_queries(len(one.captured_queries)):
        assert len(assert_success(user_client.get(url))["deliveries"]) == 20


# Rate limit and schema --------------------------------------------------------------------


@pytest.fixture
def two_writes_a_minute(settings, steady_clock):
    settings.RATELIMITS = {**settings.RATELIMITS, "workspace.write": "2/m"}


def test_the_third_webhook_write_in_a_minute_is_429(user_client, two_writes_a_minute):
    first = assert_success(create(user_client), 201)
    assert_success(user_client.delete(webhook_url(first["id"])))
    for _ in range(3):
        assert_success(user_client.get(WEBHOOKS_URL))

    response = create(user_client)

    assert_error(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    assert not WebhookEndpoint.objects.exists()


def test_real_answers_match_the_published_schema(api_client, user_client, team, hook):
    import jsonschema

    from tests.api.test_health_and_schema import _response_schema

    spec = api_client.get("/api/schema/?format=json").json()
    webhook_event_emit(workspace_id=team.pk, event="account.connected", data={})
    WebhookEndpoint.objects.filter(pk=hook.pk).update(active=False, disabled_at=timezone.now())

    answers = [
        ("/api/v1/webhooks", "post", "201", create(user_client)),
        ("/api/v1/webhooks", "get", "200", user_client.get(WEBHOOKS_URL)),
        ("/api/v1/webhooks/{webhook_id}", "get", "200", user_client.get(webhook_url(hook))),
        (
            "/api/v1/webhooks/{webhook_id}/deliveries",
            "get",
            "200",
            user_client.get(webhook_url(hook) + "/deliveries"),
        ),
        (
            "/api/v1/webhooks/{webhook_id}/enable",
            "post",
            "200",
            user_client.post(webhook_url(hook) + "/enable"),
        ),
        ("/api/v1/webhooks/{webhook_id}", "delete", "200", user_client.delete(webhook_url(hook))),
    ]
    for path, method, status, response in answers:
        assert response.status_code == int(status), response.content
        jsonschema.validate(response.json(), _response_schema(spec, path, method, status))
