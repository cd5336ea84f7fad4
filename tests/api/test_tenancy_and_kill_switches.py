"""Tenant isolation across every workspace endpoint, the scope x role matrix of the
social-account endpoints, and the kill switches that shut API keys off."""

from __future__ import annotations

import itertools
import logging
import re
import types
import uuid

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts.models import (
    ApiKey,
    KillSwitch,
    Membership,
    Platform,
    SocialAccount,
    WebhookDelivery,
    WebhookEndpoint,
)
from scheduling.models import PostTarget, ScheduledPost
from tests.factories import (
    InboxItemFactory,
    LeaseFactory,
    MetricsSnapshotFactory,
    PostTargetFactory,
    SocialAccountFactory,
    UserFactory,
    add_member,
    api_key_for,
    shared_workspace,
)
from tests.helpers import (
    account_url,
    api_routes,
    assert_error,
    assert_success,
    bearer_client,
    database_state,
    key_client,
    leased_url,
)
from tests.webhook_receiver import endpoint_for

pytestmark = pytest.mark.django_db

READ = ApiKey.Scope.SOCIAL_READ.value
WRITE = ApiKey.Scope.SOCIAL_WRITE.value
POSTS = [ApiKey.Scope.POSTS_READ.value, ApiKey.Scope.POSTS_WRITE.value]
Role = Membership.Role


def tenant(name: str):
    """A shared workspace with an owner, an admin, a member, two accounts with history
    (one leased) and a key holding every scope."""
    owner, admin, member = UserFactory(), UserFactory(), UserFactory()
    workspace = shared_workspace(owner, name=name)
    add_member(workspace, admin, Role.ADMIN)
    add_member(workspace, member, Role.MEMBER)
    account = SocialAccountFactory(
        user=owner, workspace=workspace, platform=Platform.INSTAGRAM, followers=100
    )
    leased = SocialAccountFactory(
        user=member, workspace=workspace, platform=Platform.X, followers=40
    )
    for each in (account, leased):
        PostTargetFactory(social_account=each, status=PostTarget.Status.QUEUED)
        MetricsSnapshotFactory.create_batch(2, social_account=each)
        InboxItemFactory(social_account=each)
    LeaseFactory(social_account=leased)
    key, secret = api_key_for(workspace, name=f"{name} key")
    # A webhook that failed (so "enable" would change it) with one delivery on record.
    webhook, _webhook_secret = endpoint_for(workspace, f"https://hooks.example.com/{name}")
    WebhookEndpoint.objects.filter(pk=webhook.pk).update(
        active=False, disabled_at=timezone.now(), disabled_reason="failing"
    )
    WebhookDelivery.objects.create(endpoint=webhook, event="account.connected", body="{}")
    post = ScheduledPost.objects.get(targets__social_account=account)
    return types.SimpleNamespace(
        workspace=workspace,
        owner=owner,
        admin=admin,
        member=member,
        account=account,
        leased=leased,
        key=key,
        secret=secret,
        webhook=webhook,
        post=post,
    )


@pytest.fixture
def tenants():
    return types.SimpleNamespace(a=tenant("A"), b=tenant("B"))


# Tenant matrix: every parameterised endpoint, probed with another tenant's ids --------

# Tenant ``t``'s id for each path parameter under /api/. A new parameterised endpoint needs
# its parameter here (and a body below for a write), or the tests below fail.
PATH_IDS = {
    "social_account_id": lambda t: t.leased.public_id,  # leased: lease release reaches it too
    "workspace_id": lambda t: t.workspace.public_id,
    "api_key_id": lambda t: t.key.public_id,
    "webhook_id": lambda t: t.webhook.public_id,
    "scheduled_post_id": lambda t: t.post.public_id,
}
# A valid body for each write, so the answer is about the ids and not about the body.
BODIES = {
    ("workspace-members", "post"): lambda t: {"email": t.member.email, "role": Role.OWNER},
    ("workspace-api-keys", "post"): lambda t: {"name": "sneaky", "scopes": [READ, WRITE]},
    ("webhook-enable", "post"): lambda t: {},
    ("scheduled-post-detail", "patch"): lambda t: {"text": "Hijacked"},
    ("scheduled-post-cancel", "post"): lambda t: {},
}
WRITES = {"post", "put", "patch"}
PARAMETERISED_ROUTES = [route for route in api_routes() if route.params]
# Each route x method x which parameters carry B's ids (at least one; the others A's).
TENANT_PROBES = [
    pytest.param(
        route,
        method,
        owners,
        id=f"{method.upper()} {route.name} " + ",".join(f"{p}={o}" for p, o in owners.items()),
    )
    for route in PARAMETERISED_ROUTES
    for method in route.methods
    for choice in itertools.product("ab", repeat=len(route.params))
    if "b" in choice
    for owners in [dict(zip(route.params, choice, strict=True))]
]
# What path parameters cannot say: a dry run's query, and every list's workspace filter
# (read from the OpenAPI schema, so a new filter is probed too).
QUERY_PROBES = [
    pytest.param("delete", lambda b: account_url(b.account) + "?dryRun=true", id="dry-run"),
    pytest.param("delete", lambda b: leased_url(b.leased) + "?dryRun=1", id="dry-run release"),
    *(
        pytest.param(
            method,
            lambda b, path=path: f"{path}?workspace={b.workspace.public_id}",
            id=f"{method.upper()} {path}?workspace",
        )
        for path, operations in SchemaGenerator().get_schema(public=True)["paths"].items()
        for method, operation in operations.items()
        if any(
            parameter["in"] == "query" and parameter["name"] == "workspace"
            for parameter in operation.get("parameters", [])
        )
    ),
]
CALLERS = ["owner", "admin", "member", "key"]


def send(client, method, path, body=None):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


def client_of(t, caller: str):
    return key_client(t.secret) if caller == "key" else bearer_client(getattr(t, caller))


def a_missing_id(public_id: str) -> str:
    """An id of the same kind that names no row."""
    return re.sub(r"_[0-9a-f-]{36}$", f"_{uuid.uuid4()}", public_id)


def tenant_state() -> dict:
    """``database_state`` plus the webhook and post rows a probe could touch."""
    return {
        **database_state(),
        "webhooks": set(
            WebhookEndpoint.objects.values_list(
                "id", "workspace_id", "active", "disabled_at", "consecutive_failures", "url"
            )
        ),
        "deliveries": set(WebhookDelivery.objects.values_list("id", "endpoint_id", "status")),
        "post_texts": set(ScheduledPost.objects.values_list("id", "text", "workspace_id")),
    }


def assert_same_answer(theirs, nothing) -> None:
    """Another tenant's id reads exactly like a missing one."""
    error = theirs.json()["error"]
    other = assert_error(nothing, theirs.status_code, error["code"])
    for field in ("message", "i18nKey", "i18nVars", "details"):
        assert error[field] == other[field]


def test_every_path_parameter_and_write_has_a_probe():
    """No silent skip: the probes below cover every parameterised route under /api/."""
    assert PARAMETERISED_ROUTES, "the URL resolver listed no parameterised API route"
    params = {param for route in PARAMETERISED_ROUTES for param in route.params}
    assert params <= set(PATH_IDS), f"no tenant id for {params - set(PATH_IDS)}"
    writes = {
        (route.name, method)
        for route in PARAMETERISED_ROUTES
        for method in route.methods
        if method in WRITES
    }
    assert writes <= set(BODIES), f"no probe body for {writes - set(BODIES)}"
    assert len(QUERY_PROBES) > 2, "the schema listed no workspace filter"


@pytest.mark.parametrize(("route", "method", "owners"), TENANT_PROBES)
@pytest.mark.parametrize("caller", CALLERS)
def test_every_parameterised_endpoint_answers_404_for_another_tenants_ids(
    tenants, caller, route, method, owners
):
    """A's owner, admin, member and key (every scope) name B's rows on every route and
    method: 404 (keys: 403 where only users may call), exactly what a missing id gets,
    and nothing changes anywhere."""
    a, b = tenants.a, tenants.b
    values = {param: PATH_IDS[param](b if owner == "b" else a) for param, owner in owners.items()}
    missing = {
        param: a_missing_id(value) if owners[param] == "b" else value
        for param, value in values.items()
    }
    body = BODIES[(route.name, method)](a) if method in WRITES else None
    client = client_of(a, caller)
    before = tenant_state()

    theirs = send(client, method, route.url(**values), body)
    nothing = send(client, method, route.url(**missing), body)

    if caller == "key" and theirs.status_code == 403:  # users only: refused before any lookup
        assert_error(theirs, 403, "FORBIDDEN_ROLE", "auth.user_token_required")
    elif caller == "member" and owners.get("workspace_id") == "a":
        # A's member may not manage A at all; the role check comes first, so the answer
        # says nothing about B's rows either.
        assert_error(theirs, 403, "FORBIDDEN_ROLE", "workspace.forbidden_role")
    else:
        error = assert_error(theirs, 404, "NOT_FOUND")
        assert error["details"] == []
    assert_same_answer(theirs, nothing)
    assert tenant_state() == before


@pytest.mark.parametrize(("method", "path"), QUERY_PROBES)
@pytest.mark.parametrize("caller", CALLERS)
def test_a_query_naming_another_tenant_answers_404(tenants, caller, method, path):
    """A dry run of B's account, or a list filtered to B's workspace: 404 like a missing
    id (keys: 403 where only users may call), and nothing changes."""
    a, b = tenants.a, tenants.b
    url = path(b)
    for public_id in (b.workspace.public_id, b.account.public_id, b.leased.public_id):
        url_of_nothing = url.replace(public_id, a_missing_id(public_id))
        if url_of_nothing != url:
            break
    assert url_of_nothing != url, f"{url} names none of B's rows"
    client = client_of(a, caller)
    before = tenant_state()

    theirs = send(client, method, url)
    nothing = send(client, method, url_of_nothing)

    if caller == "key" and theirs.status_code == 403:
        assert_error(theirs, 403, "FORBIDDEN_ROLE", "auth.user_token_required")
    else:
        assert_error(theirs, 404, "NOT_FOUND")
    assert_same_answer(theirs, nothing)
    assert tenant_state() == before


@pytest.mark.parametrize(
    ("route", "method"),
    [(route, method) for route in PARAMETERISED_ROUTES for method in route.methods],
    ids=lambda value: getattr(value, "name", value),
)
def test_control_the_probe_ids_reach_their_own_tenants_rows(tenants, route, method):
    """The 404s above are about tenancy: B's owner with the same ids and bodies gets an
    answer."""
    b = tenants.b
    values = {param: PATH_IDS[param](b) for param in route.params}
    body = BODIES[(route.name, method)](b) if method in WRITES else None

    response = send(bearer_client(b.owner), method, route.url(**values), body)

    if (route.name, method) == ("workspace-members", "post"):
        assert_error(response, 409, "CONFLICT")  # B's member is a member already
    else:
        assert response.status_code in {200, 201}, response.content
        assert_success(response, response.status_code)


def test_tenant_matrix_control_workspace_b_reaches_its_own_rows(tenants):
    """The probes above fail for A only: B's own owner and key get answers."""
    b = tenants.b
    owner, key = bearer_client(b.owner), key_client(b.secret)
    ws = b.workspace.public_id

    assert_success(owner.get(account_url(b.account)))
    assert_success(key.get(account_url(b.account)))
    assert_success(key.delete(account_url(b.account) + "?dryRun=true"))
    assert_success(key.delete(leased_url(b.leased) + "?dryRun=true"))
    listed = assert_success(key.get(f"/api/v1/social-accounts?workspace={ws}"))
    assert {row["id"] for rows in listed["socialAccounts"].values() for row in rows} == {
        b.account.public_id,
        b.leased.public_id,
    }
    assert len(assert_success(owner.get(f"/api/v1/workspaces/{ws}/members"))) == 3
    keys = assert_success(owner.get(f"/api/v1/workspaces/{ws}/api-keys"))
    assert [item["id"] for item in keys] == [b.key.public_id]


def test_lists_never_include_another_tenants_accounts(tenants):
    a, b = tenants.a, tenants.b
    expected = {a.account.public_id, a.leased.public_id}

    for client in (bearer_client(a.owner), bearer_client(a.member), key_client(a.secret)):
        groups = assert_success(client.get("/api/v1/social-accounts"))["socialAccounts"]
        seen = {row["id"] for rows in groups.values() for row in rows}
        assert seen == expected
        assert b.account.public_id not in seen


def test_a_user_in_both_workspaces_sees_both_and_filters_by_each(tenants):
    a, b = tenants.a, tenants.b
    both = UserFactory()
    add_member(a.workspace, both, Role.MEMBER)
    add_member(b.workspace, both, Role.ADMIN)
    client = bearer_client(both)

    def seen(query=None):
        groups = assert_success(client.get("/api/v1/social-accounts", query))["socialAccounts"]
        return {row["id"] for rows in groups.values() for row in rows}

    assert seen() == {
        a.account.public_id,
        a.leased.public_id,
        b.account.public_id,
        b.leased.public_id,
    }
    assert seen({"workspace": a.workspace.public_id}) == {a.account.public_id, a.leased.public_id}
    assert seen({"workspace": b.workspace.public_id}) == {b.account.public_id, b.leased.public_id}
    # Their role is per workspace: member in A (no disconnect), admin in B (disconnect).
    assert_error(client.delete(account_url(a.account)), 403, "FORBIDDEN_ROLE")
    assert_success(client.delete(account_url(b.account)))


# Scopes x endpoints (keys) and roles x writes (users) -------------------------------

SCOPE_SETS = {
    "read": [READ],
    "write": [WRITE],
    "read+write": [READ, WRITE],
    "posts only": POSTS,
    "none": [],
}
# (name, method, path, scope it needs)
ENDPOINTS = [
    ("list", "get", lambda t: "/api/v1/social-accounts", READ),
    (
        "list own ws",
        "get",
        lambda t: f"/api/v1/social-accounts?workspace={t.workspace.public_id}",
        READ,
    ),
    ("read", "get", lambda t: account_url(t.account), READ),
    ("disconnect", "delete", lambda t: account_url(t.account), WRITE),
    ("dry-run disconnect", "delete", lambda t: account_url(t.account) + "?dryRun=true", WRITE),
    ("release lease", "delete", lambda t: leased_url(t.leased), WRITE),
    ("dry-run release", "delete", lambda t: leased_url(t.leased) + "?dryRun=true", WRITE),
]


@pytest.mark.parametrize(
    ("endpoint", "method", "path", "needs"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
@pytest.mark.parametrize("scope_set", list(SCOPE_SETS))
def test_key_scopes_decide_each_endpoint(tenants, scope_set, endpoint, method, path, needs):
    a = tenants.a
    _key, secret = api_key_for(a.workspace, scopes=SCOPE_SETS[scope_set], name=scope_set)
    before = database_state()

    response = getattr(key_client(secret), method)(path(a))

    if needs in SCOPE_SETS[scope_set]:
        assert_success(response)
        if method == "delete" and "dryRun" not in path(a):
            target = a.leased if "leased" in path(a) else a.account
            assert not SocialAccount.objects.filter(pk=target.pk).exists()
    else:
        error = assert_error(response, 403, "FORBIDDEN_SCOPE")
        assert error["details"] == {"requiredScope": needs}
        assert error["i18nVars"] == {"requiredScope": needs}
        assert database_state() == before


@pytest.mark.parametrize(
    ("endpoint", "method", "path", "needs"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
def test_missing_scope_is_checked_before_the_account_is_looked_up(
    tenants, endpoint, method, path, needs
):
    """A key without the scope learns nothing about ids: 403 for B's account as for A's."""
    a, b = tenants.a, tenants.b
    other = WRITE if needs == READ else READ
    _key, secret = api_key_for(a.workspace, scopes=[other], name="narrow")

    response = getattr(key_client(secret), method)(path(b))

    error = assert_error(response, 403, "FORBIDDEN_SCOPE")
    assert error["details"] == {"requiredScope": needs}


@pytest.mark.parametrize(
    ("role", "allowed"), [(Role.OWNER, True), (Role.ADMIN, True), (Role.MEMBER, False)]
)
@pytest.mark.parametrize(
    ("endpoint", "method", "path", "needs"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
def test_user_roles_decide_writes_and_every_role_reads(
    tenants, role, allowed, endpoint, method, path, needs
):
    a = tenants.a
    user = getattr(a, role)
    before = database_state()

    response = getattr(bearer_client(user), method)(path(a))

    if method == "get" or allowed:
        data = assert_success(response)
        if method == "delete":
            expected = "lease_released" if "leased" in path(a) else "revoked_by_user"
            assert data["disconnectedReason"] == expected
    else:
        error = assert_error(response, 403, "FORBIDDEN_ROLE", "workspace.forbidden_role")
        assert error["i18nVars"] == {"role": "member"}
        assert database_state() == before


# Kill switches ------------------------------------------------------------------------

KEY_CALLS = [
    ("list", "get", lambda t: "/api/v1/social-accounts"),
    ("read", "get", lambda t: account_url(t.account)),
    ("disconnect", "delete", lambda t: account_url(t.account)),
    ("dry-run disconnect", "delete", lambda t: account_url(t.account) + "?dryRun=true"),
    ("release lease", "delete", lambda t: leased_url(t.leased)),
]
KEY_CALL_IDS = [call[0] for call in KEY_CALLS]


def switch_on(scope: str, t, *, enabled: bool = True) -> KillSwitch:
    if scope == KillSwitch.Scope.KEY:
        return KillSwitch.objects.create(scope=scope, api_key=t.key, enabled=enabled)
    if scope == KillSwitch.Scope.WORKSPACE:
        return KillSwitch.objects.create(scope=scope, workspace=t.workspace, enabled=enabled)
    return KillSwitch.objects.create(scope=scope, enabled=enabled)


@pytest.mark.parametrize(("call", "method", "path"), KEY_CALLS, ids=KEY_CALL_IDS)
@pytest.mark.parametrize("scope", ["key", "workspace", "global"])
def test_an_engaged_kill_switch_answers_503_and_changes_nothing(tenants, scope, call, method, path):
    a = tenants.a
    switch_on(scope, a)
    before = database_state()

    response = getattr(key_client(a.secret), method)(path(a))

    error = assert_error(response, 503, "KILL_SWITCH", f"common.kill_switch.{scope}")
    assert error["details"] == {"scope": scope}
    assert int(response["Retry-After"]) >= 1
    assert database_state() == before
    assert ApiKey.objects.get(pk=a.key.pk).last_used_at is None


def test_a_kill_switch_refusal_is_logged_as_info_not_as_a_server_error(tenants, caplog):
    a = tenants.a
    switch_on("workspace", a)

    with caplog.at_level(logging.INFO):
        response = key_client(a.secret).get(account_url(a.account))

    assert response.status_code == 503
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert any("Refused by a kill switch" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("scope", ["key", "workspace", "global"])
def test_turning_a_kill_switch_off_restores_access(tenants, scope):
    a = tenants.a
    switch = switch_on(scope, a)
    client = key_client(a.secret)
    assert_error(client.get(account_url(a.account)), 503, "KILL_SWITCH")

    switch.enabled = False
    switch.save()

    assert_success(client.get(account_url(a.account)))
    assert_success(client.delete(account_url(a.account)))
    assert not SocialAccount.objects.filter(pk=a.account.pk).exists()


@pytest.mark.parametrize(("call", "method", "path"), KEY_CALLS, ids=KEY_CALL_IDS)
@pytest.mark.parametrize("scope", ["key", "workspace", "global"])
def test_a_disabled_kill_switch_has_no_effect(tenants, scope, call, method, path):
    a = tenants.a
    switch_on(scope, a, enabled=False)

    assert_success(getattr(key_client(a.secret), method)(path(a)))


@pytest.mark.parametrize(("call", "method", "path"), KEY_CALLS, ids=KEY_CALL_IDS)
def test_switches_on_other_keys_and_workspaces_have_no_effect(tenants, call, method, path):
    a, b = tenants.a, tenants.b
    sibling, _secret = api_key_for(a.workspace, name="sibling")
    KillSwitch.objects.create(scope="key", api_key=sibling, enabled=True)
    KillSwitch.objects.create(scope="key", api_key=b.key, enabled=True)
    KillSwitch.objects.create(scope="workspace", workspace=b.workspace, enabled=True)

    assert_success(getattr(key_client(a.secret), method)(path(a)))
    assert_error(key_client(b.secret).get("/api/v1/social-accounts"), 503, "KILL_SWITCH")


@pytest.mark.parametrize(("call", "method", "path"), KEY_CALLS, ids=KEY_CALL_IDS)
def test_user_requests_ignore_kill_switches(tenants, call, method, path):
    a = tenants.a
    for scope in ("key", "workspace", "global"):
        switch_on(scope, a)

    assert_success(getattr(bearer_client(a.owner), method)(path(a)))
    assert_error(key_client(a.secret).get(path(a)), 503, "KILL_SWITCH")


@pytest.mark.parametrize(
    ("engaged", "named"),
    [
        (("key", "global"), "global"),
        (("key", "workspace"), "workspace"),
        (("workspace", "global"), "global"),
        (("key", "workspace", "global"), "global"),
    ],
)
def test_the_broadest_engaged_switch_is_named(tenants, engaged, named):
    a = tenants.a
    for scope in engaged:
        switch_on(scope, a)

    error = assert_error(key_client(a.secret).get("/api/v1/social-accounts"), 503, "KILL_SWITCH")

    assert error["details"] == {"scope": named}


def test_a_revoked_key_is_refused_everywhere(tenants):
    a = tenants.a
    owner = bearer_client(a.owner)
    revoke = f"/api/v1/workspaces/{a.workspace.public_id}/api-keys/{a.key.public_id}"
    assert_success(owner.delete(revoke))
    before = database_state()

    for _call, method, path in KEY_CALLS:
        response = getattr(key_client(a.secret), method)(path(a))
        assert_error(response, 401, "AUTH_UNAUTHORIZED", "auth.api_key_invalid")
    assert database_state() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/social-accounts"),
        ("put", "/api/v1/social-accounts/{account}"),
        ("patch", "/api/v1/social-accounts/{account}"),
        ("get", "/api/v1/leased-accounts/{account}"),
    ],
)
def test_a_method_an_endpoint_lacks_is_405_for_keys_too(tenants, method, path):
    url = path.format(account=tenants.a.account.public_id)
    for client in (key_client(tenants.a.secret), bearer_client(tenants.a.owner)):
        assert_error(getattr(client, method)(url), 405, "METHOD_NOT_ALLOWED")
