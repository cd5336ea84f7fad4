"""A fake of X: OAuth 2.0 with PKCE (confidential client, Basic auth), API v2 users/me,
the v2 media upload (one-shot and chunked) and posts, with X's error shapes."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP

from .base import Answer, FakePlatform, Grant, Request


def problem(status: int, title: str, detail: str, problem_type: str = "about:blank") -> Answer:
    return Answer(
        status,
        {"title": title, "detail": detail, "type": problem_type, "status": status},
        {"Content-Type": "application/problem+json"},
    )


def multipart(request: Request) -> dict[str, bytes]:
    """The fields of a multipart/form-data body, by name."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = part.get_payload(decode=True) or b""
    return fields


class XFake(FakePlatform):
    platform = "x"
    hosts = ("x.com", "twitter.com", "api.x.com")
    client_auth = "basic"
    requires_pkce = True
    rotates_refresh_tokens = True
    access_ttl = 7200
    e2e_media_urls = ["https://cdn.example.com/x/photo.jpg"]

    def __init__(self) -> None:
        super().__init__()
        self.media: dict[str, dict] = {}

    def routes(self):
        api = "api.x.com"
        return [
            ("GET", "x.com", r"/i/oauth2/authorize", self.authorize),
            ("GET", "twitter.com", r"/i/oauth2/authorize", self.authorize),
            ("POST", api, r"/2/oauth2/token", self.token),
            ("POST", api, r"/2/oauth2/revoke", self.revoke),
            ("GET", api, r"/2/users/me", self.me),
            ("POST", api, r"/2/media/upload", self.upload),
            ("GET", api, r"/2/media/upload", self.upload_status),
            ("POST", api, r"/2/media/upload/initialize", self.upload_initialize),
            ("POST", api, r"/2/media/upload/(?P<media_id>\d+)/append", self.upload_append),
            ("POST", api, r"/2/media/upload/(?P<media_id>\d+)/finalize", self.upload_finalize),
            ("POST", api, r"/2/tweets", self.tweet),
        ]

    # --- OAuth, with X's own answers ---------------------------------------------------

    def client_refused(self) -> Answer:
        return self.oauth_error("unauthorized_client", "Missing valid authorization header", 401)

    def token(self, request: Request) -> Answer:
        if not self.client_ok(request):
            return self.oauth_error(
                "unauthorized_client", "Missing valid authorization header", 401
            )
        answer = super().token(request)
        if answer.status == 400 and answer.body.get("error") == "invalid_grant":
            # X's words for an unknown, used or revoked code or refresh token.
            return self.oauth_error("invalid_request", "Value passed for the token was invalid.")
        return answer

    def revoke(self, request: Request) -> Answer:
        if not self.client_ok(request):
            return self.oauth_error(
                "unauthorized_client", "Missing valid authorization header", 401
            )
        self.revoke_token(request.params.get("token", ""))
        return Answer(200, {"revoked": True})

    def authorized(self, request: Request, *scopes: str) -> tuple[Grant | None, Answer | None]:
        grant = self.grant_for(request)
        if grant is None:
            return None, problem(401, "Unauthorized", "Unauthorized")
        missing = [scope for scope in scopes if scope not in grant.scopes]
        if missing:
            return None, problem(
                403,
                "Forbidden",
                f"Missing scopes: {', '.join(missing)}",
                "https://api.twitter.com/2/problems/oauth2-scope-missing",
            )
        return grant, None

    # --- API -----------------------------------------------------------------------------

    def me(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "users.read")
        if grant is None:
            return refused
        user = grant.user
        return Answer(
            200,
            {
                "data": {
                    "id": user.id,
                    "name": user.name,
                    "username": user.handle,
                    "profile_image_url": user.avatar_url,
                    "verified": False,
                    "public_metrics": {
                        "followers_count": user.followers,
                        "following_count": user.following,
                        "tweet_count": user.posts,
                        "listed_count": 0,
                    },
                }
            },
        )

    def new_media(self, grant: Grant, **facts) -> str:
        media_id = str(1_880_000_000_000_000_000 + len(self.media))
        self.media[media_id] = {"user": grant.user.handle, "chunks": {}, **facts}
        return media_id

    def media_answer(self, media_id: str, **extra) -> Answer:
        return Answer(
            200,
            {
                "data": {
                    "id": media_id,
                    "media_key": f"3_{media_id}",
                    "expires_after_secs": 86400,
                    **extra,
                }
            },
        )

    def upload(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "media.write")
        if grant is None:
            return refused
        fields = multipart(request)
        if not fields.get("media"):
            return problem(400, "Invalid Request", "media is required")
        category = fields.get("media_category", b"").decode()
        if category not in ("tweet_image", "dm_image", "subtitles"):
            return problem(400, "Invalid Request", "media_category is invalid")
        media_id = self.new_media(grant, category=category, data=fields["media"], state="succeeded")
        return self.media_answer(media_id, size=len(fields["media"]))

    def upload_initialize(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "media.write")
        if grant is None:
            return refused
        body = request.json or {}
        if not body.get("media_type") or not body.get("total_bytes"):
            return problem(400, "Invalid Request", "media_type and total_bytes are required")
        media_id = self.new_media(
            grant,
            category=body.get("media_category", ""),
            total=int(body["total_bytes"]),
            state="uploading",
        )
        return self.media_answer(media_id)

    def owned_media(self, request: Request, media_id: str) -> tuple[dict | None, Answer | None]:
        grant, refused = self.authorized(request, "media.write")
        if grant is None:
            return None, refused
        media = self.media.get(media_id)
        if media is None or media["user"] != grant.user.handle:
            return None, problem(400, "Invalid Request", "media_id is unknown")
        return media, None

    def upload_append(self, request: Request, media_id: str) -> Answer:
        media, refused = self.owned_media(request, media_id)
        if media is None:
            return refused
        fields = multipart(request)
        if "segment_index" not in fields or not fields.get("media"):
            return problem(400, "Invalid Request", "segment_index and media are required")
        media["chunks"][int(fields["segment_index"])] = fields["media"]
        return Answer(200, {"meta": {}})

    def upload_finalize(self, request: Request, media_id: str) -> Answer:
        media, refused = self.owned_media(request, media_id)
        if media is None:
            return refused
        data = b"".join(media["chunks"][index] for index in sorted(media["chunks"]))
        if len(data) != media.get("total"):
            return problem(400, "Invalid Request", "segments do not add up to total_bytes")
        media.update(data=data, state="pending")
        return self.media_answer(
            media_id, size=len(data), processing_info={"state": "pending", "check_after_secs": 0}
        )

    def upload_status(self, request: Request) -> Answer:
        media, refused = self.owned_media(request, request.query.get("media_id", ""))
        if media is None:
            return refused
        if request.query.get("command") != "STATUS":
            return problem(400, "Invalid Request", "command must be STATUS")
        media["state"] = "succeeded"  # processed by the time anyone asks
        media_id = request.query["media_id"]
        return self.media_answer(
            media_id, processing_info={"state": "succeeded", "progress_percent": 100}
        )

    def tweet(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "tweet.write", "tweet.read", "users.read")
        if grant is None:
            return refused
        body = request.json
        if not isinstance(body, dict):
            return problem(400, "Invalid Request", "body must be JSON")
        text = body.get("text", "")
        media_ids = (body.get("media") or {}).get("media_ids") or []
        if not text and not media_ids:
            return problem(400, "Invalid Request", "text or media is required")
        if len(text) > 280:
            return problem(400, "Invalid Request", "text is too long")
        for media_id in media_ids:
            media = self.media.get(media_id)
            if media is None or media["user"] != grant.user.handle:
                return problem(400, "Invalid Request", "Your media IDs are invalid.")
            if media["state"] != "succeeded":
                return problem(400, "Invalid Request", "Your media is not processed yet.")
        if text and any(
            post["user"] == grant.user.handle and post["text"] == text for post in self.published
        ):
            return problem(
                403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
            )
        post_id = self.record_post(grant, text=text, media_ids=list(media_ids))
        return Answer(201, {"data": {"id": post_id, "text": text, "edit_history_tweet_ids": []}})


FAKES = [XFake]
