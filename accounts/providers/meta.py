"""Adapters for Meta's platforms: Instagram, Facebook Pages and Threads.

All three speak the Graph API dialect of OAuth 2: the authorization code is exchanged for
a short-lived token (about an hour), which is then traded for a long-lived one. None of
them documents PKCE for these server-side flows, so none is sent (``pkce = False``); the
client authenticates with its app secret. Errors come as
``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``
and are classified by ``graph_error`` (code 190 and the session subcodes: the token is
dead; throttling codes and ``is_transient``: try later; permissions and parameters: the
request). Access tokens are sent as the documented ``access_token`` parameter (the query
of GET/DELETE calls, the form body of POST calls) and are never put into an error
message; the requests' own exceptions (whose text may carry a URL) are not chained.

Instagram (``instagram``, the Instagram API with Instagram Login, for professional
accounts): the short-lived token from ``api.instagram.com/oauth/access_token`` is
exchanged (``ig_exchange_token``) for a 60-day token, which refreshes *itself*
(``ig_refresh_token``, once it is at least 24 hours old): there is no separate refresh
token, so the long-lived access token is handed back as ``TokenSet.refresh_token`` too.
There is no revocation endpoint for these tokens (the user removes the app in Instagram's
settings): ``revoke()`` is a no-op. Publishing needs media: a container per image/video
(a carousel for several), then ``media_publish``.

Facebook Pages (``facebook_page``, Facebook Login): the user token is exchanged
(``fb_exchange_token``) for a long-lived one (about 60 days), and the Page and its Page
access token are read from ``/me/accounts`` (the first Page the user granted that lets
them create content). A Page token obtained from a long-lived user token does not
expire, so the account's access token is the *Page token* (no expiry) and the refresh
token is ``"<page id>|<long-lived user token>"``: ``refresh()`` reads the same Page's
token again with it, and ``revoke()`` uses the user token for ``DELETE /me/permissions``,
which ends the whole grant (Page tokens included).

Threads (``threads``): as Instagram, on ``graph.threads.net`` with ``th_exchange_token``
and ``th_refresh_token`` (60-day tokens that refresh themselves, handed back as the
refresh token too). No revocation endpoint exists (only an uninstall callback):
``revoke()`` is a no-op. The follower count comes from ``threads_insights``
(``threads_manage_insights``); where that permission was not granted it is 0.

Idempotency keys are ignored: none of these publishing endpoints takes one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from .base import (
    Profile,
    ProviderDefinitiveError,
    ProviderError,
    ProviderRequestError,
    ProviderTransientError,
    PublishResult,
    TokenSet,
)
from .oauth2 import OAuth2Provider, require

# The Graph API version every Facebook and Instagram call is pinned to.
GRAPH_API_VERSION = "v23.0"
# The Threads API has its own version line.
THREADS_API_VERSION = "v1.0"

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

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")
MESSAGE_LIMIT = 300


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def is_video(url: str) -> bool:
    """Whether a media URL names a video (by its path's extension); anything else is an
    image."""
    return urlsplit(url).path.lower().endswith(VIDEO_SUFFIXES)


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


# https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/business-login
# https://developers.facebook.com/docs/instagram-platform/reference/access_token
# https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token
# https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/get-started
# https://developers.facebook.com/docs/instagram-platform/content-publishing
class InstagramProvider(MetaProvider):
    platform = "instagram"
    authorize_url = "https://www.instagram.com/oauth/authorize"
    token_url = "https://api.instagram.com/oauth/access_token"
    exchange_url = "https://graph.instagram.com/access_token"
    refresh_url = "https://graph.instagram.com/refresh_access_token"
    api_base = f"https://graph.instagram.com/{GRAPH_API_VERSION}"
    default_scopes = ("instagram_business_basic", "instagram_business_content_publish")
    profile_fields = (
        "user_id,username,name,account_type,profile_picture_url,"
        "followers_count,follows_count,media_count"
    )
    caption_limit = 2200
    carousel_limit = 10

    def exchange_code(self, *, code, redirect_uri, code_verifier) -> TokenSet:
        body = self.call(
            "POST",
            self.token_url,
            data={
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
        )
        # Documented as {"data": [{...}]}; answered flat as well.
        if isinstance(body, dict) and isinstance(body.get("data"), list) and body["data"]:
            body = body["data"][0]
        short = self.token_set(body if isinstance(body, dict) else {})
        scopes = self.scope_list(body.get("permissions")) if isinstance(body, dict) else []
        long_lived = self.call(
            "GET",
            self.exchange_url,
            access_token=short.access_token,
            params={
                "grant_type": "ig_exchange_token",
                "client_secret": self.credentials.client_secret,
            },
        )
        return self.long_lived_token_set(long_lived, scopes=scopes)

    def refresh(self, *, refresh_token) -> TokenSet:
        """The long-lived token refreshes itself (it must be 24 hours old and unexpired)."""
        body = self.call(
            "GET",
            self.refresh_url,
            access_token=refresh_token,
            params={"grant_type": "ig_refresh_token"},
        )
        return self.long_lived_token_set(body)

    can_revoke = False

    def revoke(self, *, access_token, refresh_token) -> None:
        """No-op: the Instagram API with Instagram Login has no token revocation endpoint;
        the user removes the app in Instagram's settings (Meta then calls the app's
        deauthorize callback), and the account is deleted on our side anyway."""
        return None

    def fetch_profile(self, *, access_token) -> Profile:
        body = self.call(
            "GET",
            f"{self.api_base}/me",
            access_token=access_token,
            params={"fields": self.profile_fields},
        )
        user_id = _text_field(body, "user_id") or _text_field(body, "id")
        if user_id is None:
            raise ProviderRequestError("instagram profile answer has no user id")
        metadata = {}
        if _text_field(body, "id"):
            metadata["instagram_app_scoped_id"] = str(body["id"])
        return Profile(
            platform_user_id=user_id,
            username=_text_field(body, "username"),
            display_name=_text_field(body, "name"),
            avatar_url=_text_field(body, "profile_picture_url"),
            account_type=(_text_field(body, "account_type") or "").lower(),
            follower_count=_count(body, "followers_count"),
            following_count=_count(body, "follows_count"),
            post_count=_count(body, "media_count"),
            metadata=metadata,
        )

    def _user_id(self, access_token: str) -> str:
        body = self.call(
            "GET", f"{self.api_base}/me", access_token=access_token, params={"fields": "user_id"}
        )
        user_id = _text_field(body, "user_id") or _text_field(body, "id")
        if user_id is None:
            raise ProviderRequestError("instagram profile answer has no user id")
        return user_id

    def _container(self, user_id: str, access_token: str, fields: dict[str, str]) -> str:
        body = self.call(
            "POST", f"{self.api_base}/{user_id}/media", access_token=access_token, data=fields
        )
        container = _text_field(body, "id")
        if container is None:
            raise ProviderRequestError("instagram did not create a media container")
        return container

    def container_status(self, container_id: str, access_token: str) -> tuple[str, str]:
        body = self.call(
            "GET",
            f"{self.api_base}/{container_id}",
            access_token=access_token,
            params={"fields": "status_code,status"},
        )
        return (_text_field(body, "status_code") or "").upper(), _text_field(body, "status") or ""

    def publish(self, *, access_token, text, media_urls, idempotency_key=None) -> PublishResult:
        """An image, a reel (video) or a carousel (2-10 items), captioned with ``text``.
        ``idempotency_key`` is ignored: the container API takes none."""
        require(bool(media_urls), self.platform, "needs at least one image or video to publish")
        require(
            len(media_urls) <= self.carousel_limit,
            self.platform,
            f"takes at most {self.carousel_limit} media in one post",
        )
        require(
            len(text) <= self.caption_limit,
            self.platform,
            f"captions are at most {self.caption_limit} characters",
        )
        user_id = self._user_id(access_token)
        if len(media_urls) == 1:
            url = media_urls[0]
            fields = (
                {"media_type": "REELS", "video_url": url} if is_video(url) else {"image_url": url}
            )
            if text:
                fields["caption"] = text
            container = self._container(user_id, access_token, fields)
        else:
            children = []
            for url in media_urls:
                fields = (
                    {"media_type": "VIDEO", "video_url": url}
                    if is_video(url)
                    else {"image_url": url}
                )
                child = self._container(
                    user_id, access_token, {**fields, "is_carousel_item": "true"}
                )
                if is_video(url):
                    self.wait_until_ready(child, access_token)
                children.append(child)
            fields = {"media_type": "CAROUSEL", "children": ",".join(children)}
            if text:
                fields["caption"] = text
            container = self._container(user_id, access_token, fields)
        self.wait_until_ready(container, access_token)
        body = self.call(
            "POST",
            f"{self.api_base}/{user_id}/media_publish",
            access_token=access_token,
            data={"creation_id": container},
        )
        media_id = _text_field(body, "id")
        if media_id is None:
            raise ProviderRequestError("instagram did not return the published media id")
        return PublishResult(platform_post_id=media_id)


# https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
# https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
# https://developers.facebook.com/docs/pages-api/getting-started
# https://developers.facebook.com/docs/pages-api/posts
# https://developers.facebook.com/docs/graph-api/reference/page/photos
# https://developers.facebook.com/docs/graph-api/reference/user/permissions
class FacebookPageProvider(MetaProvider):
    platform = "facebook_page"
    authorize_url = f"https://www.facebook.com/{GRAPH_API_VERSION}/dialog/oauth"
    token_url = f"https://graph.facebook.com/{GRAPH_API_VERSION}/oauth/access_token"
    api_base = f"https://graph.facebook.com/{GRAPH_API_VERSION}"
    default_scopes = ("pages_show_list", "pages_read_engagement", "pages_manage_posts")
    profile_fields = "id,name,username,category,link,picture{url},followers_count,fan_count"
    separator = "|"

    # --- tokens --------------------------------------------------------------------------

    def exchange_code(self, *, code, redirect_uri, code_verifier) -> TokenSet:
        short = self.call(
            "GET",
            self.token_url,
            params={
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
                "redirect_uri": redirect_uri,
                "code": code,
            },
        )
        short_token = self.token_set(short if isinstance(short, dict) else {}).access_token
        long_lived = self.call(
            "GET",
            self.token_url,
            params={
                "grant_type": "fb_exchange_token",
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
                "fb_exchange_token": short_token,
            },
        )
        user_token = self.token_set(long_lived if isinstance(long_lived, dict) else {})
        page = self._page(user_token.access_token, page_id=None)
        return TokenSet(
            access_token=page["access_token"],
            refresh_token=f"{page['id']}{self.separator}{user_token.access_token}",
            expires_at=None,  # a Page token from a long-lived user token does not expire
            scopes=self._granted(user_token.access_token),
        )

    def _split(self, refresh_token: str) -> tuple[str | None, str]:
        page_id, sep, user_token = refresh_token.partition(self.separator)
        return (page_id, user_token) if sep else (None, refresh_token)

    def _page(self, user_token: str, *, page_id: str | None) -> dict:
        """The granted Page (``page_id``, or the first one the user can post to) with its
        Page access token."""
        body = self.call(
            "GET",
            f"{self.api_base}/me/accounts",
            access_token=user_token,
            params={"fields": "id,name,access_token,tasks", "limit": "100"},
        )
        pages = [
            page
            for page in (body.get("data") if isinstance(body, dict) else None) or []
            if isinstance(page, dict) and page.get("id") and page.get("access_token")
        ]
        if page_id is not None:
            for page in pages:
                if str(page["id"]) == page_id:
                    return {**page, "id": str(page["id"])}
            raise ProviderDefinitiveError(
                "facebook_page: the Page is no longer granted to this app",
                error_code="page_not_granted",
            )
        postable = [p for p in pages if "CREATE_CONTENT" in (p.get("tasks") or ["CREATE_CONTENT"])]
        if not postable:
            raise ProviderRequestError(
                "facebook_page: no Facebook Page was granted (or none the user can post to)"
            )
        return {**postable[0], "id": str(postable[0]["id"])}

    def _granted(self, user_token: str) -> list[str]:
        body = self.call("GET", f"{self.api_base}/me/permissions", access_token=user_token)
        return [
            str(item["permission"])
            for item in (body.get("data") if isinstance(body, dict) else None) or []
            if isinstance(item, dict) and item.get("status") == "granted" and item.get("permission")
        ]

    def refresh(self, *, refresh_token) -> TokenSet:
        """Read the Page's token again with the stored long-lived user token. The Page
        token does not expire, so this is rarely needed; a user token that has expired or
        was revoked answers 190 (definitive)."""
        page_id, user_token = self._split(refresh_token)
        page = self._page(user_token, page_id=page_id)
        return TokenSet(
            access_token=page["access_token"],
            refresh_token=f"{page['id']}{self.separator}{user_token}",
            expires_at=None,
        )

    def revoke(self, *, access_token, refresh_token) -> None:
        """``DELETE /me/permissions`` with the user token: the app's whole grant ends, the
        Page token with it. Without a user token there is nothing to call."""
        _page_id, user_token = self._split(refresh_token or "")
        if not user_token:
            return
        self.call("DELETE", f"{self.api_base}/me/permissions", access_token=user_token)

    # --- profile and publishing --------------------------------------------------------------

    def fetch_profile(self, *, access_token) -> Profile:
        body = self.call(
            "GET",
            f"{self.api_base}/me",
            access_token=access_token,
            params={"fields": self.profile_fields},
        )
        page_id = _text_field(body, "id")
        if page_id is None:
            raise ProviderRequestError("facebook_page profile answer has no Page id")
        picture = body.get("picture")
        avatar = None
        if isinstance(picture, dict):
            data = picture.get("data")
            avatar = _text_field(data, "url") or _text_field(picture, "url")
        metadata = {}
        if _text_field(body, "category"):
            metadata["page_category"] = str(body["category"])
        if _text_field(body, "link"):
            metadata["page_link"] = str(body["link"])
        return Profile(
            platform_user_id=page_id,
            username=_text_field(body, "username"),
            display_name=_text_field(body, "name"),
            avatar_url=avatar,
            account_type="page",
            follower_count=_count(body, "followers_count", "fan_count"),
            metadata=metadata,
        )

    def publish(self, *, access_token, text, media_urls, idempotency_key=None) -> PublishResult:
        """A text post (``/feed``), a photo (``/photos``), several photos (unpublished
        uploads attached to one ``/feed`` post) or one video (``/videos``).
        ``idempotency_key`` is ignored: the Pages API takes none."""
        require(bool(text or media_urls), self.platform, "needs text or media to publish")
        videos = [url for url in media_urls if is_video(url)]
        require(
            not videos or len(media_urls) == 1,
            self.platform,
            "publishes one video alone, not mixed with other media",
        )
        page = self.call(
            "GET", f"{self.api_base}/me", access_token=access_token, params={"fields": "id"}
        )
        page_id = _text_field(page, "id")
        if page_id is None:
            raise ProviderRequestError("facebook_page profile answer has no Page id")
        base = f"{self.api_base}/{page_id}"
        if videos:
            data = {"file_url": videos[0]}
            if text:
                data["description"] = text
            body = self.call("POST", f"{base}/videos", access_token=access_token, data=data)
            return self._result(body)
        if len(media_urls) == 1:
            data = {"url": media_urls[0]}
            if text:
                data["caption"] = text
            body = self.call("POST", f"{base}/photos", access_token=access_token, data=data)
            return self._result(body, prefer="post_id")
        data: dict[str, str] = {}
        if text:
            data["message"] = text
        for index, url in enumerate(media_urls):
            photo = self.call(
                "POST",
                f"{base}/photos",
                access_token=access_token,
                data={"url": url, "published": "false"},
            )
            photo_id = _text_field(photo, "id")
            if photo_id is None:
                raise ProviderRequestError("facebook_page did not return the uploaded photo id")
            data[f"attached_media[{index}]"] = json.dumps({"media_fbid": photo_id})
        body = self.call("POST", f"{base}/feed", access_token=access_token, data=data)
        return self._result(body)

    def _result(self, body: Any, *, prefer: str = "id") -> PublishResult:
        post_id = _text_field(body, prefer) or _text_field(body, "id")
        if post_id is None:
            raise ProviderRequestError("facebook_page did not return the post id")
        return PublishResult(platform_post_id=post_id)


# https://developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions
# https://developers.facebook.com/docs/threads/get-started/long-lived-tokens
# https://developers.facebook.com/docs/threads/threads-profiles
# https://developers.facebook.com/docs/threads/insights
# https://developers.facebook.com/docs/threads/posts
# https://developers.facebook.com/docs/threads/troubleshooting
class ThreadsProvider(MetaProvider):
    platform = "threads"
    # Meta's documentation now shows threads.com; threads.net (and graph.threads.net)
    # keep serving the same flow.
    authorize_url = "https://threads.net/oauth/authorize"
    token_url = "https://graph.threads.net/oauth/access_token"
    exchange_url = "https://graph.threads.net/access_token"
    refresh_url = "https://graph.threads.net/refresh_access_token"
    api_base = f"https://graph.threads.net/{THREADS_API_VERSION}"
    default_scopes = ("threads_basic", "threads_content_publish", "threads_manage_insights")
    profile_fields = "id,username,name,threads_profile_picture_url,threads_biography"
    text_limit = 500
    carousel_limit = 20

    def exchange_code(self, *, code, redirect_uri, code_verifier) -> TokenSet:
        body = self.call(
            "POST",
            self.token_url,
            data={
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
        )
        short = self.token_set(body if isinstance(body, dict) else {})
        long_lived = self.call(
            "GET",
            self.exchange_url,
            access_token=short.access_token,
            params={
                "grant_type": "th_exchange_token",
                "client_secret": self.credentials.client_secret,
            },
        )
        return self.long_lived_token_set(long_lived, scopes=short.scopes or None)

    def refresh(self, *, refresh_token) -> TokenSet:
        """The long-lived token refreshes itself (it must be 24 hours old and unexpired)."""
        body = self.call(
            "GET",
            self.refresh_url,
            access_token=refresh_token,
            params={"grant_type": "th_refresh_token"},
        )
        return self.long_lived_token_set(body)

    can_revoke = False

    def revoke(self, *, access_token, refresh_token) -> None:
        """No-op: the Threads API has no token revocation endpoint (users remove the app in
        Threads' settings, which calls the app's uninstall callback); the account is
        deleted on our side anyway."""
        return None

    def fetch_profile(self, *, access_token) -> Profile:
        body = self.call(
            "GET",
            f"{self.api_base}/me",
            access_token=access_token,
            params={"fields": self.profile_fields},
        )
        user_id = _text_field(body, "id")
        if user_id is None:
            raise ProviderRequestError("threads profile answer has no user id")
        return Profile(
            platform_user_id=user_id,
            username=_text_field(body, "username"),
            display_name=_text_field(body, "name"),
            avatar_url=_text_field(body, "threads_profile_picture_url"),
            follower_count=self._followers(user_id, access_token),
        )

    def _followers(self, user_id: str, access_token: str) -> int:
        """``followers_count`` from the user insights; 0 where they are refused (no
        ``threads_manage_insights``)."""
        try:
            body = self.call(
                "GET",
                f"{self.api_base}/{user_id}/threads_insights",
                access_token=access_token,
                params={"metric": "followers_count"},
            )
        except ProviderRequestError:
            return 0
        for metric in (body.get("data") if isinstance(body, dict) else None) or []:
            if isinstance(metric, dict) and metric.get("name") == "followers_count":
                total = metric.get("total_value")
                if isinstance(total, dict):
                    return _int(total.get("value")) or 0
                values = metric.get("values")
                if isinstance(values, list) and values and isinstance(values[-1], dict):
                    return _int(values[-1].get("value")) or 0
        return 0

    def container_status(self, container_id: str, access_token: str) -> tuple[str, str]:
        body = self.call(
            "GET",
            f"{self.api_base}/{container_id}",
            access_token=access_token,
            params={"fields": "status,error_message"},
        )
        return (_text_field(body, "status") or "").upper(), _text_field(body, "error_message") or ""

    def _container(self, user_id: str, access_token: str, fields: dict[str, str]) -> str:
        body = self.call(
            "POST", f"{self.api_base}/{user_id}/threads", access_token=access_token, data=fields
        )
        container = _text_field(body, "id")
        if container is None:
            raise ProviderRequestError("threads did not create a media container")
        return container

    @staticmethod
    def _media_fields(url: str) -> dict[str, str]:
        if is_video(url):
            return {"media_type": "VIDEO", "video_url": url}
        return {"media_type": "IMAGE", "image_url": url}

    def publish(self, *, access_token, text, media_urls, idempotency_key=None) -> PublishResult:
        """A text post, an image or video, or a carousel (2-20 items), then
        ``threads_publish``. ``idempotency_key`` is ignored: the API takes none."""
        require(bool(text or media_urls), self.platform, "needs text or media to publish")
        require(
            len(text) <= self.text_limit,
            self.platform,
            f"posts are at most {self.text_limit} characters",
        )
        require(
            len(media_urls) <= self.carousel_limit,
            self.platform,
            f"takes at most {self.carousel_limit} media in one post",
        )
        body = self.call(
            "GET", f"{self.api_base}/me", access_token=access_token, params={"fields": "id"}
        )
        user_id = _text_field(body, "id")
        if user_id is None:
            raise ProviderRequestError("threads profile answer has no user id")
        if not media_urls:
            container = self._container(user_id, access_token, {"media_type": "TEXT", "text": text})
        elif len(media_urls) == 1:
            fields = self._media_fields(media_urls[0])
            if text:
                fields["text"] = text
            container = self._container(user_id, access_token, fields)
        else:
            children = self._children(user_id, access_token, media_urls)
            fields = {"media_type": "CAROUSEL", "children": ",".join(children)}
            if text:
                fields["text"] = text
            container = self._container(user_id, access_token, fields)
        if media_urls:
            self.wait_until_ready(container, access_token)
        published = self.call(
            "POST",
            f"{self.api_base}/{user_id}/threads_publish",
            access_token=access_token,
            data={"creation_id": container},
        )
        post_id = _text_field(published, "id")
        if post_id is None:
            raise ProviderRequestError("threads did not return the published post id")
        return PublishResult(platform_post_id=post_id)

    def _children(self, user_id: str, access_token: str, urls: Iterable[str]) -> list[str]:
        children = []
        for url in urls:
            child = self._container(
                user_id, access_token, {**self._media_fields(url), "is_carousel_item": "true"}
            )
            if is_video(url):
                self.wait_until_ready(child, access_token)
            children.append(child)
        return children


__all__ = [
    "GRAPH_API_VERSION",
    "THREADS_API_VERSION",
    "FacebookPageProvider",
    "InstagramProvider",
    "ThreadsProvider",
    "graph_error",
]
