"""Pinterest, through its OAuth 2 and the Pinterest API v5.

Auth model: the authorization-code flow at ``https://www.pinterest.com/oauth/`` with
comma-separated scopes; Pinterest documents no PKCE, so none is sent. The code is exchanged
at ``https://api.pinterest.com/v5/oauth/token`` with the app id and secret as HTTP Basic
credentials. Access tokens live 30 days. Since May 2025 every refresh token is a
"continuous" one: it lives 60 days, and each refresh answers a new access token *and* a new
refresh token (whose 60 days start again), so a grant in use never has to be renewed by the
user.

Revoke: Pinterest documents no token revocation endpoint, so ``revoke()`` is a no-op; the
tokens die with their lifetimes (30 days, 60 days unused) or when the user removes the app
in their Pinterest settings. The account is deleted on our side either way.

Publish creates a Pin, which needs an image: one image URL makes an ``image_url`` Pin,
two to five make a carousel (``multiple_image_urls``); videos are not published (they need
Pinterest's separate media upload flow). A Pin needs a board: the first board the user's
``GET /v5/boards`` lists is used. The text's first line is the title (100 characters at
most) and the text the description (800 at most). Pinterest has no idempotency key, so
``idempotency_key`` is not used.

Errors are ``{"code": <int>, "message": "..."}``: 401 (code 2, authentication failed) and
code 283 ("the authorization grant is invalid", from the token endpoint) mean the grant is
dead; 429 and 5xx are transient; other 4xx are refusals of what we sent.
"""

from __future__ import annotations

from typing import Any

import requests

from .base import (
    Profile,
    ProviderDefinitiveError,
    ProviderError,
    ProviderRequestError,
    ProviderTransientError,
    PublishResult,
)
from .media import as_count, is_video_url
from .oauth2 import OAuth2Provider, require

API = "https://api.pinterest.com/v5"
TITLE_MAX = 100
DESCRIPTION_MAX = 800
CAROUSEL_MAX = 5

# Pinterest error codes that mean the grant or token is dead.
DEFINITIVE_CODES = frozenset({2, 283})


class PinterestProvider(OAuth2Provider):
    # https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/
    # https://developers.pinterest.com/docs/getting-started/authentication-and-scopes/
    # https://developers.pinterest.com/docs/api/v5/oauth-token/
    # https://developers.pinterest.com/docs/api/v5/user_account-get/
    # https://developers.pinterest.com/docs/api/v5/boards-list/
    # https://developers.pinterest.com/docs/api/v5/pins-create/
    # https://developers.pinterest.com/docs/reference/error-codes/
    platform = "pinterest"
    authorize_url = "https://www.pinterest.com/oauth/"
    token_url = "https://api.pinterest.com/v5/oauth/token"
    revoke_url = None
    default_scopes = ("user_accounts:read", "boards:read", "pins:read", "pins:write")
    scope_separator = ","
    pkce = False
    token_auth_method = "client_secret_basic"

    can_revoke = False

    def revoke(self, *, access_token: str, refresh_token: str) -> None:
        """No-op: Pinterest offers no revocation endpoint (see the module docstring)."""
        return

    # --- profile ---------------------------------------------------------------------------

    def fetch_profile(self, *, access_token: str) -> Profile:
        body = self.api_json("GET", f"{API}/user_account", access_token=access_token)
        if not isinstance(body, dict) or not (body.get("id") or body.get("username")):
            raise ProviderRequestError("pinterest user_account answer is malformed")
        username = body.get("username") or None
        account_type = str(body.get("account_type") or "").lower()
        return Profile(
            platform_user_id=str(body.get("id") or username),
            username=username,
            display_name=body.get("business_name") or username,
            avatar_url=body.get("profile_image") or None,
            account_type=account_type,
            follower_count=as_count(body.get("follower_count")),
            following_count=as_count(body.get("following_count")),
            post_count=as_count(body.get("pin_count")),
            metadata={"board_count": as_count(body.get("board_count"))},
        )

    # --- publish ---------------------------------------------------------------------------

    def publish(
        self,
        *,
        access_token: str,
        text: str,
        media_urls: list[str],
        idempotency_key: str | None = None,
        prepared: Any = None,
    ) -> PublishResult:
        require(bool(media_urls), self.platform, "needs an image to create a Pin")
        require(
            len(media_urls) <= CAROUSEL_MAX,
            self.platform,
            f"takes at most {CAROUSEL_MAX} images per Pin",
        )
        require(
            not any(is_video_url(url) for url in media_urls),
            self.platform,
            "video Pins are not supported; use images",
        )
        board_id = self._first_board(access_token)
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        title = (lines[0] if lines else "")[:TITLE_MAX]
        description = text.strip()[:DESCRIPTION_MAX]
        if len(media_urls) == 1:
            media_source: dict[str, Any] = {"source_type": "image_url", "url": media_urls[0]}
        else:
            media_source = {
                "source_type": "multiple_image_urls",
                "items": [{"url": url} for url in media_urls],
            }
        pin: dict[str, Any] = {"board_id": board_id, "media_source": media_source}
        if title:
            pin["title"] = title
        if description:
            pin["description"] = description
        body = self.api_json("POST", f"{API}/pins", json=pin, access_token=access_token)
        if not isinstance(body, dict) or not body.get("id"):
            raise ProviderRequestError("pinterest Pin answer has no id")
        return PublishResult(platform_post_id=str(body["id"]))

    def _first_board(self, access_token: str) -> str:
        body = self.api_json(
            "GET", f"{API}/boards", params={"page_size": "1"}, access_token=access_token
        )
        items = body.get("items") if isinstance(body, dict) else None
        if not items or not isinstance(items[0], dict) or not items[0].get("id"):
            raise ProviderRequestError("pinterest account has no board to pin to")
        return str(items[0]["id"])

    # --- errors ----------------------------------------------------------------------------

    def classify_error(
        self, status: int, body: Any, response: requests.Response
    ) -> ProviderError | None:
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return super().classify_error(status, body, response)
        if status < 400:
            return None
        code = body.get("code") if isinstance(body, dict) else None
        message = ""
        if isinstance(body, dict):
            message = str(body.get("message") or "")[:300]
        message = message or f"pinterest answered {status}"
        error_code = "" if code is None else str(code)
        if status == 429 or status >= 500:
            return ProviderTransientError(message, http_status=status, error_code=error_code)
        if status == 401 or code in DEFINITIVE_CODES:
            return ProviderDefinitiveError(message, http_status=status, error_code=error_code)
        return ProviderRequestError(message, http_status=status, error_code=error_code)
