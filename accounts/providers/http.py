"""HTTP for provider adapters: timeouts on every call and one error classification."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings

from .base import ProviderDefinitiveError, ProviderRequestError, ProviderTransientError

DEFINITIVE_OAUTH_ERRORS = frozenset({"invalid_grant", "invalid_token", "unauthorized_client"})

_session: requests.Session | None = None


def http_session() -> requests.Session:
    """The process's shared session (connection pooling). Tests may swap it."""
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


def set_http_session(session: requests.Session | None) -> None:
    global _session
    _session = session


def platform_url(url: str) -> str:
    """``url`` with its origin replaced as ``PLATFORM_ORIGIN_OVERRIDES`` says (a local fake
    of the platform), or unchanged."""
    overrides = settings.PLATFORM_ORIGIN_OVERRIDES
    if not overrides:
        return url
    if any(url.startswith(target.split("{host}")[0]) for target in overrides.values()):
        return url  # already where the override sends it
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    target = overrides.get(origin) or overrides.get("*")
    if not target:
        return url
    return target.replace("{host}", parts.netloc).rstrip("/") + url[len(origin) :]


def request(method: str, url: str, **kwargs) -> requests.Response:
    """Send one request; connection problems become ``ProviderTransientError``."""
    kwargs.setdefault("timeout", settings.PROVIDER_HTTP_TIMEOUT)
    url = platform_url(url)
    try:
        return http_session().request(method, url, **kwargs)
    except requests.Timeout as exc:
        raise ProviderTransientError(f"timeout calling {url}") from exc
    except requests.RequestException as exc:
        raise ProviderTransientError(f"cannot reach {url}: {exc.__class__.__name__}") from exc


def oauth_session(**kwargs) -> OAuth2Session:
    """An OAuth 2 client session (Authlib) that sends through the shared session's
    transports, so pooling, tests' transports and timeouts apply to it as well."""
    session = OAuth2Session(**kwargs)
    session.adapters = http_session().adapters
    return session


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def raise_for_oauth_response(response: requests.Response) -> dict:
    """The JSON body of a successful answer, or the error classified as definitive (the grant
    is dead), transient (retry later) or a request error (what we sent was wrong)."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if status == 429 or status >= 500:
        raise ProviderTransientError(
            f"platform answered {status}",
            http_status=status,
            retry_after=retry_after(response),
            error_code=str(body.get("error", "")),
        )
    if status >= 400:
        code = str(body.get("error", ""))
        description = str(body.get("error_description", "") or code or f"HTTP {status}")
        if code in DEFINITIVE_OAUTH_ERRORS or status == 401:
            raise ProviderDefinitiveError(description, http_status=status, error_code=code)
        raise ProviderRequestError(description, http_status=status, error_code=code)
    return body
