"""Facebook Pages (``facebook_page``, Facebook Login).

The user token is exchanged (``fb_exchange_token``) for a long-lived one (about 60 days),
and the Page and its Page access token are read from ``/me/accounts`` (the first Page the
user granted that lets them create content). A Page token obtained from a long-lived user
token does not expire, so the account's access token is the *Page token* (no expiry) and
the refresh token is ``"<page id>|<long-lived user token>"``: ``refresh()`` reads the
same Page's token again with it, and ``revoke()`` uses the user token for
``DELETE /me/permissions``, which ends the whole grant (Page tokens included).
"""

from __future__ import annotations

import json
from typing import Any

from ..base import (
    Profile,
    ProviderDefinitiveError,
    ProviderRequestError,
    PublishResult,
    TokenSet,
)
from ..media import is_video_url
from ..oauth2 import require
from .graph import GRAPH_API_VERSION, MetaProvider, _count, _text_field


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

    def publish(
        self, *, access_token, text, media_urls, idempotency_key=None, prepared=None
    ) -> PublishResult:
        """A text post (``/feed``), a photo (``/photos``), several photos (unpublished
        uploads attached to one ``/feed`` post) or one video (``/videos``).
        ``idempotency_key`` is ignored: the Pages API takes none."""
        require(bool(text or media_urls), self.platform, "needs text or media to publish")
        videos = [url for url in media_urls if is_video_url(url)]
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
