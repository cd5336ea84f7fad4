"""Threads (``threads``).

As Instagram, on ``graph.threads.net`` with ``th_exchange_token`` and
``th_refresh_token`` (60-day tokens that refresh themselves, handed back as the refresh
token too). No revocation endpoint exists (only an uninstall callback): ``revoke()`` is a
no-op. The follower count comes from ``threads_insights`` (``threads_manage_insights``);
where that permission was not granted it is 0.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..base import Profile, ProviderRequestError, PublishResult, TokenSet
from ..media import is_video_url
from ..oauth2 import require
from .graph import MetaProvider, _int, _text_field

# The Threads API has its own version line.
THREADS_API_VERSION = "v1.0"


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
        body = self.code_token_answer(
            code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        short = self.token_set(body)
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
        if is_video_url(url):
            return {"media_type": "VIDEO", "video_url": url}
        return {"media_type": "IMAGE", "image_url": url}

    def prepare_publish(self, *, access_token, text, media_urls) -> tuple[str, str]:
        """Check the post and create its container (text, an image or video, or a carousel
        of 2-20 items), waiting until Threads has processed its media: (user id, container
        id). A container publishes nothing until ``threads_publish``."""
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
        return user_id, container

    def publish(
        self, *, access_token, text, media_urls, idempotency_key=None, prepared=None
    ) -> PublishResult:
        """Publish the container ``prepare_publish`` made. ``idempotency_key`` is ignored:
        the API takes none."""
        if prepared is None:
            prepared = self.prepare_publish(
                access_token=access_token, text=text, media_urls=media_urls
            )
        return self.publish_container(access_token, prepared, edge="threads_publish")

    def _children(self, user_id: str, access_token: str, urls: Iterable[str]) -> list[str]:
        children = []
        for url in urls:
            child = self._container(
                user_id, access_token, {**self._media_fields(url), "is_carousel_item": "true"}
            )
            if is_video_url(url):
                self.wait_until_ready(child, access_token)
            children.append(child)
        return children
