"""TikTok (business and personal accounts), through Login Kit for Web and the Content
Posting API.

Auth model: TikTok's OAuth 2 authorization code flow (v2). The authorization URL is
``https://www.tiktok.com/v2/auth/authorize/``; TikTok names the client ``client_key`` (not
``client_id``) and separates scopes with commas. PKCE is documented for Login Kit for
Desktop and the mobile SDKs only; Login Kit for Web is a confidential client and sends
neither a challenge nor a verifier, so none is sent. The token endpoint
(``https://open.tiktokapis.com/v2/oauth/token/``) takes a form with ``client_key`` and
``client_secret`` for the code exchange and the refresh alike. Access tokens live 24 hours,
refresh tokens 365 days; a refresh may answer a new refresh token (which then replaces the
old one). Revoke: ``/v2/oauth/revoke/`` with the access token ends the user's grant to the
app (both tokens).

Business vs personal: both platforms use Login Kit and the Content Posting API, which serve
every TikTok account type, Business accounts included. TikTok's separate "API for Business"
(business-api.tiktok.com, Accounts API) needs a second app on the TikTok for Business
developer portal and is aimed at advertisers' account management; organic publishing by a
creator who owns a Business account is what the Content Posting API is for. The two
adapters therefore differ in the account type they record (and in their app credentials,
``TIKTOK_BUSINESS_*`` vs ``TIKTOK_PERSONAL_*``), not in their endpoints.

Publish is a Direct Post: ``creator_info/query`` first (the privacy levels the account
offers and its interaction settings), then ``video/init`` for one video URL or
``content/init`` with ``media_type=PHOTO`` for 1-35 image URLs, both with
``PULL_FROM_URL`` (TikTok fetches the media; the URL's domain must be verified for the app).
The post is public where the account allows it, else the most open level offered. TikTok
processes the post asynchronously: the id returned is TikTok's ``publish_id``. TikTok has
no idempotency key, so ``idempotency_key`` is not used. Posts by an unaudited app are
forced to private visibility by TikTok.

Errors: the API answers ``{"data": {...}, "error": {"code", "message", "log_id"}}`` with code
``ok`` on success; the OAuth endpoints answer ``{"error", "error_description", "log_id"}``,
sometimes with HTTP 200. ``access_token_invalid`` and ``invalid_grant`` mean the grant is
dead; ``rate_limit_exceeded``, internal errors and TikTok's posting caps are transient;
missing scopes and refused content are request errors.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

import requests
from authlib.common.urls import add_params_to_qs
from django.conf import settings

from . import http
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

API = "https://open.tiktokapis.com/v2"
PROFILE_FIELDS = (
    "open_id,union_id,avatar_url,display_name,username,"
    "follower_count,following_count,video_count,is_verified"
)
PHOTO_MAX = 35
VIDEO_TITLE_MAX = 2200
PHOTO_TITLE_MAX = 90
PHOTO_DESCRIPTION_MAX = 4000
# Most open first: the first level the account offers is used.
PRIVACY_PREFERENCE = (
    "PUBLIC_TO_EVERYONE",
    "FOLLOWER_OF_CREATOR",
    "MUTUAL_FOLLOW_FRIENDS",
    "SELF_ONLY",
)

# API error codes (https://developers.tiktok.com/doc/tiktok-api-v2-error-handling and the
# Content Posting API's error list).
DEFINITIVE_CODES = frozenset({"access_token_invalid", "invalid_grant", "access_denied"})
TRANSIENT_CODES = frozenset(
    {
        "rate_limit_exceeded",
        "internal_error",
        "server_error",
        "temporarily_unavailable",
        "unknown_error",
        "spam_risk_too_many_posts",
        "spam_risk_too_many_pending_share",
        "reached_active_user_cap",
    }
)


def encode_client_key(client, method, uri, headers, body):
    """Authlib client authentication the TikTok way: ``client_key`` and ``client_secret``
    in the form body of the token and revocation requests."""
    body = add_params_to_qs(
        body or "", [("client_key", client.client_id), ("client_secret", client.client_secret)]
    )
    if "Content-Length" in headers:
        headers["Content-Length"] = str(len(body))
    return uri, headers, body


class TikTokProvider(OAuth2Provider):
    """What both TikTok platforms share; the subclasses name the platform."""

    # https://developers.tiktok.com/doc/login-kit-web
    # https://developers.tiktok.com/doc/oauth-user-access-token-management
    # https://developers.tiktok.com/doc/tiktok-api-scopes
    # https://developers.tiktok.com/doc/tiktok-api-v2-get-user-info
    # https://developers.tiktok.com/doc/content-posting-api-reference-query-creator-info
    # https://developers.tiktok.com/doc/content-posting-api-reference-direct-post
    # https://developers.tiktok.com/doc/content-posting-api-reference-photo-post
    # https://developers.tiktok.com/doc/tiktok-api-v2-error-handling
    authorize_url = "https://www.tiktok.com/v2/auth/authorize/"
    token_url = "https://open.tiktokapis.com/v2/oauth/token/"
    revoke_url = "https://open.tiktokapis.com/v2/oauth/revoke/"
    default_scopes = (
        "user.info.basic",
        "user.info.profile",
        "user.info.stats",
        "video.publish",
    )
    scope_separator = ","
    pkce = False
    token_auth_method = staticmethod(encode_client_key)
    account_type: ClassVar[str] = ""

    # --- OAuth: TikTok names the client ``client_key``; the token requests are Authlib's
    # with that name (``encode_client_key``), the authorization URL is built here.

    def authorization_url(
        self, *, state, code_challenge, redirect_uri, options, code_verifier=""
    ) -> str:
        query = {
            "client_key": self.credentials.client_id,
            "response_type": "code",
            "scope": self.scope_separator.join(self.default_scopes),
            "redirect_uri": redirect_uri,
            "state": state,
            **self.authorization_params(options=options),
        }
        return f"{http.platform_url(self.authorize_url)}?{urlencode(query)}"

    def revoke(self, *, access_token: str, refresh_token: str) -> None:
        """Revoke with the access token: TikTok then ends the grant (both tokens). Without
        an access token there is nothing TikTok's endpoint takes."""
        if not access_token:
            return
        response = self.call_oauth(
            lambda session: session.revoke_token(
                http.platform_url(self.revoke_url),
                token=access_token,
                timeout=settings.PROVIDER_HTTP_TIMEOUT,
            )
        )
        self.raise_for_answer(response)

    # --- profile ---------------------------------------------------------------------------

    def fetch_profile(self, *, access_token: str) -> Profile:
        body = self.api_json(
            "GET",
            f"{API}/user/info/",
            params={"fields": PROFILE_FIELDS},
            access_token=access_token,
        )
        user = ((body.get("data") or {}) if isinstance(body, dict) else {}).get("user")
        if not isinstance(user, dict) or not user.get("open_id"):
            raise ProviderRequestError("tiktok user info answer is malformed")
        metadata: dict[str, Any] = {"is_verified": bool(user.get("is_verified"))}
        if user.get("union_id"):
            metadata["union_id"] = str(user["union_id"])
        return Profile(
            platform_user_id=str(user["open_id"]),
            username=user.get("username") or None,
            display_name=user.get("display_name") or None,
            avatar_url=user.get("avatar_url") or None,
            account_type=self.account_type,
            follower_count=as_count(user.get("follower_count")),
            following_count=as_count(user.get("following_count")),
            post_count=as_count(user.get("video_count")),
            metadata=metadata,
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
        require(bool(media_urls), self.platform, "needs a video or photos to publish")
        videos = [url for url in media_urls if is_video_url(url)]
        if videos:
            require(len(media_urls) == 1, self.platform, "publishes one video, without photos")
        else:
            require(
                len(media_urls) <= PHOTO_MAX,
                self.platform,
                f"takes at most {PHOTO_MAX} photos per post",
            )
        creator = self._creator_info(access_token)
        options = creator.get("privacy_level_options") or []
        privacy = next((level for level in PRIVACY_PREFERENCE if level in options), None)
        if privacy is None:
            raise ProviderRequestError("tiktok offers this account no privacy level to post with")
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        if videos:
            payload: dict[str, Any] = {
                "post_info": {
                    "title": text.strip()[:VIDEO_TITLE_MAX],
                    "privacy_level": privacy,
                    "disable_comment": bool(creator.get("comment_disabled")),
                    "disable_duet": bool(creator.get("duet_disabled")),
                    "disable_stitch": bool(creator.get("stitch_disabled")),
                },
                "source_info": {"source": "PULL_FROM_URL", "video_url": videos[0]},
            }
            url = f"{API}/post/publish/video/init/"
        else:
            lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
            payload = {
                "post_info": {
                    "title": (lines[0] if lines else "")[:PHOTO_TITLE_MAX],
                    "description": text.strip()[:PHOTO_DESCRIPTION_MAX],
                    "privacy_level": privacy,
                    "disable_comment": bool(creator.get("comment_disabled")),
                    "auto_add_music": True,
                },
                "source_info": {
                    "source": "PULL_FROM_URL",
                    "photo_cover_index": 0,
                    "photo_images": list(media_urls),
                },
                "post_mode": "DIRECT_POST",
                "media_type": "PHOTO",
            }
            url = f"{API}/post/publish/content/init/"
        body = self.api_json("POST", url, json=payload, headers=headers, access_token=access_token)
        publish_id = (body.get("data") or {}).get("publish_id") if isinstance(body, dict) else None
        if not publish_id:
            raise ProviderRequestError("tiktok post answer has no publish_id")
        return PublishResult(platform_post_id=str(publish_id))

    def _creator_info(self, access_token: str) -> dict[str, Any]:
        body = self.api_json(
            "POST",
            f"{API}/post/publish/creator_info/query/",
            headers={"Content-Type": "application/json; charset=UTF-8"},
            access_token=access_token,
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ProviderRequestError("tiktok creator info answer is malformed")
        return data

    # --- errors ----------------------------------------------------------------------------

    def classify_error(
        self, status: int, body: Any, response: requests.Response
    ) -> ProviderError | None:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):  # the API's envelope
            code = str(error.get("code") or "")
            if code == "ok" and status < 400:
                return None
            message = str(error.get("message") or code or f"tiktok answered {status}")[:300]
            return self._classified(code, message, status)
        if isinstance(error, str) and error:  # the OAuth endpoints' shape
            description = str(body.get("error_description") or error)[:300]
            return self._classified(error, description, status)
        return None

    def _classified(self, code: str, message: str, status: int) -> ProviderError:
        if code in TRANSIENT_CODES or status == 429 or status >= 500:
            return ProviderTransientError(message, http_status=status, error_code=code)
        if code in DEFINITIVE_CODES:
            return ProviderDefinitiveError(message, http_status=status, error_code=code)
        if code in ("scope_not_authorized", "scope_permission_missed", "invalid_client"):
            return ProviderRequestError(message, http_status=status, error_code=code)
        if status == 401 and not code:
            return ProviderDefinitiveError(message, http_status=status, error_code=code)
        return ProviderRequestError(message, http_status=status or None, error_code=code)

    def classify_oauth_code(
        self, code: str, description: str, *, status: int | None
    ) -> ProviderError:
        return self._classified(code, description, status or 0)


class TikTokBusinessProvider(TikTokProvider):
    """A TikTok Business account, publishing organic posts (see the module docstring)."""

    platform = "tiktok_business"
    account_type = "business"


class TikTokPersonalProvider(TikTokProvider):
    """A personal (creator) TikTok account."""

    platform = "tiktok_personal"
    account_type = "personal"
