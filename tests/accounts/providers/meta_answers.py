"""What the tests of Meta's adapters share: constants, the request readers and a Graph
error answer."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, parse_qsl, urlsplit

from django.utils import timezone

from accounts.providers import http as provider_http
from accounts.providers import meta
from accounts.providers.oauth2 import Credentials

CREDENTIALS = Credentials("fake-client-id", "fake-client-secret")
REDIRECT = "https://app.example.com/oauth/callback"
V = meta.GRAPH_API_VERSION
IG_GRAPH = "https://graph.instagram.com"
IG_API = f"{IG_GRAPH}/{V}"
FB_GRAPH = f"https://graph.facebook.com/{V}"
TH_GRAPH = "https://graph.threads.net"
TH_API = f"{TH_GRAPH}/{meta.THREADS_API_VERSION}"
LONG_TTL = 5_183_944


def record_naps(monkeypatch) -> list[float]:
    """Container polling does not really sleep; the naps taken are recorded (each test
    module's autouse ``no_waiting`` fixture)."""
    naps: list[float] = []
    monkeypatch.setattr(meta.graph.time, "sleep", naps.append)
    return naps


def query(call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


def form(call) -> dict[str, str]:
    body = call.request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return dict(parse_qsl(body, keep_blank_values=True))


def endpoint(call) -> str:
    parts = urlsplit(call.request.url)
    return f"{call.request.method} {parts.scheme}://{parts.netloc}{parts.path}"


def graph_error(code: int, subcode: int | None = None, **extra) -> dict:
    error = {"message": f"error {code}", "type": "OAuthException", "code": code, **extra}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "AbCdEf"
    return {"error": error}


def expires_soon(expires_at, seconds: int = LONG_TTL) -> bool:
    expected = timezone.now() + dt.timedelta(seconds=seconds)
    return abs((expires_at - expected).total_seconds()) < 30


def authorize_through(provider, fake) -> tuple[str, str]:
    url = provider.authorization_url(
        state="e2e-state", code_challenge="unused", redirect_uri=REDIRECT, options={}
    )
    answer = provider_http.request("GET", url, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    params = parse_qs(back.query)
    assert params["state"] == ["e2e-state"]
    return params["code"][0], params["state"][0]
