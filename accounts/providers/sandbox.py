"""Adapter for the built-in sandbox platform, served by this project at ``/sandbox/``.

It speaks plain OAuth 2 over HTTP like a real platform does, so connecting, refreshing,
publishing and revoking go through the same code paths with no internet.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from . import http
from .base import OAuthProvider, Profile, ProviderRequestError, PublishResult, TokenSet

SANDBOX_CLIENT_ID = "socialhub-sandbox"


class SandboxProvider(OAuthProvider):
    default_scopes = ("profile:read", "posts:write", "offline_access")

    def __init__(self, platform: str, base_url: str | None = None) -> None:
        self.platform = platform
        self.base_url = (base_url or settings.SANDBOX_BASE_URL).rstrip("/")

    def authorization_url(
        self, *, state, code_challenge, redirect_uri, options, code_verifier=""
    ) -> str:
        query = {
            "response_type": "code",
            "client_id": SANDBOX_CLIENT_ID,
            "platform": self.platform,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": " ".join(self.default_scopes),
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.base_url}/oauth/authorize?{urlencode(query)}"

    def _token_set(self, body: dict) -> TokenSet:
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderRequestError("sandbox token answer has no access_token")
        expires_in = body.get("expires_in")
        expires_at = None
        if isinstance(expires_in, int) and expires_in > 0:
            expires_at = timezone.now() + timedelta(seconds=expires_in)
        scope = body.get("scope", "")
        return TokenSet(
            access_token=access,
            refresh_token=body.get("refresh_token") or "",
            expires_at=expires_at,
            scopes=scope.split() if isinstance(scope, str) else [],
        )

    def exchange_code(self, *, code, redirect_uri, code_verifier) -> TokenSet:
        response = http.request(
            "POST",
            f"{self.base_url}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
                "client_id": SANDBOX_CLIENT_ID,
            },
        )
        return self._token_set(http.raise_for_oauth_response(response))

    def refresh(self, *, refresh_token) -> TokenSet:
        response = http.request(
            "POST",
            f"{self.base_url}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": SANDBOX_CLIENT_ID,
            },
        )
        return self._token_set(http.raise_for_oauth_response(response))

    def fetch_profile(self, *, access_token) -> Profile:
        response = http.request(
            "GET", f"{self.base_url}/api/me", headers={"Authorization": f"Bearer {access_token}"}
        )
        body = http.raise_for_oauth_response(response)
        try:
            return Profile(
                platform_user_id=str(body["id"]),
                username=body.get("username"),
                display_name=body.get("name"),
                avatar_url=body.get("avatar_url"),
                account_type=str(body.get("account_type", "")),
                follower_count=int(body.get("followers_count", 0)),
                following_count=int(body.get("following_count", 0)),
                post_count=int(body.get("posts_count", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderRequestError("sandbox profile answer is malformed") from exc

    def publish(
        self, *, access_token, text, media_urls, idempotency_key=None, prepared=None
    ) -> PublishResult:
        headers = {"Authorization": f"Bearer {access_token}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = http.request(
            "POST",
            f"{self.base_url}/api/posts",
            json={"text": text, "media_urls": media_urls},
            headers=headers,
        )
        body = http.raise_for_oauth_response(response)
        return PublishResult(platform_post_id=str(body.get("id", "")))

    def revoke(self, *, access_token, refresh_token) -> None:
        for token, hint in ((refresh_token, "refresh_token"), (access_token, "access_token")):
            if not token:
                continue
            response = http.request(
                "POST",
                f"{self.base_url}/oauth/revoke",
                data={"token": token, "token_type_hint": hint, "client_id": SANDBOX_CLIENT_ID},
            )
            http.raise_for_oauth_response(response)
