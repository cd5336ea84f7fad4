"""A small fake of a social platform's OAuth server and API, to connect adapters against.

Each ``FakePlatform`` serves one platform's hosts: an authorize endpoint that approves at
once and redirects back with ``code`` and ``state`` (checking the client, the redirect URI
and the PKCE challenge), a token endpoint (authorization code with the verifier, refresh
with rotation), revocation, and whatever profile and publish endpoints the platform has.
Tokens are random, remembered, and refused once revoked or expired, as a platform would.

``FakePlatforms`` is a WSGI app that serves every fake under ``/<host>/<path>``: point
``PLATFORM_ORIGIN_OVERRIDES="*=http://<where it runs>/{host}"`` at it. The tests reach it
in-process through ``FakePlatformsAdapter`` (no socket); ``python -m tests.fake_platforms``
serves it on a port.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"


@dataclass
class Request:
    method: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    @property
    def form(self) -> dict[str, str]:
        if "application/x-www-form-urlencoded" in self.headers.get("content-type", ""):
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True))
        return {}

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def params(self) -> dict[str, str]:
        """Query and form fields together (form wins)."""
        return {**self.query, **self.form}

    def bearer(self, scheme: str = "Bearer") -> str | None:
        value = self.headers.get("authorization", "")
        prefix = f"{scheme} "
        return value[len(prefix) :] if value.startswith(prefix) else None

    def basic(self) -> tuple[str, str] | None:
        raw = self.bearer("Basic")
        if raw is None:
            return None
        client_id, _, secret = base64.b64decode(raw).decode().partition(":")
        return client_id, secret


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        if self.body is None:
            return b"", headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode(), headers


def redirect(location: str) -> Answer:
    return Answer(302, b"", {"Location": location})


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class FakeUser:
    """An account on the fake platform."""

    id: str
    handle: str
    name: str
    followers: int = 0
    following: int = 0
    posts: int = 0
    avatar_url: str = "https://cdn.example.com/avatar.jpg"


@dataclass
class Grant:
    user: FakeUser
    scopes: list[str]
    access_token: str
    refresh_token: str
    revoked: bool = False


Route = tuple[str, str, str, Callable[..., Answer]]  # method, host, path regex, handler


class FakePlatform:
    """One platform: its hosts, its app, its users and the grants it issued."""

    platform: str
    hosts: tuple[str, ...]
    client_id = CLIENT_ID
    client_secret = CLIENT_SECRET
    # Where the authorize endpoint reads the client id and how the token endpoint expects
    # the client to authenticate ("basic", "post" or "none").
    client_id_param = "client_id"
    client_auth = "post"
    requires_pkce = True
    rotates_refresh_tokens = True
    access_ttl = 3600

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, FakeUser] = {}
        self.codes: dict[str, dict] = {}
        self.grants: dict[str, Grant] = {}  # by access token
        self.by_refresh: dict[str, Grant] = {}
        self.published: list[dict] = []
        self.revoked: list[str] = []  # tokens revoked, in order
        self.calls: list[tuple[str, str]] = []  # (method, host + path)
        self.injected: list[tuple[str, Answer]] = []  # (path regex, answer), used once each
        self.user("fakeuser", followers=1200)

    # --- set-up ------------------------------------------------------------------------

    def user(self, handle: str, *, followers: int = 0, name: str | None = None) -> FakeUser:
        user = FakeUser(
            id=str(10_000 + len(self.users)),
            handle=handle,
            name=name or handle.title(),
            followers=followers,
            following=7,
            posts=3,
        )
        self.users[handle] = user
        return user

    def inject(self, path_regex: str, answer: Answer) -> None:
        """Answer the next request whose path matches with ``answer`` instead."""
        self.injected.append((path_regex, answer))

    def routes(self) -> list[Route]:
        raise NotImplementedError

    # --- dispatch ------------------------------------------------------------------------

    def handle(self, request: Request) -> Answer:
        self.calls.append((request.method, request.host + request.path))
        for index, (pattern, answer) in enumerate(self.injected):
            if re.fullmatch(pattern, request.path):
                del self.injected[index]
                return answer
        for method, host, pattern, handler in self.routes():
            if method != request.method or host != request.host:
                continue
            match = re.fullmatch(pattern, request.path)
            if match:
                with self.lock:
                    return handler(request, **match.groupdict())
        return Answer(404, {"error": "not_found", "path": request.path})

    # --- OAuth behaviour most platforms share ----------------------------------------------

    def oauth_error(self, error: str, description: str = "", status: int = 400) -> Answer:
        return Answer(status, {"error": error, "error_description": description or error})

    def authorize(self, request: Request) -> Answer:
        """Approve at once for the user named by ``fake_user`` (default ``fakeuser``)."""
        q = request.query
        if q.get(self.client_id_param) != self.client_id:
            return Answer(400, "unknown client")
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_uri.startswith(("https://", "http://")):
            return Answer(400, "bad redirect_uri")
        if q.get("response_type", "code") != "code":
            return Answer(400, "unsupported response_type")
        if self.requires_pkce and (
            not q.get("code_challenge") or q.get("code_challenge_method") != "S256"
        ):
            return Answer(400, "PKCE S256 required")
        handle = q.get("fake_user", "fakeuser")
        user = self.users.get(handle) or self.user(
            handle, followers=int(q.get("fake_followers", 0))
        )
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "user": user,
            "redirect_uri": redirect_uri,
            "challenge": q.get("code_challenge", ""),
            "scopes": self.requested_scopes(q.get("scope", "")),
        }
        return redirect(with_query(redirect_uri, code=code, state=q.get("state", "")))

    def requested_scopes(self, scope: str) -> list[str]:
        return [s for s in re.split(r"[ ,]+", scope) if s]

    def client_ok(self, request: Request) -> bool:
        params = request.params
        if self.client_auth == "basic":
            return request.basic() == (self.client_id, self.client_secret)
        if self.client_auth == "none":
            return params.get(self.client_id_param) == self.client_id
        secret_param = "client_secret"
        return (
            params.get(self.client_id_param) == self.client_id
            and params.get(secret_param) == self.client_secret
        ) or request.basic() == (self.client_id, self.client_secret)

    def new_grant(self, user: FakeUser, scopes: list[str]) -> Grant:
        grant = Grant(
            user=user,
            scopes=scopes,
            access_token="at-" + secrets.token_urlsafe(18),
            refresh_token="rt-" + secrets.token_urlsafe(18),
        )
        self.grants[grant.access_token] = grant
        self.by_refresh[grant.refresh_token] = grant
        return grant

    def token_answer(self, grant: Grant) -> Answer:
        return Answer(
            200,
            {
                "access_token": grant.access_token,
                "token_type": "bearer",
                "expires_in": self.access_ttl,
                "refresh_token": grant.refresh_token,
                "scope": " ".join(grant.scopes),
            },
        )

    def token(self, request: Request) -> Answer:
        """Authorization code (with the PKCE verifier) and refresh grants."""
        if not self.client_ok(request):
            return self.oauth_error("invalid_client", "client authentication failed", 401)
        params = request.params
        grant_type = params.get("grant_type")
        if grant_type == "authorization_code":
            issued = self.codes.pop(params.get("code", ""), None)
            if issued is None:
                return self.oauth_error("invalid_grant", "code unknown or used")
            if params.get("redirect_uri", issued["redirect_uri"]) != issued["redirect_uri"]:
                return self.oauth_error("invalid_grant", "redirect_uri differs")
            if self.requires_pkce and s256(params.get("code_verifier", "")) != issued["challenge"]:
                return self.oauth_error("invalid_grant", "code_verifier does not match")
            return self.token_answer(self.new_grant(issued["user"], issued["scopes"]))
        if grant_type == "refresh_token":
            grant = self.by_refresh.get(params.get("refresh_token", ""))
            if grant is None or grant.revoked:
                return self.oauth_error("invalid_grant", "refresh token revoked or unknown")
            return self.token_answer(self.rotate(grant))
        return self.oauth_error("unsupported_grant_type")

    def rotate(self, grant: Grant) -> Grant:
        self.grants.pop(grant.access_token, None)
        grant.access_token = "at-" + secrets.token_urlsafe(18)
        self.grants[grant.access_token] = grant
        if self.rotates_refresh_tokens:
            self.by_refresh.pop(grant.refresh_token, None)
            grant.refresh_token = "rt-" + secrets.token_urlsafe(18)
            self.by_refresh[grant.refresh_token] = grant
        return grant

    def revoke_token(self, token: str) -> bool:
        grant = self.grants.get(token) or self.by_refresh.get(token)
        if grant is None:
            return False
        grant.revoked = True
        self.revoked.append(token)
        return True

    def revoke(self, request: Request) -> Answer:
        """RFC 7009: 200 whether or not the token was known."""
        if not self.client_ok(request):
            return self.oauth_error("invalid_client", "client authentication failed", 401)
        self.revoke_token(request.params.get("token", ""))
        return Answer(200, {})

    def grant_for(self, request: Request, scheme: str = "Bearer") -> Grant | None:
        grant = self.grants.get(request.bearer(scheme) or "")
        return None if grant is None or grant.revoked else grant

    def record_post(self, grant: Grant, **content) -> str:
        post_id = str(900_000 + len(self.published))
        self.published.append({"id": post_id, "user": grant.user.handle, **content})
        return post_id


class FakePlatforms:
    """WSGI app serving several fakes, each under ``/<host>/...`` for each of its hosts."""

    def __init__(self, fakes: list[FakePlatform]) -> None:
        self.fakes = {fake.platform: fake for fake in fakes}
        self.by_host = {host: fake for fake in fakes for host in fake.hosts}

    def __getitem__(self, platform: str) -> FakePlatform:
        return self.fakes[platform]

    def dispatch(self, request: Request) -> Answer:
        fake = self.by_host.get(request.host)
        if fake is None:
            return Answer(404, {"error": "unknown host", "host": request.host})
        return fake.handle(request)

    @staticmethod
    def split(path: str) -> tuple[str, str]:
        host, _, rest = path.lstrip("/").partition("/")
        return host, "/" + rest

    def __call__(self, environ, start_response):
        host, path = self.split(environ.get("PATH_INFO", "/"))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        request = Request(
            method=environ["REQUEST_METHOD"],
            host=host,
            path=path,
            query=dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
            headers=headers,
            body=environ["wsgi.input"].read(length) if length else b"",
        )
        answer = self.dispatch(request)
        body, answer_headers = answer.encoded()
        start_response(f"{answer.status} X", list(answer_headers.items()))
        return [body]


class FakePlatformsAdapter(BaseAdapter):
    """A requests transport that hands each call to ``FakePlatforms`` in-process."""

    def __init__(self, platforms: FakePlatforms, origin: str) -> None:
        super().__init__()
        self.platforms = platforms
        self.origin = origin.rstrip("/")

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        host, path = FakePlatforms.split(parts.path)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        if hasattr(body, "read"):
            body = body.read()
        answer = self.platforms.dispatch(
            Request(
                method=request.method,
                host=host,
                path=path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
            )
        )
        content, headers = answer.encoded()
        response = requests.Response()
        response.status_code = answer.status
        response._content = content
        response.headers = CaseInsensitiveDict(headers)
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass
