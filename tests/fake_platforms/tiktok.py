"""A fake of TikTok's OAuth (Login Kit for Web), Display API user info and Content Posting
API (creator info, video and photo Direct Post).

Both TikTok platforms (business and personal) talk to the same TikTok hosts, and one fake
answers a host. So the two fakes share one state (users, codes, grants, posts, calls): the
second one created adopts the first one's. Whichever of them answers, both see every grant
and post, as the single real TikTok would.
"""

from __future__ import annotations

import secrets
import weakref

from .base import Answer, FakePlatform, Grant, Request

SHARED_STATE = (
    "lock",
    "users",
    "codes",
    "grants",
    "by_refresh",
    "published",
    "revoked",
    "calls",
    "injected",
)
FIELD_SCOPES = {
    "open_id": "user.info.basic",
    "union_id": "user.info.basic",
    "avatar_url": "user.info.basic",
    "display_name": "user.info.basic",
    "username": "user.info.profile",
    "is_verified": "user.info.profile",
    "follower_count": "user.info.stats",
    "following_count": "user.info.stats",
    "video_count": "user.info.stats",
}
PRIVACY_LEVELS = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"]

_unpaired: weakref.ref | None = None


def envelope(data: dict | None = None, code: str = "ok", message: str = "", status: int = 200):
    return Answer(
        status,
        {
            "data": data or {},
            "error": {"code": code, "message": message, "log_id": secrets.token_hex(8)},
        },
    )


class TikTokFake(FakePlatform):
    hosts = ("www.tiktok.com", "open.tiktokapis.com")
    client_id_param = "client_key"
    client_auth = "post"
    requires_pkce = False  # Login Kit for Web sends no PKCE
    rotates_refresh_tokens = True
    access_ttl = 86400
    e2e_media_urls = ["https://cdn.example.com/clip.mp4"]

    def __init__(self) -> None:
        global _unpaired
        super().__init__()
        partner = _unpaired() if _unpaired is not None else None
        if partner is not None and type(partner) is not type(self):
            for name in SHARED_STATE:
                setattr(self, name, getattr(partner, name))
            _unpaired = None
        else:
            _unpaired = weakref.ref(self)

    def routes(self):
        return [
            ("GET", "www.tiktok.com", r"/v2/auth/authorize/", self.authorize),
            ("POST", "open.tiktokapis.com", r"/v2/oauth/token/", self.token),
            ("POST", "open.tiktokapis.com", r"/v2/oauth/revoke/", self.tiktok_revoke),
            ("GET", "open.tiktokapis.com", r"/v2/user/info/", self.user_info),
            (
                "POST",
                "open.tiktokapis.com",
                r"/v2/post/publish/creator_info/query/",
                self.creator_info,
            ),
            ("POST", "open.tiktokapis.com", r"/v2/post/publish/video/init/", self.video_init),
            ("POST", "open.tiktokapis.com", r"/v2/post/publish/content/init/", self.content_init),
        ]

    # --- OAuth ---------------------------------------------------------------------------

    def oauth_error(self, error: str, description: str = "", status: int = 400) -> Answer:
        # TikTok's OAuth errors often come with HTTP 200; only client failures are 401.
        return Answer(
            401 if error == "invalid_client" else 200,
            {
                "error": error,
                "error_description": description or error,
                "log_id": secrets.token_hex(8),
            },
        )

    def token_answer(self, grant: Grant) -> Answer:
        return Answer(
            200,
            {
                "access_token": grant.access_token,
                "expires_in": self.access_ttl,
                "open_id": f"open-{grant.user.id}",
                "refresh_expires_in": 31_536_000,
                "refresh_token": grant.refresh_token,
                "scope": ",".join(grant.scopes),
                "token_type": "Bearer",
            },
        )

    def tiktok_revoke(self, request: Request) -> Answer:
        if not self.client_ok(request):
            return self.oauth_error("invalid_client", "client authentication failed")
        if not self.revoke_token(request.params.get("token", "")):
            return self.oauth_error("invalid_request", "token unknown")
        return Answer(200, b"")

    # --- API -----------------------------------------------------------------------------

    def authorized(self, request: Request, scope: str) -> tuple[Grant | None, Answer | None]:
        grant = self.grant_for(request)
        if grant is None:
            return None, envelope(
                code="access_token_invalid",
                message="The access token is invalid or not found in the request.",
                status=401,
            )
        if scope not in grant.scopes:
            return None, envelope(
                code="scope_not_authorized",
                message=f"The user did not authorize the scope required: {scope}",
                status=401,
            )
        return grant, None

    def user_info(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "user.info.basic")
        if refused:
            return refused
        fields = [f for f in request.query.get("fields", "").split(",") if f]
        if not fields or any(f not in FIELD_SCOPES for f in fields):
            return envelope(code="invalid_params", message="fields are invalid", status=400)
        for field in fields:
            if FIELD_SCOPES[field] not in grant.scopes:
                return envelope(
                    code="scope_not_authorized",
                    message=f"The user did not authorize the scope required: {FIELD_SCOPES[field]}",
                    status=401,
                )
        user = grant.user
        values = {
            "open_id": f"open-{user.id}",
            "union_id": f"union-{user.id}",
            "avatar_url": user.avatar_url,
            "display_name": user.name,
            "username": user.handle,
            "is_verified": False,
            "follower_count": user.followers,
            "following_count": user.following,
            "video_count": user.posts,
        }
        return envelope({"user": {field: values[field] for field in fields}})

    def creator_info(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "video.publish")
        if refused:
            return refused
        return envelope(
            {
                "creator_avatar_url": grant.user.avatar_url,
                "creator_username": grant.user.handle,
                "creator_nickname": grant.user.name,
                "privacy_level_options": PRIVACY_LEVELS[:1] + PRIVACY_LEVELS[3:],
                "comment_disabled": False,
                "duet_disabled": False,
                "stitch_disabled": True,
                "max_video_post_duration_sec": 600,
            }
        )

    def _post_info(self, request: Request) -> tuple[dict, dict, Answer | None]:
        body = request.json if isinstance(request.json, dict) else {}
        post_info = body.get("post_info") or {}
        source_info = body.get("source_info") or {}
        if post_info.get("privacy_level") not in PRIVACY_LEVELS[:1] + PRIVACY_LEVELS[3:]:
            return {}, {}, envelope(code="privacy_level_option_mismatch", status=400)
        if source_info.get("source") != "PULL_FROM_URL":
            return {}, {}, envelope(code="invalid_params", message="source", status=400)
        return post_info, source_info, None

    def video_init(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "video.publish")
        if refused:
            return refused
        post_info, source_info, refused = self._post_info(request)
        if refused:
            return refused
        url = source_info.get("video_url") or ""
        if not url.startswith("https://"):
            return envelope(code="invalid_params", message="video_url", status=400)
        if len(post_info.get("title") or "") > 2200:
            return envelope(code="invalid_params", message="title too long", status=400)
        post_id = self.record_post(
            grant,
            text=post_info.get("title", ""),
            media_urls=[url],
            privacy=post_info["privacy_level"],
        )
        publish_id = f"v_pub_url~v2.{post_id}"
        self.published[-1]["publish_id"] = publish_id
        return envelope({"publish_id": publish_id})

    def content_init(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "video.publish")
        if refused:
            return refused
        post_info, source_info, refused = self._post_info(request)
        if refused:
            return refused
        body = request.json
        if body.get("post_mode") != "DIRECT_POST" or body.get("media_type") != "PHOTO":
            return envelope(code="invalid_params", message="post_mode/media_type", status=400)
        images = source_info.get("photo_images") or []
        if not images or len(images) > 35 or not all(str(u).startswith("https://") for u in images):
            return envelope(code="invalid_params", message="photo_images", status=400)
        post_id = self.record_post(
            grant,
            title=post_info.get("title", ""),
            text=post_info.get("description", ""),
            media_urls=list(images),
            privacy=post_info["privacy_level"],
        )
        publish_id = f"p_pub_url~v2.{post_id}"
        self.published[-1]["publish_id"] = publish_id
        return envelope({"publish_id": publish_id})


class TikTokPersonalFake(TikTokFake):
    platform = "tiktok_personal"


class TikTokBusinessFake(TikTokFake):
    platform = "tiktok_business"


FAKES = [TikTokPersonalFake, TikTokBusinessFake]
