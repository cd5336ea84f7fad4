"""What the real platforms' adapters share: the OAuth 2 authorization-code flow (through
Authlib's client), bearer-token API calls, and one place to classify each answer.

A platform adapter subclasses ``OAuth2Provider``, names its endpoints and scopes, and
implements the profile, publish and (where its token answers or errors are unusual) the
token and error hooks. Every answer goes through ``raise_for_answer``: 429 and 5xx are
transient; the platform's own error shape is read by ``classify_error`` into a definitive
(the grant is dead), transient (try later) or request error (what we sent was refused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import requests
from authlib.common.errors import AuthlibBaseError
from django.conf import settings
from django.utils import timezone

from . import http
from .base import (
    OAuthProvider,
    ProviderDefinitiveError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRequestError,
    ProviderTransientError,
    TokenSet,
)

# RFC 6749 §5.2 / RFC 6750 §3.1 error codes that mean the grant or token is dead.
DEFINITIVE_OAUTH_ERRORS = frozenset(
    {"invalid_grant", "invalid_token", "unauthorized_client", "access_denied"}
)
# Standard codes that mean "later": RFC 6749 §4.1.2.1 (server_error, temporarily_unavailable)
# and the "slow down" some servers send for rate limits.
TRANSIENT_OAUTH_ERRORS = frozenset({"server_error", "temporarily_unavailable", "slow_down"})


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = ""


def credentials_for(platform: str) -> Credentials:
    """The app credentials of ``platform`` from settings (``<PLATFORM>_CLIENT_ID`` and
    ``..._SECRET``); ``ProviderNotConfigured`` when they are not set."""
    values = settings.PROVIDER_CREDENTIALS.get(platform) or {}
    return Credentials(
        client_id=values.get("client_id", ""), client_secret=values.get("client_secret", "")
    )


def json_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class OAuth2Provider(OAuthProvider):
    """The authorization-code grant with PKCE where the platform takes it."""

    authorize_url: ClassVar[str]
    token_url: ClassVar[str]
    # RFC 7009 revocation endpoint; ``None`` where the platform offers none.
    revoke_url: ClassVar[str | None] = None
    scope_separator: ClassVar[str] = " "
    # Send a PKCE S256 challenge and verifier (every platform that documents PKCE).
    pkce: ClassVar[bool] = True
    # How the client authenticates at the token endpoint: client_secret_basic,
    # client_secret_post or none (a public client).
    # A callable ``(client, method, uri, headers, body)`` names the client the platform's
    # own way (TikTok's ``client_key``).
    token_auth_method: ClassVar[str | Callable] = "client_secret_post"
    revoke_auth_method: ClassVar[str | None] = None
    # Extra query parameters of the authorization URL.
    authorize_params: ClassVar[dict[str, str]] = {}
    requires_secret: ClassVar[bool] = True

    def __init__(self, credentials: Credentials | None = None) -> None:
        self.credentials = credentials or credentials_for(self.platform)
        if not self.credentials.client_id or (
            self.requires_secret and not self.credentials.client_secret
        ):
            variable = self.platform.upper()
            raise ProviderNotConfigured(
                f"{self.platform} has no app credentials: set {variable}_CLIENT_ID"
                + (f" and {variable}_CLIENT_SECRET" if self.requires_secret else "")
            )

    # --- OAuth ---------------------------------------------------------------------------

    def oauth_session(self, *, redirect_uri: str | None = None):
        session = http.oauth_session(
            client_id=self.credentials.client_id,
            client_secret=self.credentials.client_secret or None,
            token_endpoint_auth_method=self.token_auth_method,
            revocation_endpoint_auth_method=self.revoke_auth_method or self.token_auth_method,
            scope=self.scope_separator.join(self.default_scopes),
            redirect_uri=redirect_uri,
        )
        session.register_compliance_hook("access_token_response", self._checked)
        session.register_compliance_hook("refresh_token_response", self._checked)
        return session

    def _checked(self, response: requests.Response) -> requests.Response:
        self.raise_for_answer(response)
        return self.normalize_token_response(response)

    def authorization_params(self, *, options: dict[str, str]) -> dict[str, str]:
        """The authorization URL's platform-specific parameters."""
        return dict(self.authorize_params)

    def authorization_url(
        self, *, state, code_challenge, redirect_uri, options, code_verifier=""
    ) -> str:
        params = self.authorization_params(options=options)
        if self.pkce:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        url, _state = self.oauth_session(redirect_uri=redirect_uri).create_authorization_url(
            http.platform_url(self.authorize_url), state=state, **params
        )
        return url

    def exchange_code(self, *, code, redirect_uri, code_verifier) -> TokenSet:
        body = self.code_token_answer(
            code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        return self.after_exchange(self.token_set(body))

    def code_token_answer(self, *, code: str, redirect_uri: str, code_verifier: str) -> dict:
        """The token endpoint's answer to the authorization code (RFC 6749 §4.1.3), with
        the PKCE verifier where the platform takes one."""
        extra = {"code_verifier": code_verifier} if self.pkce else {}
        return self.call_oauth(
            lambda session: session.fetch_token(
                http.platform_url(self.token_url),
                grant_type="authorization_code",
                code=code,
                timeout=settings.PROVIDER_HTTP_TIMEOUT,
                **extra,
                **self.token_request_params(),
            ),
            redirect_uri=redirect_uri,
        )

    def refresh(self, *, refresh_token) -> TokenSet:
        """The refresh grant (RFC 6749 §6), without ``scope``: the grant keeps its scopes.
        A platform that answers no new refresh token gets the one used handed back."""
        try:
            body = self.call_oauth(
                lambda session: session.refresh_token(
                    http.platform_url(self.token_url),
                    refresh_token=refresh_token,
                    scope=None,
                    timeout=settings.PROVIDER_HTTP_TIMEOUT,
                    **self.token_request_params(),
                )
            )
        except ProviderRequestError as exc:
            if self.refresh_token_is_dead(exc):
                raise ProviderDefinitiveError(
                    str(exc), http_status=exc.http_status, error_code=exc.error_code
                ) from exc
            raise
        return self.token_set(body)

    def refresh_token_is_dead(self, refused: ProviderRequestError) -> bool:
        """Whether a refused refresh means the grant is dead, for platforms that say so
        with something else than ``invalid_grant`` (default: no)."""
        return False

    def revoke(self, *, access_token, refresh_token) -> None:
        """Revoke the refresh token (which ends the grant where the platform ties them),
        then the access token. Platforms without an endpoint override this."""
        if self.revoke_url is None:
            return
        for token, hint in ((refresh_token, "refresh_token"), (access_token, "access_token")):
            if not token:
                continue
            response = self.call_oauth(
                lambda session, token=token, hint=hint: session.revoke_token(
                    http.platform_url(self.revoke_url),
                    token=token,
                    token_type_hint=hint,
                    timeout=settings.PROVIDER_HTTP_TIMEOUT,
                )
            )
            self.raise_for_answer(response)

    def token_request_params(self) -> dict[str, str]:
        """Extra form fields of token requests (some platforms name the client differently)."""
        return {}

    def normalize_token_response(self, response: requests.Response) -> requests.Response:
        """Reshape a platform's non-standard token answer (default: as it is)."""
        return response

    def after_exchange(self, tokens: TokenSet) -> TokenSet:
        """A second step some platforms need after the code exchange (a long-lived token)."""
        return tokens

    def token_set(self, body: dict) -> TokenSet:
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderRequestError(f"{self.platform} token answer has no access_token")
        expires_at = None
        expires_in = body.get("expires_in")
        try:
            seconds = int(expires_in) if expires_in is not None else 0
        except (TypeError, ValueError):
            seconds = 0
        if seconds > 0:
            expires_at = timezone.now() + timedelta(seconds=seconds)
        scope = body.get("scope", "")
        if isinstance(scope, str):
            scopes = [s for s in scope.replace(",", " ").split() if s]
        elif isinstance(scope, list):
            scopes = [str(s) for s in scope]
        else:
            scopes = []
        refresh = body.get("refresh_token")
        return TokenSet(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) else "",
            expires_at=expires_at,
            scopes=scopes,
        )

    def call_oauth(self, call, *, redirect_uri: str | None = None):
        """Run one Authlib call; its failures become this module's errors."""
        session = self.oauth_session(redirect_uri=redirect_uri)
        try:
            return call(session)
        except ProviderError:
            raise
        except requests.Timeout as exc:
            raise ProviderTransientError(f"timeout calling {self.platform}") from exc
        except requests.RequestException as exc:
            raise ProviderTransientError(
                f"cannot reach {self.platform}: {exc.__class__.__name__}"
            ) from exc
        except AuthlibBaseError as exc:
            code = getattr(exc, "error", "") or ""
            description = getattr(exc, "description", "") or code
            raise self.classify_oauth_code(code, description, status=None) from exc
        except ValueError as exc:
            raise ProviderRequestError(f"{self.platform} answered something unreadable") from exc

    # --- API calls -----------------------------------------------------------------------

    def api(
        self, method: str, url: str, *, access_token: str | None = None, **kwargs
    ) -> requests.Response:
        """One call to the platform's API (bearer token), checked by ``raise_for_answer``."""
        if access_token is not None:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("Authorization", f"Bearer {access_token}")
            kwargs["headers"] = headers
        response = http.request(method, url, **kwargs)
        self.raise_for_answer(response)
        return response

    def api_json(self, method: str, url: str, **kwargs) -> Any:
        body = json_body(self.api(method, url, **kwargs))
        if body is None:
            raise ProviderRequestError(f"{self.platform} answered something that is not JSON")
        return body

    # --- classification ------------------------------------------------------------------

    def raise_for_answer(self, response: requests.Response) -> None:
        """Raise the classified error of a failed answer; return for a successful one."""
        status = response.status_code
        body = json_body(response)
        error = self.classify_error(status, body, response)
        if error is not None:
            error.http_status = error.http_status or status
            if isinstance(error, ProviderTransientError) and error.retry_after is None:
                error.retry_after = http.retry_after(response)
            raise error
        if status == 429 or status >= 500:
            raise ProviderTransientError(
                f"{self.platform} answered {status}",
                http_status=status,
                retry_after=http.retry_after(response),
            )
        if status >= 400:
            raise ProviderRequestError(f"{self.platform} answered {status}", http_status=status)

    def classify_error(
        self, status: int, body: Any, response: requests.Response
    ) -> ProviderError | None:
        """The error an answer stands for, or ``None`` to fall back on its HTTP status.

        The default reads RFC 6749 / RFC 6750 error bodies; platforms with their own error
        shape override it (and may call this for their OAuth endpoints)."""
        if status < 400 and not (isinstance(body, dict) and isinstance(body.get("error"), str)):
            return None
        if status == 429 or status >= 500:
            return None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            description = str(body.get("error_description") or body["error"])
            return self.classify_oauth_code(body["error"], description, status=status)
        if status == 401:
            return ProviderDefinitiveError(
                f"{self.platform} refused the token (401)", http_status=status
            )
        return None

    def classify_oauth_code(
        self, code: str, description: str, *, status: int | None
    ) -> ProviderError:
        if code in TRANSIENT_OAUTH_ERRORS:
            return ProviderTransientError(description, http_status=status, error_code=code)
        if code in DEFINITIVE_OAUTH_ERRORS or status == 401:
            return ProviderDefinitiveError(description, http_status=status, error_code=code)
        return ProviderRequestError(description, http_status=status, error_code=code)


def require(condition: bool, platform: str, what: str) -> None:
    """Refuse a publish the platform would refuse, before calling it."""
    if not condition:
        raise ProviderRequestError(f"{platform} {what}")


__all__ = [
    "Credentials",
    "OAuth2Provider",
    "ProviderNotConfigured",
    "credentials_for",
    "json_body",
    "require",
]
