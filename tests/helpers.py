"""Plain helpers shared by the test modules (fixtures live in ``tests/conftest.py``).

- envelope assertions: ``assert_success`` and ``assert_error``, for Django test responses
  and ``requests`` responses alike;
- ``CannedAdapter``: a requests transport that answers with one canned response;
- API clients, database read-backs and a thread runner used by several modules.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import requests
from django.db import connection
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import (
    ApiKey,
    AuditEvent,
    CreatorProfile,
    InboxItem,
    Lease,
    Membership,
    MetricsSnapshot,
    SandboxCredential,
    SocialAccount,
    SocialMetrics,
    TokenRevocation,
)
from scheduling.models import PostTarget, ScheduledPost

PROFILE_URL = "/api/v1/creators/profile"
SUCCESS_KEYS = frozenset({"success", "data"})
ERROR_KEYS = frozenset({"code", "message", "i18nKey", "i18nVars", "details", "correlationId"})


# Envelope ----------------------------------------------------------------------------------


def _assert_json(response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return response.json()


def assert_success(response, status: int = 200):
    """The success envelope with a correlation id; returns ``data`` (``None`` when the body
    has no data key)."""
    assert response.status_code == status, response.content
    body = _assert_json(response)
    assert set(body) <= SUCCESS_KEYS
    assert body["success"] is True
    assert response.headers["X-Correlation-ID"]
    return body.get("data")


def assert_error(response, status: int, code: str, i18n_key: str | None = None) -> dict:
    """Exactly the error envelope, with the correlation id echoed in the header; returns
    ``error``."""
    assert response.status_code == status, response.content
    body = _assert_json(response)
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    error = body["error"]
    assert set(error) == ERROR_KEYS
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["i18nKey"], str) and error["i18nKey"]
    assert isinstance(error["i18nVars"], dict)
    assert isinstance(error["details"], list | dict)  # dict: requiredScope, kill-switch scope
    assert isinstance(error["correlationId"], str) and error["correlationId"]
    assert response.headers["X-Correlation-ID"] == error["correlationId"]
    if i18n_key is not None:
        assert error["i18nKey"] == i18n_key
    return error


# Canned platform answers -------------------------------------------------------------------


class CannedAdapter(BaseAdapter):
    """Answers every request with one canned response, or raises ``exc``.

    ``body`` is sent as is when it is bytes; a dict or list is sent as JSON, with
    ``Content-Type: application/json`` unless ``headers`` says otherwise. ``calls`` records
    ``(method, path)`` per request and ``requests`` the prepared requests themselves.
    """

    def __init__(
        self,
        status: int = 200,
        body: bytes | dict | list = b"",
        headers: dict[str, str] | None = None,
        exc: Exception | None = None,
    ) -> None:
        super().__init__()
        self.status, self.exc = status, exc
        self.headers = dict(headers or {})
        if isinstance(body, dict | list):
            self.body = json.dumps(body).encode()
            self.headers = {"Content-Type": "application/json", **self.headers}
        else:
            self.body = body
        self.calls: list[tuple[str, str]] = []
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.calls.append((request.method, urlsplit(request.url).path))
        self.requests.append(request)
        if self.exc is not None:
            raise self.exc
        response = requests.Response()
        response.status_code = self.status
        response._content = self.body
        response.headers = CaseInsensitiveDict(self.headers)
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


# API clients -------------------------------------------------------------------------------


def token_client(token: str) -> APIClient:
    """A client that sends ``token`` as its Bearer token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def key_client(secret: str) -> APIClient:
    """A client sending ``Authorization: Bearer <API key>``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def bearer_client(user) -> APIClient:
    """A client logged in as ``user`` with a fresh access token."""
    return token_client(str(RefreshToken.for_user(user).access_token))


def profile_total(client) -> int:
    """The creator's follower total, as the profile endpoint reports it."""
    return assert_success(client.get(PROFILE_URL))["totalFollowers"]


# Database read-backs -----------------------------------------------------------------------


def followers_of(user) -> int:
    return CreatorProfile.objects.get(user=user).total_followers


def live_credentials(handle: str) -> int:
    """The sandbox access and refresh tokens of ``handle`` not revoked yet."""
    return SandboxCredential.objects.filter(
        account__handle=handle,
        kind__in=[SandboxCredential.Kind.ACCESS, SandboxCredential.Kind.REFRESH],
        revoked_at__isnull=True,
    ).count()


def raw_tokens(model, pk) -> tuple[str, str]:
    """The token columns of ``model``'s row ``pk`` as stored, bypassing decryption."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT access_token, refresh_token FROM {model._meta.db_table} WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


# Threads -----------------------------------------------------------------------------------


def run_concurrently(*calls: Callable[[], object]) -> list:
    """Run each call in its own thread (own database connection), released together; their
    results in order. Fails if a call raised or a thread did not finish."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    failures: list[BaseException] = []

    def worker(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures
    return results


# Partner endpoints and the rows they may touch ---------------------------------------------


def account_url(account_or_id) -> str:
    public_id = getattr(account_or_id, "public_id", account_or_id)
    return f"/api/v1/social-accounts/{public_id}"


def leased_url(account_or_id) -> str:
    public_id = getattr(account_or_id, "public_id", account_or_id)
    return f"/api/v1/leased-accounts/{public_id}"


def database_state() -> dict:
    """Every row a disconnect, a lease release or a workspace write may touch (tokens
    excepted), read back for before/after comparisons."""
    return {
        "accounts": set(
            SocialAccount.objects.values_list("id", "status", "workspace_id", "updated_at")
        ),
        "metrics": set(SocialMetrics.objects.values_list("social_account_id", "follower_count")),
        "snapshots": set(MetricsSnapshot.objects.values_list("id", "social_account_id")),
        "inbox": set(InboxItem.objects.values_list("id", "social_account_id")),
        "targets": set(
            PostTarget.objects.values_list(
                "id", "status", "social_account_id", "canceled_reason", "updated_at"
            )
        ),
        "posts": set(ScheduledPost.objects.values_list("id", "status", "updated_at")),
        "leases": set(
            Lease.objects.values_list("id", "social_account_id", "account_public_id", "released_at")
        ),
        "revocations": set(TokenRevocation.objects.values_list("id", "account_public_id")),
        "audit": set(AuditEvent.objects.values_list("id", "action")),
        "followers": set(CreatorProfile.objects.values_list("user_id", "total_followers")),
        "memberships": set(Membership.objects.values_list("workspace_id", "user_id", "role")),
        "api_keys": {
            (key_id, workspace_id, revoked_at, disabled, tuple(scopes))
            for key_id, workspace_id, revoked_at, disabled, scopes in ApiKey.objects.values_list(
                "id", "workspace_id", "revoked_at", "disabled", "scopes"
            )
        },
    }


# The OAuth connect flow, as a client plays it against the in-process sandbox -------------

START_URL = "/api/v1/creators/social/connect/start"
CONNECT_URL = "/api/v1/creators/social/connect"
REDIRECT_URI = "https://app.example.com/oauth/callback"


@dataclasses.dataclass
class Authorization:
    """What the browser brings back from the platform, plus what start answered."""

    platform: str
    code: str
    state: str
    authorization_url: str
    start_body: bytes


def start_connect(client, platform: str = "instagram", redirect_uri: str = REDIRECT_URI):
    return client.post(
        START_URL, {"platform": platform, "redirectUri": redirect_uri}, format="json"
    )


def follow_authorization_url(url: str, *, handle: str, followers: int | None) -> tuple[str, str]:
    """Play the browser: open the sandbox's authorize URL, read code and state off the
    redirect back to our redirect URI."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://sandbox.test"
    assert parts.path == "/sandbox/oauth/authorize"
    query = parts.query + f"&sandbox_user={handle}"
    if followers is not None:
        query += f"&sandbox_followers={followers}"
    answer = Client().get(f"{parts.path}?{query}")
    assert answer.status_code == 302, answer.content
    location = answer["Location"]
    redirect_uri = urlsplit(parse_qs(parts.query)["redirect_uri"][0])
    back_to = urlsplit(location)
    assert back_to[:3] == redirect_uri[:3]  # scheme, host and path of our redirect URI
    back = parse_qs(back_to.query)
    for name, values in parse_qs(redirect_uri.query).items():
        assert back[name] == values  # the redirect URI's own query is kept
    return back["code"][0], back["state"][0]


def authorize(
    client,
    platform: str = "instagram",
    *,
    handle: str = "ann",
    followers: int | None = 1234,
    redirect_uri: str = REDIRECT_URI,
) -> Authorization:
    """connect/start, then the platform's consent screen; everything but the final POST."""
    start = start_connect(client, platform, redirect_uri)
    data = assert_success(start)
    code, state = follow_authorization_url(
        data["authorizationUrl"], handle=handle, followers=followers
    )
    assert state == data["state"]
    return Authorization(platform, code, state, data["authorizationUrl"], start.content)


def complete(client, auth: Authorization, **overrides):
    body = {"platform": auth.platform, "code": auth.code, "state": auth.state, **overrides}
    return client.post(CONNECT_URL, body, format="json")


def connect(client, platform: str = "instagram", **kwargs):
    """The whole flow; returns the response of POST connect."""
    return complete(client, authorize(client, platform, **kwargs))


# The API's routes, read from the URL resolver ------------------------------------------

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclasses.dataclass(frozen=True)
class ApiRoute:
    """One ``path()`` under ``/api/``: its name, route, path parameters and the HTTP
    methods its view implements."""

    name: str
    route: str
    params: tuple[str, ...]
    methods: tuple[str, ...]

    def url(self, **values: str) -> str:
        return _PARAMETER.sub(lambda match: values[match.group(1)], self.route)


def api_routes() -> list[ApiRoute]:
    """Every route under ``/api/`` (the catch-all excepted), so tests that walk them cover
    a new endpoint without being told about it."""
    routes = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
                continue
            route = prefix + str(entry.pattern)
            if not route.startswith("/api/") or not isinstance(entry.pattern, RoutePattern):
                continue
            view = getattr(entry.callback, "view_class", None) or entry.callback.cls
            methods = tuple(method for method in HTTP_METHODS if hasattr(view, method))
            params = tuple(_PARAMETER.findall(route))
            routes.append(ApiRoute(entry.name, route, params, methods))

    walk(get_resolver().url_patterns, "/")
    return routes
