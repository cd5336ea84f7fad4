"""The adapter every platform implements, and the errors adapters raise.

Errors are classified once here so every caller (connect, refresh, publish, revoke) can
act on them the same way: a *definitive* answer means the grant is dead, a *transient* one
is retried and never counted as a dead token, a *request* error is the caller's input.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ProviderError(Exception):
    """Base of every failure talking to a platform."""

    def __init__(self, message: str, *, http_status: int | None = None, error_code: str = ""):
        super().__init__(message)
        self.http_status = http_status
        self.error_code = error_code


class ProviderDefinitiveError(ProviderError):
    """The platform said the grant is no longer valid (e.g. ``invalid_grant``)."""


class ProviderTransientError(ProviderError):
    """Timeouts, connection failures, 5xx and 429: try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderRequestError(ProviderError):
    """The platform rejected what we sent (bad code, bad redirect URI, missing scope)."""


class ProviderNotConfigured(ProviderError):
    """No credentials (or no adapter) for this platform in this deployment."""


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str = ""
    expires_at: datetime | None = None
    scopes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Profile:
    platform_user_id: str
    username: str | None
    display_name: str | None = None
    avatar_url: str | None = None
    account_type: str = ""
    follower_count: int = 0
    following_count: int = 0
    post_count: int = 0
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PublishResult:
    platform_post_id: str


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)[:96]
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthProvider(ABC):
    """One platform's OAuth 2 authorization-code flow (with PKCE) and API calls."""

    platform: str
    default_scopes: tuple[str, ...] = ()
    # False where the platform offers no way to revoke a token: ``revoke`` does nothing.
    can_revoke: bool = True

    @abstractmethod
    def authorization_url(
        self,
        *,
        state: str,
        code_challenge: str,
        redirect_uri: str,
        options: dict[str, str],
        code_verifier: str = "",
    ) -> str:
        """Where to send the user to grant access. ``code_verifier`` is the PKCE secret
        behind ``code_challenge``, for platforms that bind more to it (Bluesky's DPoP key)."""

    @abstractmethod
    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenSet: ...

    @abstractmethod
    def refresh(self, *, refresh_token: str) -> TokenSet: ...

    @abstractmethod
    def fetch_profile(self, *, access_token: str) -> Profile: ...

    def prepare_publish(self, *, access_token: str, text: str, media_urls: list[str]) -> Any:
        """What can be done before the post without publishing anything: uploading media,
        waiting for the platform to process it. The publisher runs it before it holds the
        account's platform-call lock, so a disconnect never waits for it; what it returns is
        handed to ``publish`` as ``prepared``. Default: nothing to prepare."""
        return None

    @abstractmethod
    def publish(
        self,
        *,
        access_token: str,
        text: str,
        media_urls: list[str],
        idempotency_key: str | None = None,
        prepared: Any = None,
    ) -> PublishResult:
        """Post ``text`` (and media). With ``idempotency_key``, a repeat of the call with the
        same key gets the post the first one made, where the platform supports it.
        ``prepared`` is what ``prepare_publish`` returned for this post (``None`` when the
        call comes without it: the adapter then prepares here)."""

    @abstractmethod
    def revoke(self, *, access_token: str, refresh_token: str) -> None: ...
