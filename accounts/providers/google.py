"""YouTube, through Google's OAuth 2 and the YouTube Data API v3.

Auth model: Google's authorization-code flow for web server apps, with PKCE (S256, which
Google accepts from confidential clients too) and the client secret in the token request
body. ``access_type=offline`` and ``prompt=consent`` make Google grant a refresh token on
every consent (it otherwise only does so the first time), and ``include_granted_scopes``
keeps scopes granted earlier. Access tokens live one hour; refresh tokens do not expire on
a schedule but die when the user revokes access, changes the password (for Gmail scopes),
after six months unused, or — for apps in "testing" publishing status — after seven days.
A refresh answers a new access token only: the refresh token stays the same, and
``refresh()`` hands it back unchanged.

Revoke: ``https://oauth2.googleapis.com/revoke`` ends the whole grant. Revoking the refresh
token also invalidates its access tokens, so one call is made (with the refresh token,
else the access token).

Publish uploads one video (YouTube has no text or image posts): the first media URL is
downloaded and sent through a resumable upload session (``videos.insert``); the text's
first line is the title (at most 100 characters) and the whole text is the description.
The video is made public; note that Google locks videos uploaded by API projects that have
not passed its audit to private. YouTube has no idempotency key for uploads, so
``idempotency_key`` is not used.

Errors: the token endpoint answers RFC 6749 errors (``invalid_grant`` = the grant is dead).
The API answers ``{"error": {"code", "message", "errors": [{"reason"}], "status"}}``: 401 is
a dead token, 403 with a quota or rate-limit reason is transient, any other 403 (missing
permission, no channel...) is a refusal of what we sent.
"""

from __future__ import annotations

from typing import Any

import requests

from . import http
from .base import (
    Profile,
    ProviderDefinitiveError,
    ProviderError,
    ProviderRequestError,
    ProviderTransientError,
    PublishResult,
)
from .media import as_count, fetch_media
from .oauth2 import OAuth2Provider, json_body, require

API = "https://www.googleapis.com/youtube/v3"
UPLOAD_URL = "https://www.googleapis.com/upload/youtube/v3/videos"

# Reasons of 403/400 answers that mean "later", not "no".
TRANSIENT_REASONS = frozenset(
    {
        "quotaExceeded",
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "dailyLimitExceeded",
        "uploadLimitExceeded",
        "backendError",
    }
)
TITLE_MAX = 100
DESCRIPTION_MAX_BYTES = 5000
# People & Blogs: videos.insert wants a category, this is YouTube's default one.
DEFAULT_CATEGORY_ID = "22"


def _plain(text: str) -> str:
    """YouTube refuses ``<`` and ``>`` in titles and descriptions."""
    return text.replace("<", "").replace(">", "")


class YouTubeProvider(OAuth2Provider):
    # https://developers.google.com/identity/protocols/oauth2/web-server
    # https://developers.google.com/identity/protocols/oauth2/scopes#youtube
    # https://developers.google.com/youtube/v3/docs/channels/list
    # https://developers.google.com/youtube/v3/docs/videos/insert
    # https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol
    # https://developers.google.com/youtube/v3/docs/errors
    platform = "youtube"
    authorize_url = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url = "https://oauth2.googleapis.com/token"
    revoke_url = "https://oauth2.googleapis.com/revoke"
    default_scopes = (
        "https://www.googleapis.com/auth/youtube.readonly",
        "https://www.googleapis.com/auth/youtube.upload",
    )
    scope_separator = " "
    pkce = True
    token_auth_method = "client_secret_post"
    authorize_params = {
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
    }

    # --- OAuth ---------------------------------------------------------------------------

    def revoke(self, *, access_token: str, refresh_token: str) -> None:
        """Revoke the grant: with the refresh token (which takes its access tokens along)
        or, without one, the access token. Google needs no client authentication here."""
        token = refresh_token or access_token
        if not token:
            return
        response = http.request(
            "POST",
            self.revoke_url,
            data={"token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.raise_for_answer(response)

    # --- profile ---------------------------------------------------------------------------

    def fetch_profile(self, *, access_token: str) -> Profile:
        body = self.api_json(
            "GET",
            f"{API}/channels",
            params={"part": "snippet,statistics", "mine": "true"},
            access_token=access_token,
        )
        items = body.get("items") if isinstance(body, dict) else None
        if not items:
            raise ProviderRequestError("this Google account has no YouTube channel")
        channel = items[0]
        if not isinstance(channel, dict) or not channel.get("id"):
            raise ProviderRequestError("youtube channel answer is malformed")
        snippet = channel.get("snippet") or {}
        statistics = channel.get("statistics") or {}
        thumbnails = snippet.get("thumbnails") or {}
        avatar = None
        for size in ("high", "medium", "default"):
            url = (thumbnails.get(size) or {}).get("url")
            if url:
                avatar = url
                break
        handle = str(snippet.get("customUrl") or "").lstrip("@") or None
        hidden = bool(statistics.get("hiddenSubscriberCount"))
        return Profile(
            platform_user_id=str(channel["id"]),
            username=handle,
            display_name=snippet.get("title"),
            avatar_url=avatar,
            account_type="channel",
            follower_count=0 if hidden else as_count(statistics.get("subscriberCount")),
            following_count=0,
            post_count=as_count(statistics.get("videoCount")),
            metadata={"channel_id": str(channel["id"]), "subscriber_count_hidden": hidden},
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
        require(bool(media_urls), self.platform, "needs a video to publish")
        require(len(media_urls) == 1, self.platform, "publishes one video per post")
        content, content_type = self._download(media_urls[0])
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        title = _plain(lines[0] if lines else "")[:TITLE_MAX].strip() or "Video"
        description = _plain(text).encode()[:DESCRIPTION_MAX_BYTES].decode("utf-8", "ignore")
        metadata = {
            "snippet": {
                "title": title,
                "description": description,
                "categoryId": DEFAULT_CATEGORY_ID,
            },
            "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False},
        }
        session = self.api(
            "POST",
            UPLOAD_URL,
            params={"uploadType": "resumable", "part": "snippet,status"},
            json=metadata,
            headers={
                "X-Upload-Content-Type": content_type,
                "X-Upload-Content-Length": str(len(content)),
            },
            access_token=access_token,
        )
        location = session.headers.get("Location")
        if not location:
            raise ProviderTransientError("youtube opened no upload session")
        video = json_body(
            self.api(
                "PUT",
                location,
                data=content,
                headers={"Content-Type": content_type},
                access_token=access_token,
            )
        )
        if not isinstance(video, dict) or not video.get("id"):
            raise ProviderRequestError("youtube upload answer has no video id")
        return PublishResult(platform_post_id=str(video["id"]))

    def _download(self, url: str) -> tuple[bytes, str]:
        """The video's bytes and type, from the public media URL."""
        content, content_type = fetch_media(url, label="the video")
        if content_type.startswith(("image/", "text/")):
            raise ProviderRequestError("youtube needs a video, the media is not one")
        if not content:
            raise ProviderRequestError("the media URL answered no content")
        return content, content_type or "video/*"

    # --- errors ----------------------------------------------------------------------------

    def classify_error(
        self, status: int, body: Any, response: requests.Response
    ) -> ProviderError | None:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return super().classify_error(status, body, response)  # the token endpoint's
        message = str(error.get("message") or f"youtube answered {status}")[:300]
        reasons = [
            str(item.get("reason", ""))
            for item in error.get("errors") or []
            if isinstance(item, dict)
        ]
        reason = reasons[0] if reasons else str(error.get("status") or "")
        if status == 401:
            return ProviderDefinitiveError(message, http_status=status, error_code=reason)
        if status == 429 or status >= 500 or TRANSIENT_REASONS.intersection(reasons):
            return ProviderTransientError(message, http_status=status, error_code=reason)
        if status >= 400:
            return ProviderRequestError(message, http_status=status, error_code=reason)
        return None

    def classify_oauth_code(
        self, code: str, description: str, *, status: int | None
    ) -> ProviderError:
        if code in ("invalid_client", "invalid_request", "redirect_uri_mismatch"):
            # Our app's set-up, not the user's grant.
            return ProviderRequestError(description, http_status=status, error_code=code)
        return super().classify_oauth_code(code, description, status=status)
