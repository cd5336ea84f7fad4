"""What Meta's three adapters share: the Graph API base class, error classification and
helpers.

Errors come as
``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``
and are classified by ``graph_error`` (code 190 and the session subcodes: the token is
dead; throttling codes and ``is_transient``: try later; permissions and parameters: the
request). Access tokens are sent as the documented ``access_token`` parameter (the query
of GET/DELETE calls, the form body of POST calls) and are never put into an error
message; the requests' own exceptions (whose text may carry a URL) are not chained.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

import requests

from ..base import (
    ProviderDefinitiveError,
    ProviderError,
    ProviderRequestError,
    ProviderTransientError,
    PublishResult,
    TokenSet,
)
from ..oauth2 import OAuth2Provider

# The Graph API version every Facebook and Instagram call is pinned to.
GRAPH_API_VERSION = "v23.0"

# https://developers.facebook.com/docs/graph-api/guides/error-handling
# 190: access token expired/invalid; 102: API session (login status or token invalid).
DEFINITIVE_CODES = frozenset({102, 190})
# 458 app not installed, 459 user checkpointed, 460 password changed, 463 expired,
# 464 unconfirmed user, 467 invalid access token, 492 invalid session.
DEFINITIVE_SUBCODES = frozenset({458, 459, 460, 463, 464, 467, 492})
# 1 API unknown, 2 API service, 4 app throttled, 17 user throttled, 32 Page-level
# throttling, 341 application limit, 368 temporarily blocked for policy violations ("wait
# and retry"), 613 calls within one hour exceeded; 80001-80014 business use case limits.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613})
BUSINESS_USE_CASE_CODES = range(80001, 80015)
# Instagram publishing: 2207001 server error, 2207003 media download timed out, 2207027
# media not ready to publish, 2207032 create media failed (retry), 2207042 daily
# publishing limit reached. Its other 2207xxx subcodes (format, size, expired container)
# are request errors.
TRANSIENT_SUBCODES = frozenset({2207001, 2207003, 2207027, 2207032, 2207042})

MESSAGE_LIMIT = 300


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def business_use_case_wait(response: requests.Response | None) -> float | None:
    """Seconds until access is regained per ``X-Business-Use-Case-Usage`` (whose
    ``estimated_time_to_regain_access`` is in minutes), or ``None``."""
    if response is None:
        return None
    raw = response.headers.get("X-Business-Use-Case-Usage", "")
    try:
        usage = json.loads(raw) if raw else {}
    except ValueError:
        return None
    minutes = [
        _int(entry.get("estimated_time_to_regain_access"))
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    longest = max((m for m in minutes if m), default=0)
    return float(longest * 60) if longest > 0 else None


def graph_error(
    platform: str, status: int, error: dict, response: requests.Response | None = None
) -> ProviderError:
    """Classify a Graph API ``error`` object (Facebook, Instagram and Threads share it)."""
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    text = str(error.get("message") or error.get("type") or "error")[:MESSAGE_LIMIT]
    message = f"{platform}: {text}"
    error_code = str(code) if subcode is None else f"{code}/{subcode}"
    if code in DEFINITIVE_CODES or subcode in DEFINITIVE_SUBCODES:
        return ProviderDefinitiveError(message, http_status=status, error_code=error_code)
    if (
        error.get("is_transient") is True
        or code in TRANSIENT_CODES
        or (code is not None and code in BUSINESS_USE_CASE_CODES)
        or subcode in TRANSIENT_SUBCODES
        or status == 429
        or status >= 500
    ):
        return ProviderTransientError(
            message,
            http_status=status,
            error_code=error_code,
            retry_after=business_use_case_wait(response),
        )
    # 10 and 200-299 (permission), 100 (invalid parameter), 3 (method), 506 (duplicate
    # post), 1609005 (link), content rejections: what we sent was refused.
    return ProviderRequestError(message, http_status=status, error_code=error_code)


class MetaProvider(OAuth2Provider):
    """What the three Meta adapters share: Graph errors, GET/POST calls with the token as
    the ``access_token`` parameter, and waiting for media containers."""

    pkce = False
    scope_separator = ","
    token_auth_method = "client_secret_post"
    # Waiting for a media container to be processed before publishing it.
    poll_interval: ClassVar[float] = 3.0
    poll_attempts: ClassVar[int] = 20

    # --- calls ---------------------------------------------------------------------------

    def call(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> Any:
        """One Graph call; the token travels as ``access_token`` (query or form)."""
        params = dict(params or {})
        if data is not None:
            data = dict(data)
            if access_token is not None:
                data["access_token"] = access_token
        elif access_token is not None:
            params["access_token"] = access_token
        try:
            return self.api_json(method, url, params=params or None, data=data)
        except ProviderError as exc:
            # Raised afresh, without the requests exception (its text may hold the URL).
            raise exc from None

    def classify_error(
        self, status: int, body: Any, response: requests.Response
    ) -> ProviderError | None:
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                return graph_error(self.platform, status, error, response)
            # The Instagram OAuth host's older shape: {"error_type", "code", "error_message"}.
            if "error_type" in body and "error_message" in body:
                text = str(body.get("error_message"))[:MESSAGE_LIMIT]
                lowered = text.lower()
                error_code = str(body.get("error_type") or "")
                if status == 429 or status >= 500:
                    return ProviderTransientError(
                        f"{self.platform}: {text}", http_status=status, error_code=error_code
                    )
                if "access_token" in lowered or "access token" in lowered:
                    return ProviderDefinitiveError(
                        f"{self.platform}: {text}", http_status=status, error_code=error_code
                    )
                return ProviderRequestError(
                    f"{self.platform}: {text}", http_status=status, error_code=error_code
                )
        return super().classify_error(status, body, response)

    # --- tokens --------------------------------------------------------------------------

    def long_lived_token_set(self, body: Any, *, scopes: list[str] | None = None) -> TokenSet:
        """A token that refreshes itself: it is its own refresh token."""
        if not isinstance(body, dict):
            raise ProviderRequestError(f"{self.platform} token answer is malformed")
        tokens = self.token_set(body)
        return TokenSet(
            access_token=tokens.access_token,
            refresh_token=tokens.access_token,
            expires_at=tokens.expires_at,
            scopes=scopes if scopes is not None else tokens.scopes,
        )

    @staticmethod
    def scope_list(value: Any) -> list[str]:
        if isinstance(value, str):
            return [s for s in value.replace(",", " ").split() if s]
        if isinstance(value, list):
            return [str(s) for s in value if s]
        return []

    # --- publishing ----------------------------------------------------------------------

    def container_status(self, container_id: str, access_token: str) -> tuple[str, str]:
        """The processing status of a media container and its error text, if any."""
        raise NotImplementedError

    def publish_container(
        self, access_token: str, prepared: tuple[str, str], *, edge: str
    ) -> PublishResult:
        """Publish a container ``prepare_publish`` made ((user id, container id)) through
        ``edge`` (Instagram's ``media_publish``, Threads' ``threads_publish``)."""
        user_id, container = prepared
        body = self.call(
            "POST",
            f"{self.api_base}/{user_id}/{edge}",
            access_token=access_token,
            data={"creation_id": container},
        )
        post_id = _text_field(body, "id")
        if post_id is None:
            raise ProviderRequestError(f"{self.platform} did not return the published post id")
        return PublishResult(platform_post_id=post_id)

    def wait_until_ready(self, container_id: str, access_token: str) -> None:
        """Poll a media container until the platform has processed it."""
        for attempt in range(self.poll_attempts):
            status, detail = self.container_status(container_id, access_token)
            if status in ("FINISHED", "PUBLISHED", ""):
                return
            if status in ("ERROR", "EXPIRED"):
                reason = f": {detail[:MESSAGE_LIMIT]}" if detail else ""
                raise ProviderRequestError(
                    f"{self.platform} could not process the media ({status.lower()}){reason}",
                    error_code=status,
                )
            if attempt + 1 < self.poll_attempts:
                time.sleep(self.poll_interval)
        raise ProviderTransientError(
            f"{self.platform} is still processing the media", retry_after=60.0
        )


def _text_field(body: Any, key: str) -> str | None:
    value = body.get(key) if isinstance(body, dict) else None
    return str(value) if value not in (None, "") else None


def _count(body: dict, *keys: str) -> int:
    for key in keys:
        value = _int(body.get(key))
        if value is not None:
            return value
    return 0
