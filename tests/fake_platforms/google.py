"""A fake of Google's OAuth 2 and the YouTube Data API v3 (channels, resumable uploads)."""

from __future__ import annotations

import secrets

from .base import Answer, FakePlatform, Request

UPLOAD_SCOPE = "https://www.googleapis.com/auth/youtube.upload"
READ_SCOPE = "https://www.googleapis.com/auth/youtube.readonly"


def google_error(status: int, reason: str, message: str) -> Answer:
    labels = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 400: "INVALID_ARGUMENT"}
    return Answer(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "youtube", "reason": reason}],
                "status": labels.get(status, "UNKNOWN"),
            }
        },
    )


class YouTubeFake(FakePlatform):
    platform = "youtube"
    hosts = ("accounts.google.com", "oauth2.googleapis.com", "www.googleapis.com")
    client_auth = "post"
    requires_pkce = True
    rotates_refresh_tokens = False  # Google keeps the refresh token
    access_ttl = 3599
    e2e_media_urls = ["https://cdn.example.com/clip.mp4"]

    def __init__(self) -> None:
        super().__init__()
        self.uploads: dict[str, dict] = {}  # upload_id -> session

    def routes(self):
        return [
            ("GET", "accounts.google.com", r"/o/oauth2/v2/auth", self.google_authorize),
            ("POST", "oauth2.googleapis.com", r"/token", self.google_token),
            ("POST", "oauth2.googleapis.com", r"/revoke", self.google_revoke),
            ("GET", "www.googleapis.com", r"/youtube/v3/channels", self.channels),
            ("POST", "www.googleapis.com", r"/upload/youtube/v3/videos", self.upload_start),
            ("PUT", "www.googleapis.com", r"/upload/youtube/v3/videos", self.upload_bytes),
        ]

    # --- OAuth ---------------------------------------------------------------------------

    def google_authorize(self, request: Request) -> Answer:
        if request.query.get("access_type") != "offline":
            return Answer(400, "a refresh token needs access_type=offline")
        return self.authorize(request)

    def google_token(self, request: Request) -> Answer:
        answer = self.token(request)
        if request.params.get("grant_type") == "refresh_token" and isinstance(answer.body, dict):
            answer.body.pop("refresh_token", None)  # a refresh answers an access token only
        return answer

    def google_revoke(self, request: Request) -> Answer:
        if not self.revoke_token(request.params.get("token", "")):
            return self.oauth_error("invalid_token", "Token expired or revoked")
        return Answer(200, {})

    # --- API -----------------------------------------------------------------------------

    def channels(self, request: Request) -> Answer:
        grant = self.grant_for(request)
        if grant is None:
            return google_error(401, "authError", "Request had invalid authentication credentials.")
        if request.query.get("mine") != "true" or "snippet" not in request.query.get("part", ""):
            return google_error(400, "missingRequiredParameter", "part and mine are required")
        user = grant.user
        return Answer(
            200,
            {
                "kind": "youtube#channelListResponse",
                "items": [
                    {
                        "kind": "youtube#channel",
                        "id": f"UC{user.id}",
                        "snippet": {
                            "title": user.name,
                            "customUrl": f"@{user.handle}",
                            "thumbnails": {
                                "default": {"url": user.avatar_url},
                                "high": {"url": user.avatar_url},
                            },
                        },
                        "statistics": {
                            "subscriberCount": str(user.followers),
                            "hiddenSubscriberCount": False,
                            "videoCount": str(user.posts),
                        },
                    }
                ],
            },
        )

    def upload_start(self, request: Request) -> Answer:
        grant = self.grant_for(request)
        if grant is None:
            return google_error(401, "authError", "Request had invalid authentication credentials.")
        if UPLOAD_SCOPE not in grant.scopes:
            return google_error(403, "insufficientPermissions", "Insufficient Permission")
        if request.query.get("uploadType") != "resumable":
            return google_error(400, "invalidParameter", "uploadType must be resumable")
        metadata = request.json or {}
        title = ((metadata.get("snippet") or {}).get("title") or "").strip()
        if not title or len(title) > 100 or "<" in title or ">" in title:
            return google_error(400, "invalidTitle", "The video title is invalid.")
        length = request.headers.get("x-upload-content-length", "")
        if not length.isdigit():
            return google_error(400, "invalidParameter", "X-Upload-Content-Length is required")
        upload_id = secrets.token_urlsafe(12)
        self.uploads[upload_id] = {"grant": grant, "metadata": metadata, "length": int(length)}
        location = (
            "https://www.googleapis.com/upload/youtube/v3/videos"
            f"?uploadType=resumable&part=snippet,status&upload_id={upload_id}"
        )
        return Answer(200, b"", {"Location": location})

    def upload_bytes(self, request: Request) -> Answer:
        session = self.uploads.get(request.query.get("upload_id", ""))
        if session is None:
            return google_error(404, "notFound", "No such upload session")
        if len(request.body) != session["length"]:
            return google_error(400, "badContent", "The uploaded length differs")
        del self.uploads[request.query["upload_id"]]
        snippet = session["metadata"].get("snippet") or {}
        status = session["metadata"].get("status") or {}
        video_id = "yt" + self.record_post(
            session["grant"],
            title=snippet.get("title"),
            text=snippet.get("description", ""),
            privacy=status.get("privacyStatus"),
            media_bytes=len(request.body),
            content_type=request.headers.get("content-type", ""),
        )
        self.published[-1]["video_id"] = video_id
        return Answer(
            200,
            {
                "kind": "youtube#video",
                "id": video_id,
                "snippet": snippet,
                "status": {"uploadStatus": "uploaded", **status},
            },
        )


FAKES = [YouTubeFake]
