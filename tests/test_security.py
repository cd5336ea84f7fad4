"""Secrets stay secret through a whole working session.

One session plays what the service does with other people's credentials: logins, a shared
workspace with a member, an API key and a webhook (each created twice under one
Idempotency-Key), accounts connected through the sandbox OAuth flow (with PKCE, one of them
reconnected), a token refresh, a refresh the platform refuses, a metrics sync, a post
scheduled with the key and published, webhook deliveries, disconnects by the creator and by
the key (replayed), one revocation left in the outbox, and a logout.

Every plaintext the platform issued (authorization codes, access and refresh tokens), every
PKCE verifier and OAuth state, the API key's and the webhook's secrets are then looked for
on each surface, found by enumeration so new tables, endpoints and pages are covered without
being listed: every text, binary and JSON column of every table (raw SQL), every GET
endpoint under /api/ (as the creator and as the key), every admin page (as staff), every
log line written during the session (all loggers at DEBUG, SQL included) and every task's
arguments.

Login JWTs (access and refresh, before and after a rotation) are in the list too: the
blacklist keeps a refresh token's id and expiry, never the token.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import pytest
from celery.signals import task_prerun
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import (
    ApiKey,
    IdempotencyRecord,
    SandboxCredential,
    SocialAccount,
    TokenRevocation,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from accounts.services import connect as connect_services
from accounts.services import sandbox as sandbox_services
from accounts.services.metrics import social_account_metrics_sync
from accounts.services.refresh import social_account_token_refresh
from scheduling.models import PostTarget, ScheduledPost
from scheduling.services import post_targets_claim_due
from tests.factories import DEFAULT_PASSWORD, SocialAccountFactory, UserFactory
from tests.helpers import (
    CONNECT_URL,
    REDIRECT_URI,
    START_URL,
    api_routes,
    assert_success,
    follow_authorization_url,
    key_client,
    token_client,
)
from tests.webhook_receiver import ALL_EVENTS, Receiver

pytestmark = pytest.mark.django_db

# Django's names for the column types a secret could be written to.
TEXT_TYPES = {"CharField", "TextField", "JSONField", "BinaryField", "SlugField", "EmailField"}


@dataclasses.dataclass
class Session:
    secrets: dict[str, set[str]]
    creator_client: object
    key_secret: str
    path_ids: dict[str, str]
    log_text: str = ""
    task_calls: list[str] = dataclasses.field(default_factory=list)

    def all_secrets(self) -> dict[str, str]:
        """Each secret value, with a short label naming its kind for failure messages."""
        return {value: kind for kind, values in self.secrets.items() for value in values}


def _idempotent_twice(client, method: str, url: str, body: dict, key: str):
    """The same request twice under one Idempotency-Key: the second answer is replayed."""
    first = getattr(client, method)(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = getattr(client, method)(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert again.status_code == first.status_code, again.content
    assert again["Idempotent-Replayed"] == "true"
    return first


def _connect(client, platform: str, handle: str, secrets: dict, *, workspace=None) -> str:
    body = {"platform": platform, "redirectUri": REDIRECT_URI}
    if workspace:
        body["workspace"] = workspace
    start = assert_success(client.post(START_URL, body, format="json"))
    secrets["oauth state"].add(start["state"])
    code, state = follow_authorization_url(start["authorizationUrl"], handle=handle, followers=2500)
    done = _idempotent_twice(
        client,
        "post",
        CONNECT_URL,
        {"platform": platform, "code": code, "state": state},
        key=f"connect-{platform}-{handle}-{len(secrets['oauth state'])}",
    )
    return assert_success(done)["id"]


def _account_pk(public_id: str) -> str:
    return public_id.removeprefix("sa_")


def _account(public_id: str) -> SocialAccount:
    return SocialAccount.objects.get(pk=_account_pk(public_id))


@pytest.fixture
def session(monkeypatch, caplog, django_capture_on_commit_callbacks) -> Session:
    secrets: dict[str, set[str]] = {
        "authorization code": set(),
        "access token": set(),
        "refresh token": set(),
        "PKCE verifier": set(),
        "oauth state": set(),
        "API key": set(),
        "webhook secret": set(),
        "login JWT": set(),
    }
    kinds = {"code": "authorization code", "access": "access token", "refresh": "refresh token"}
    issue, pkce_pair = sandbox_services._issue, connect_services.pkce_pair

    def recording_issue(account, kind, **fields):
        value = issue(account, kind, **fields)
        secrets[kinds[kind]].add(value)
        return value

    def recording_pkce_pair():
        verifier, challenge = pkce_pair()
        secrets["PKCE verifier"].add(verifier)
        return verifier, challenge

    monkeypatch.setattr(sandbox_services, "_issue", recording_issue)
    monkeypatch.setattr(connect_services, "pkce_pair", recording_pkce_pair)
    # Every logger at DEBUG, and SQL logged too (as with DEBUG on).
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    connection.force_debug_cursor = True
    # What each task is handed: with a real broker, the message in Redis.
    task_calls = []

    def record_task(sender=None, args=None, kwargs=None, **_):
        task_calls.append(f"{sender.name} {args!r} {kwargs!r}")

    task_prerun.connect(record_task, weak=False, dispatch_uid="test_security")
    try:
        session = _play_session(secrets, caplog, django_capture_on_commit_callbacks)
    finally:
        connection.force_debug_cursor = False
        task_prerun.disconnect(dispatch_uid="test_security")
    session.task_calls = task_calls
    return session


def _play_session(secrets, caplog, django_capture_on_commit_callbacks) -> Session:
    def committed():
        """Run what waits for the commit (tasks, deliveries, revocations) at the end."""
        return django_capture_on_commit_callbacks(execute=True)

    creator = UserFactory(email="creator@example.com")
    teammate = UserFactory(email="teammate@example.com")
    with Receiver() as receiver:
        with committed():
            login = APIClient().post(
                "/api/v1/auth/login",
                {"email": creator.email, "password": DEFAULT_PASSWORD},
                format="json",
            )
            first = assert_success(login)
            rotated = APIClient().post(
                "/api/v1/auth/refresh", {"refreshToken": first["refreshToken"]}, format="json"
            )
            pair = assert_success(rotated)
            for tokens in (first, pair):
                secrets["login JWT"].update((tokens["accessToken"], tokens["refreshToken"]))
            client = token_client(pair["accessToken"])
            created = client.post("/api/v1/workspaces", {"name": "Agency"}, format="json")
            workspace_id = assert_success(created, 201)["id"]
            members = f"/api/v1/workspaces/{workspace_id}/members"
            added = client.post(members, {"email": teammate.email, "role": "member"}, format="json")
            assert_success(added, 201)
            created_key = _idempotent_twice(
                client,
                "post",
                f"/api/v1/workspaces/{workspace_id}/api-keys",
                {"name": "crm", "scopes": list(ApiKey.Scope.values)},
                key="key-1",
            )
            key = assert_success(created_key, 201)
            secrets["API key"].add(key["key"])
            partner = key_client(key["key"])
            created_webhook = _idempotent_twice(
                client,
                "post",
                "/api/v1/webhooks",
                {"url": receiver.url, "events": ALL_EVENTS, "workspace": workspace_id},
                key="webhook-1",
            )
            webhook = assert_success(created_webhook, 201)
            secrets["webhook secret"].add(webhook["secret"])

        with committed():
            instagram = _connect(client, "instagram", "ann_ig", secrets)
            _connect(client, "instagram", "ann_ig", secrets)  # reconnect: new tokens
            x = _connect(client, "x", "ann_x", secrets, workspace=workspace_id)
            tiktok = _connect(client, "tiktok_business", "ann_tt", secrets, workspace=workspace_id)
            youtube = _connect(client, "youtube", "ann_yt", secrets, workspace=workspace_id)

        with committed():  # a refresh the platform grants, one it refuses, a metrics sync
            SocialAccount.objects.filter(pk=_account_pk(x)).update(token_expires_at=timezone.now())
            assert social_account_token_refresh(social_account_id=_account_pk(x)).status == (
                "refreshed"
            )
            sandbox_services.sandbox_revoke(token=_account(tiktok).refresh_token)
            assert social_account_token_refresh(social_account_id=_account_pk(tiktok)).status == (
                "token_expired"
            )
            synced = social_account_metrics_sync(social_account_id=_account_pk(youtube))
            assert synced.status == "synced"

        with committed():  # a post scheduled by the key, due at once
            soon = (timezone.now() + dt.timedelta(minutes=5)).isoformat()
            post = _idempotent_twice(
                partner,
                "post",
                "/api/v1/scheduled-posts",
                {"text": "Out now", "scheduledAt": soon, "socialAccountIds": [x, youtube]},
                key="post-1",
            )
            post_id = assert_success(post, 201)["id"]
            ScheduledPost.objects.update(scheduled_at=timezone.now() - dt.timedelta(seconds=1))
        with committed():  # published to X and YouTube
            post_targets_claim_due(limit=10)

        with committed():  # disconnects by the creator and by the key, revoked upstream
            _idempotent_twice(
                client, "post", "/api/v1/creators/social/disconnect", {"platform": "instagram"}, "d"
            )
            _idempotent_twice(partner, "delete", f"/api/v1/social-accounts/{x}", {}, key="d-2")
            logout = APIClient().post(
                "/api/v1/auth/logout", {"refreshToken": pair["refreshToken"]}, format="json"
            )
            assert_success(logout)

    # Without its commit work: this disconnect's revocation stays in the outbox.
    assert_success(client.delete(f"/api/v1/social-accounts/{tiktok}"))

    published = PostTarget.objects.filter(status=PostTarget.Status.PUBLISHED)
    assert sorted(published.values_list("account_platform", flat=True)) == ["x", "youtube"]
    delivered = {item.headers["X-Socialhub-Event"] for item in receiver.received}
    assert delivered == {
        "account.connected",
        "account.token_expired",
        "post.published",
        "account.disconnected",
    }
    assert TokenRevocation.objects.count() == 1
    gone = [_account_pk(public_id) for public_id in (instagram, x, tiktok)]
    assert not SocialAccount.objects.filter(pk__in=gone).exists()
    return Session(
        secrets=secrets,
        creator_client=client,  # its access token outlives the logout of its refresh token
        key_secret=key["key"],
        path_ids={
            "social_account_id": youtube,
            "workspace_id": workspace_id,
            "api_key_id": key["id"],
            "webhook_id": webhook["id"],
            "scheduled_post_id": post_id,
        },
        log_text=caplog.text,
    )


def _assert_session_is_complete(session: Session) -> None:
    """The scans below look for something: every kind of secret was issued, and more than
    once where the session issues several."""
    counts = {kind: len(values) for kind, values in session.secrets.items()}
    assert counts["authorization code"] >= 5
    assert counts["access token"] >= 6  # five connects and a refresh
    assert counts["refresh token"] >= 5
    assert counts["PKCE verifier"] >= 5
    assert counts["oauth state"] >= 5
    assert counts["API key"] == counts["webhook secret"] == 1
    assert counts["login JWT"] == 4
    assert all(len(value) >= 20 for value in session.all_secrets())


def _found(text: str, session: Session) -> list[str]:
    return [
        f"{kind} {value[:10]}…" for value, kind in session.all_secrets().items() if value in text
    ]


# The database -----------------------------------------------------------------------------


def _text_columns() -> dict[str, list[tuple[str, str]]]:
    """Every text, binary and JSON column of every table, ``(name, Django type)``, from the
    database's own catalogue."""
    introspection = connection.introspection
    columns: dict[str, list[tuple[str, str]]] = {}
    with connection.cursor() as cursor:
        for table in introspection.table_names(cursor):
            for column in introspection.get_table_description(cursor, table):
                kind = introspection.get_field_type(column.type_code, column)
                if kind in TEXT_TYPES:
                    columns.setdefault(table, []).append((column.name, kind))
    return columns


def _column_values(table: str, columns: list[tuple[str, str]]):
    """``(column, value as text)`` for every non-empty value: JSON as its text, binary
    decoded as far as it goes."""
    quote = connection.ops.quote_name
    selected = ", ".join(
        quote(name) if kind == "BinaryField" else f"{quote(name)}::text" for name, kind in columns
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {selected} FROM {quote(table)}")
        for row in cursor.fetchall():
            for (name, _kind), value in zip(columns, row, strict=True):
                if isinstance(value, memoryview | bytes):
                    value = bytes(value).decode("utf-8", errors="replace")
                if value:
                    yield name, value


def test_no_table_holds_a_secret_in_plaintext(session):
    _assert_session_is_complete(session)
    columns = _text_columns()
    scanned = {(table, name) for table, names in columns.items() for name, _kind in names}
    modelled = {
        (model._meta.db_table, field.column)
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.concrete_fields
        if field.get_internal_type() in TEXT_TYPES
    }
    assert modelled <= scanned, f"not scanned: {modelled - scanned}"
    findings, seen = [], set()
    for table, names in columns.items():
        for column, value in _column_values(table, names):
            seen.add(value)
            findings += [f"{table}.{column}: {hit}" for hit in _found(value, session)]

    assert findings == []
    # Control: the scan read what the session wrote, handles and ciphertexts included.
    assert "ann_yt" in seen
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT access_token FROM {SocialAccount._meta.db_table}")
        assert {value for (value,) in cursor.fetchall()} <= seen
    assert SandboxCredential.objects.count() >= len(session.secrets["access token"])


# The API ----------------------------------------------------------------------------------

GET_ROUTES = [route for route in api_routes() if "get" in route.methods]


def test_no_get_endpoint_answers_with_a_secret(session):
    """Every GET under /api/, as the creator and as the workspace's key (where keys may
    call), with the session's ids in the path."""
    _assert_session_is_complete(session)
    assert GET_ROUTES, "the URL resolver listed no GET route"
    callers = {"creator": session.creator_client, "key": key_client(session.key_secret)}

    findings, answered = [], []
    for route in GET_ROUTES:
        missing = set(route.params) - set(session.path_ids)
        assert not missing, f"{route.route}: no id in the session for {missing}"
        url = route.url(**{param: session.path_ids[param] for param in route.params})
        for caller, client in callers.items():
            response = client.get(url)
            if caller == "key" and response.status_code == 403:
                continue  # an endpoint for users only
            assert response.status_code == 200, (caller, url, response.content[:300])
            answered.append((caller, url))
            findings += [
                f"{caller} GET {url}: {hit}" for hit in _found(response.content.decode(), session)
            ]

    assert findings == []
    assert {url for caller, url in answered if caller == "creator"} == {
        route.url(**{param: session.path_ids[param] for param in route.params})
        for route in GET_ROUTES
    }


# The admin --------------------------------------------------------------------------------


def test_no_admin_page_shows_a_secret(session, client):
    """Each registered model's changelist and the change pages of its first and last rows,
    rendered for a superuser."""
    _assert_session_is_complete(session)
    client.force_login(User.objects.create_superuser("staff@example.com", "harbor-lantern-9"))

    findings, changed = [], set()
    for model in admin.site._registry:
        opts = model._meta
        urls = [reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")]
        rows = model._default_manager.order_by("pk").values_list("pk", flat=True)
        for pk in {rows.first(), rows.last()} - {None}:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk]))
            changed.add(model)
        for url in urls:
            page = client.get(url)
            assert page.status_code == 200, url
            findings += [f"{url}: {hit}" for hit in _found(page.content.decode(), session)]

    assert findings == []
    # The pages of every model that holds a secret were rendered with rows.
    holders = {
        SocialAccount,
        TokenRevocation,
        IdempotencyRecord,
        WebhookEndpoint,
        WebhookDelivery,
        ApiKey,
        SandboxCredential,
        OutstandingToken,
    }
    assert holders <= changed


# The logs ---------------------------------------------------------------------------------


def test_no_log_line_holds_a_secret(session):
    """Everything logged during the session, at DEBUG, by every logger (SQL included)."""
    _assert_session_is_complete(session)

    assert _found(session.log_text, session) == []
    # Control: the session did log, down to DEBUG, and its work is in there.
    for expected in ("Disconnected instagram", "Refreshed the token of x", "SELECT "):
        assert expected in session.log_text


# The task queue ---------------------------------------------------------------------------


def test_no_task_message_carries_a_secret(session):
    """Tasks are handed ids (with a real broker, what sits in Redis), never a token."""
    _assert_session_is_complete(session)
    names = {call.split()[0] for call in session.task_calls}

    assert _found("\n".join(session.task_calls), session) == []
    # Control: the session's background work went through tasks.
    assert {
        "accounts.tasks.revocation.token_revocation_process_task",
        "accounts.tasks.webhooks.webhook_delivery_attempt_task",
        "scheduling.tasks.post_target_publish_task",
    } <= names


# CSRF on the admin ------------------------------------------------------------------------


def test_an_admin_disconnect_without_the_csrf_token_is_refused():
    """Staff act through a session cookie, so every admin write needs the CSRF token."""
    staff = User.objects.create_superuser("staff@example.com", "harbor-lantern-9")
    account = SocialAccountFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    changelist = reverse("admin:accounts_socialaccount_changelist")
    confirm = {
        "action": "disconnect_selected",
        "_selected_action": [str(account.pk)],
        "apply": "yes",
    }

    forged = client.post(changelist, confirm)

    assert forged.status_code == 403
    assert SocialAccount.objects.filter(pk=account.pk).exists()
    # Control: with the token the page hands out, the same request disconnects.
    client.get(changelist)
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    done = client.post(changelist, {**confirm, "csrfmiddlewaretoken": token})
    assert done.status_code == 302
    assert not SocialAccount.objects.filter(pk=account.pk).exists()


# Headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/creators/profile", "/admin/login/"])
def test_every_response_carries_the_browser_security_headers(client, path):
    response = client.get(path)

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
