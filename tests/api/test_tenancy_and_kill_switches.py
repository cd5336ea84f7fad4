"""Tenant isolation across every workspace endpoint, the scope x role matrix of the
social-account endpoints, and the kill switches that shut API keys off."""

from __future__ import annotations

import logging
import types
import uuid

import pytest

from accounts.models import (
    ApiKey,
    KillSwitch,
    Membership,
    Platform,
    SocialAccount,
)
from scheduling.models import PostTarget
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
    assert_error,
    assert_success,
    bearer_client,
    database_state,
    key_client,
    leased_url,
)

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
    return types.SimpleNamespace(
        workspace=workspace,
        owner=owner,
        admin=admin,
        member=member,
        account=account,
        leased=leased,
        key=key,
        secret=secret,
    )


@pytest.fixture
def tenants():
    return types.SimpleNamespace(a=tenant("A"), b=tenant("B"))


# Tenant matrix ------------------------------------------------------------------------

# (name, method, path(b, a), body, may a key call it?)
PROBES = [
    ("read account", "get", lambda b, a: account_url(b.account), None, True),
    ("disconnect", "delete", lambda b, a: account_url(b.account), None, True),
    (
        "dry-run disconnect",
        "delete",
        lambda b, a: account_url(b.account) + "?dryRun=true",
        None,
        True,
    ),
    ("disconnect leased", "delete", lambda b, a: account_url(b.leased), None, True),
    ("release lease", "delete", lambda b, a: leased_url(b.leased), None, True),
    ("dry-run release", "delete", lambda b, a: leased_url(b.leased) + "?dryRun=1", None, True),
    (
        "list B",
        "get",
        lambda b, a: f"/api/v1/social-accounts?workspace={b.workspace.public_id}",
        None,
        True,
    ),
    (
        "members",
        "get",
        lambda b, a: f"/api/v1/workspaces/{b.workspace.public_id}/members",
        None,
        False,
    ),
    (
        "add member",
        "post",
        lambda b, a: f"/api/v1/workspaces/{b.workspace.public_id}/members",
        "self-as-owner",
        False,
    ),
    (
        "api keys",
        "get",
        lambda b, a: f"/api/v1/workspaces/{b.workspace.public_id}/api-keys",
        None,
        False,
    ),
    (
        "create api key",
        "post",
        lambda b, a: f"/api/v1/workspaces/{b.workspace.public_id}/api-keys",
        {"name": "sneaky", "scopes": [READ, WRITE]},
        False,
    ),
    (
        "revoke api key",
        "delete",
        lambda b, a: f"/api/v1/workspaces/{b.workspace.public_id}/api-keys/{b.key.public_id}",
        None,
        False,
    ),
    (
        "revoke B's key through A",
        "delete",
        lambda b, a: f"/api/v1/workspaces/{a.workspace.public_id}/api-keys/{b.key.public_id}",
        None,
        False,
    ),
]
PROBE_IDS = [probe[0] for probe in PROBES]


def send(client, method, path, body):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize(("name", "method", "path", "body", "key_may_call"), PROBES, ids=PROBE_IDS)
@pytest.mark.parametrize("prober", ["owner", "admin", "member"])
def test_a_user_of_workspace_a_gets_404_for_workspace_b(
    tenants, prober, name, method, path, body, key_may_call
):
    a, b = tenants.a, tenants.b
    user = getattr(a, prober)
    if body == "self-as-owner":
        body = {"email": user.email, "role": Role.OWNER}
    before = database_state()

    response = send(bearer_client(user), method, path(b, a), body)

    if name == "revoke B's key through A" and prober == "member":
        # A's member may not revoke keys of A at all; the role check comes first, so the
        # answer says nothing about B's key either.
        assert_error(response, 403, "FORBIDDEN_ROLE", "workspace.forbidden_role")
    else:
        error = assert_error(response, 404, "NOT_FOUND")
        assert error["details"] == []
    assert database_state() == before


@pytest.mark.parametrize(("name", "method", "path", "body", "key_may_call"), PROBES, ids=PROBE_IDS)
def test_a_key_of_workspace_a_cannot_reach_workspace_b(
    tenants, name, method, path, body, key_may_call
):
    a, b = tenants.a, tenants.b
    if body == "self-as-owner":
        body = {"email": a.owner.email, "role": Role.OWNER}
    before = database_state()

    response = send(key_client(a.secret), method, path(b, a), body)

    if key_may_call:
        assert_error(response, 404, "NOT_FOUND")
    else:
        assert_error(response, 403, "FORBIDDEN_ROLE", "auth.user_token_required")
    assert database_state() == before


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("delete", ""), ("delete", "?dryRun=true")],
)
@pytest.mark.parametrize("caller", ["user", "key"])
def test_another_tenants_account_looks_exactly_like_a_missing_one(tenants, caller, method, suffix):
    a, b = tenants.a, tenants.b
    client = bearer_client(a.owner) if caller == "user" else key_client(a.secret)
    missing = f"/api/v1/social-accounts/sa_{uuid.uuid4()}{suffix}"

    theirs = assert_error(
        getattr(client, method)(account_url(b.account) + suffix), 404, "NOT_FOUND"
    )
    nothing = assert_error(getattr(client, method)(missing), 404, "NOT_FOUND")

    for field in ("code", "message", "i18nKey", "i18nVars", "details"):
        assert theirs[field] == nothing[field]


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
