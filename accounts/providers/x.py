"""Adapter for X (formerly Twitter), API v2 with OAuth 2.0 user context.

Auth model:

- OAuth 2.0 Authorization Code with PKCE. X requires PKCE for every OAuth 2.0 client; we send
  an S256 challenge. Users authorize at ``https://x.com/i/oauth2/authorize``.
- We are a *confidential* client: the token and revocation endpoints take the client id and
  secret as HTTP Basic authentication.
- Access tokens live two hours. The ``offline.access`` scope gets a refresh token, which X
  rotates on every refresh (the old one stops working, so the new one must be stored).
- Revocation: ``POST https://api.x.com/2/oauth2/revoke`` (RFC 7009 style, ``token`` and
  ``token_type_hint``), for the refresh token and then the access token.

Errors: the OAuth endpoints answer RFC 6749 bodies; X answers an unknown, used or revoked
refresh token with ``invalid_request`` / "Value passed for the token was invalid", which a
refresh reads as a dead grant. The API answers ``application/problem+json``
(``title``, ``detail``, ``type``, ``status``): 401 means the token is dead; 429 (rate limit or
usage cap) carries ``x-rate-limit-reset`` (epoch seconds), read as ``retry_after``; 403 for
duplicate content and the other 4xx are refusals of what we sent.

Publishing: ``POST /2/tweets``. Images (up to four) go through the v2 one-shot media upload;
a video or animated GIF (one, alone) through the chunked upload (initialize, append,
finalize, then status until processed). X offers no idempotency key for posts, so
``idempotency_key`` is ignored; X itself refuses an identical repeat as duplicate content.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import requests
from django.utils import timezone

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
from .oauth2 import OAuth2Provider, require

API = "https://api.x.com/2"
MEDIA_UPLOAD_URL = f"{API}/media/upload"
USER_FIELDS = "profile_image_url,public_metrics,verified,name,username"

MAX_IMAGES = 4
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_GIF_BYTES = 15 * 1024 * 1024
MAX_VIDEO_BYTES = 512 * 1024 * 1024
CHUNK_BYTES = 4 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
OCTETS = "application/octet-stream"


class XProvider(OAuth2Provider):
    # https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code
    # https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token
    # https://docs.x.com/x-api/users/lookup/quickstart/authenticated-lookup
    # https://docs.x.com/x-api/posts/manage-tweets/quickstart
    # https://docs.x.com/x-api/media/image-or-subtitle-media-upload
    # https://docs.x.com/x-api/media/quickstart/media-upload-chunked
    # https://docs.x.com/x-api/media/finalize-media-upload
    # https://docs.x.com/x-api/fundamentals/response-codes-and-errors
    # https://docs.x.com/x-api/fundamentals/rate-limits
    platform = "x"
    authorize_url = "https://x.com/i/oauth2/authorize"
    token_url = f"{API}/oauth2/token"
    revoke_url = f"{API}/oauth2/revoke"
    default_scopes = ("tweet.read", "tweet.write", "users.read", "offline.access", "media.write")
    pkce = True
    token_auth_method = "client_secret_basic"
    # How long a publish waits for X to process an uploaded video before giving up for now.
    media_processing_timeout: ClassVar[float] = 120.0

    # --- OAuth ---------------------------------------------------------------------------

    def refresh_token_is_dead(self, refused: ProviderRequestError) -> bool:
        """X's answer to a refresh token it no longer knows (used, revoked, expired):
        ``invalid_request`` / "Value passed for the token was invalid"."""
        return refused.error_code == "invalid_request" and "token" in str(refused).lower()

    # --- classification ------------------------------------------------------------------

    def classify_error(
        self, status: int, body: Any, response: requests.Response
    ) -> ProviderError | None:
        if status == 429:
            return ProviderTransientError(
                "x rate limit reached",
                http_status=status,
                error_code=_problem_code(body) or "rate_limited",
                retry_after=http.retry_after(response) or _reset_after(response),
            )
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return self.classify_oauth_code(
                body["error"], str(body.get("error_description") or body["error"]), status=status
            )
        if status < 400 or status >= 500:
            return None
        detail = _problem_detail(body) or f"x answered {status}"
        code = _problem_code(body)
        if status == 401:
            return ProviderDefinitiveError(detail, http_status=status, error_code=code)
        if status == 403 and "duplicate" in detail.lower():
            return ProviderRequestError(detail, http_status=status, error_code="duplicate")
        return ProviderRequestError(detail, http_status=status, error_code=code)

    def classify_oauth_code(
        self, code: str, description: str, *, status: int | None
    ) -> ProviderError:
        # X answers a missing or wrong client authentication with ``unauthorized_client``
        # (401): our app's configuration, not the user's grant.
        if code in {"invalid_client", "unauthorized_client"}:
            return ProviderRequestError(description, http_status=status, error_code=code)
        return super().classify_oauth_code(code, description, status=status)

    # --- profile -------------------------------------------------------------------------

    def fetch_profile(self, *, access_token: str) -> Profile:
        body = self.api_json(
            "GET",
            f"{API}/users/me",
            access_token=access_token,
            params={"user.fields": USER_FIELDS},
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise ProviderRequestError("x profile answer has no user")
        metrics = data.get("public_metrics") or {}
        return Profile(
            platform_user_id=str(data["id"]),
            username=data.get("username"),
            display_name=data.get("name"),
            avatar_url=data.get("profile_image_url"),
            account_type="verified" if data.get("verified") else "",
            follower_count=as_count(metrics.get("followers_count")),
            following_count=as_count(metrics.get("following_count")),
            post_count=as_count(metrics.get("tweet_count")),
            metadata={"verified": bool(data.get("verified"))},
        )

    # --- publish -------------------------------------------------------------------------

    def prepare_publish(self, *, access_token: str, text: str, media_urls: list[str]) -> list[str]:
        """Check the post, then upload its media (waiting for a video to be processed):
        the media ids, which publish nothing until a post names them."""
        require(bool(text.strip()) or bool(media_urls), self.platform, "needs text or media")
        require(len(media_urls) <= MAX_IMAGES, self.platform, "takes at most 4 media per post")
        files = [
            fetch_media(url, label=f"media {index}") for index, url in enumerate(media_urls, 1)
        ]
        kinds = [_media_kind(content_type) for _content, content_type in files]
        require(None not in kinds, self.platform, "takes JPEG, PNG, WebP, GIF or MP4 media")
        if any(kind != "tweet_image" for kind in kinds):
            require(len(files) == 1, self.platform, "takes a video or GIF only on its own")
        for (content, _type), kind in zip(files, kinds, strict=True):
            limit = {"tweet_image": MAX_IMAGE_BYTES, "tweet_gif": MAX_GIF_BYTES}.get(
                kind or "", MAX_VIDEO_BYTES
            )
            require(len(content) <= limit, self.platform, f"refuses {kind} media this large")
        return [
            self._upload(access_token, content, content_type, kind or "")
            for (content, content_type), kind in zip(files, kinds, strict=True)
        ]

    def publish(
        self,
        *,
        access_token: str,
        text: str,
        media_urls: list[str],
        idempotency_key: str | None = None,
        prepared: list[str] | None = None,
    ) -> PublishResult:
        """Post ``text`` with up to four images, or one video or GIF (uploaded by
        ``prepare_publish``). ``idempotency_key`` is ignored: X has no idempotency key for
        posts."""
        media_ids = prepared
        if media_ids is None:
            media_ids = self.prepare_publish(
                access_token=access_token, text=text, media_urls=media_urls
            )
        post: dict[str, Any] = {}
        if text:
            post["text"] = text
        if media_ids:
            post["media"] = {"media_ids": media_ids}
        body = self.api_json("POST", f"{API}/tweets", access_token=access_token, json=post)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise ProviderRequestError(_problem_detail(body) or "x did not create the post")
        return PublishResult(platform_post_id=str(data["id"]))

    def _upload(self, access_token: str, content: bytes, content_type: str, kind: str) -> str:
        if kind == "tweet_image":
            body = self.api_json(
                "POST",
                MEDIA_UPLOAD_URL,
                access_token=access_token,
                data={"media_category": kind, "media_type": content_type},
                files={"media": ("media", content, content_type)},
            )
            return _media_id(body)
        return self._upload_chunked(access_token, content, content_type, kind)

    def _upload_chunked(
        self, access_token: str, content: bytes, content_type: str, kind: str
    ) -> str:
        media_id = _media_id(
            self.api_json(
                "POST",
                f"{MEDIA_UPLOAD_URL}/initialize",
                access_token=access_token,
                json={
                    "media_type": content_type,
                    "total_bytes": len(content),
                    "media_category": kind,
                },
            )
        )
        for index, start in enumerate(range(0, len(content), CHUNK_BYTES)):
            self.api(
                "POST",
                f"{MEDIA_UPLOAD_URL}/{media_id}/append",
                access_token=access_token,
                data={"segment_index": str(index)},
                files={
                    "media": (
                        "chunk",
                        content[start : start + CHUNK_BYTES],
                        "application/octet-stream",
                    )
                },
            )
        body = self.api_json(
            "POST", f"{MEDIA_UPLOAD_URL}/{media_id}/finalize", access_token=access_token
        )
        self._await_processing(access_token, media_id, body)
        return media_id

    def _await_processing(self, access_token: str, media_id: str, body: Any) -> None:
        """Poll the upload's status until X has processed it (videos and GIFs)."""
        deadline = time.monotonic() + self.media_processing_timeout
        while True:
            data = body.get("data") if isinstance(body, dict) else None
            info = data.get("processing_info") if isinstance(data, dict) else None
            state = info.get("state") if isinstance(info, dict) else None
            if state in (None, "succeeded"):
                return
            if state == "failed":
                error = info.get("error") if isinstance(info.get("error"), dict) else {}
                message = error.get("message") or error.get("name") or "media processing failed"
                raise ProviderRequestError(f"x refused the media: {message}")
            wait = max(0.0, float(info.get("check_after_secs") or 1))
            if time.monotonic() + wait > deadline:
                raise ProviderTransientError(
                    "x is still processing the media", retry_after=max(wait, 30.0)
                )
            time.sleep(wait)
            body = self.api_json(
                "GET",
                MEDIA_UPLOAD_URL,
                access_token=access_token,
                params={"command": "STATUS", "media_id": media_id},
            )


# --- internals -----------------------------------------------------------------------------


def _problem_detail(body: Any) -> str:
    """The human text of an X problem (or of its first ``errors`` entry)."""
    if not isinstance(body, dict):
        return ""
    for key in ("detail", "title", "message"):
        if isinstance(body.get(key), str) and body[key]:
            return body[key]
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return _problem_detail(errors[0])
    return ""


def _problem_code(body: Any) -> str:
    """The last segment of a problem ``type``: ``usage-capped``, ``client-forbidden``..."""
    if not isinstance(body, dict):
        return ""
    problem_type = body.get("type")
    if isinstance(problem_type, str) and problem_type not in ("", "about:blank"):
        return problem_type.rstrip("/").rsplit("/", 1)[-1]
    return ""


def _reset_after(response: requests.Response) -> float | None:
    """Seconds until ``x-rate-limit-reset`` (epoch seconds), if X sent it."""
    value = response.headers.get("x-rate-limit-reset", "")
    try:
        reset = float(value)
    except ValueError:
        return None
    return max(0.0, reset - timezone.now().timestamp())


def _media_id(body: Any) -> str:
    data = body.get("data") if isinstance(body, dict) else None
    media_id = data.get("id") if isinstance(data, dict) else None
    if not media_id:
        raise ProviderRequestError("x media upload answer has no media id")
    return str(media_id)


def _media_kind(content_type: str) -> str | None:
    if content_type in IMAGE_TYPES:
        return "tweet_image"
    if content_type == "image/gif":
        return "tweet_gif"
    if content_type in ("video/mp4", "video/quicktime"):
        return "tweet_video"
    return None
