"""Instagram (``instagram``, the Instagram API with Instagram Login, for professional
accounts).

The short-lived token from ``api.instagram.com/oauth/access_token`` is exchanged
(``ig_exchange_token``) for a 60-day token, which refreshes *itself*
(``ig_refresh_token``, once it is at least 24 hours old): there is no separate refresh
token, so the long-lived access token is handed back as ``TokenSet.refresh_token`` too.
There is no revocation endpoint for these tokens (the user removes the app in Instagram's
settings): ``revoke()`` is a no-op. Publishing needs media: a container per image/video
(a carousel for several), then ``media_publish``.
"""

from __future__ import annotations

from ..base import Profile, ProviderRequestError, PublishResult, TokenSet
from ..media import is_video_url
from ..oauth2 import require
from .graph import GRAPH_API_VERSION, MetaProvider, _count, _text_field


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
        body = self.code_token_answer(
            code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
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

    def prepare_publish(self, *, access_token, text, media_urls) -> tuple[str, str]:
        """Check the post, create its media container (an image, a reel or a carousel of
        2-10 items, captioned with ``text``) and wait until Instagram has processed it:
        (user id, container id). A container publishes nothing until ``media_publish``."""
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
                {"media_type": "REELS", "video_url": url}
                if is_video_url(url)
                else {"image_url": url}
            )
            if text:
                fields["caption"] = text
            container = self._container(user_id, access_token, fields)
        else:
            children = []
            for url in media_urls:
                fields = (
                    {"media_type": "VIDEO", "video_url": url}
                    if is_video_url(url)
                    else {"image_url": url}
                )
                child = self._container(
                    user_id, access_token, {**fields, "is_carousel_item": "true"}
                )
                if is_video_url(url):
                    self.wait_until_ready(child, access_token)
                children.append(child)
            fields = {"media_type": "CAROUSEL", "children": ",".join(children)}
            if text:
                fields["caption"] = text
            container = self._container(user_id, access_token, fields)
        self.wait_until_ready(container, access_token)
        return user_id, container

    def publish(
        self, *, access_token, text, media_urls, idempotency_key=None, prepared=None
    ) -> PublishResult:
        """Publish the container ``prepare_publish`` made. ``idempotency_key`` is ignored:
        the container API takes none."""
        if prepared is None:
            prepared = self.prepare_publish(
                access_token=access_token, text=text, media_urls=media_urls
            )
        return self.publish_container(access_token, prepared, edge="media_publish")
