"""A fake of Pinterest's OAuth and API v5 (user account, boards, Pins)."""

from __future__ import annotations

from .base import Answer, FakePlatform, Grant, Request

# Pinterest's error codes for OAuth failures, by the RFC 6749 name the base fake uses.
ERROR_CODES = {"invalid_grant": 283, "invalid_client": 2}


class PinterestFake(FakePlatform):
    platform = "pinterest"
    hosts = ("www.pinterest.com", "api.pinterest.com")
    client_auth = "basic"
    requires_pkce = False
    rotates_refresh_tokens = True  # continuous refresh: each refresh renews the refresh token
    access_ttl = 30 * 24 * 3600
    e2e_media_urls = ["https://cdn.example.com/photo.jpg"]

    def routes(self):
        return [
            ("GET", "www.pinterest.com", r"/oauth/", self.authorize),
            ("POST", "api.pinterest.com", r"/v5/oauth/token", self.token),
            ("GET", "api.pinterest.com", r"/v5/user_account", self.user_account),
            ("GET", "api.pinterest.com", r"/v5/boards", self.boards),
            ("POST", "api.pinterest.com", r"/v5/pins", self.create_pin),
        ]

    def oauth_error(self, error: str, description: str = "", status: int = 400) -> Answer:
        return Answer(status, {"code": ERROR_CODES.get(error, 1), "message": description or error})

    def token_answer(self, grant: Grant) -> Answer:
        answer = super().token_answer(grant)
        answer.body.update(response_type="refresh_token", refresh_token_expires_in=60 * 24 * 3600)
        return answer

    def authorized(self, request: Request, scope: str) -> tuple[Grant | None, Answer | None]:
        grant = self.grant_for(request)
        if grant is None:
            return None, Answer(401, {"code": 2, "message": "Authentication failed."})
        if scope not in grant.scopes:
            return None, Answer(
                403, {"code": 29, "message": "You are not permitted to access that resource."}
            )
        return grant, None

    def board_id(self, grant: Grant) -> str:
        return f"b{grant.user.id}"

    def user_account(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "user_accounts:read")
        if refused:
            return refused
        user = grant.user
        return Answer(
            200,
            {
                "account_type": "BUSINESS",
                "id": user.id,
                "username": user.handle,
                "business_name": user.name,
                "profile_image": user.avatar_url,
                "website_url": "",
                "board_count": 1,
                "pin_count": user.posts,
                "follower_count": user.followers,
                "following_count": user.following,
                "monthly_views": 0,
            },
        )

    def boards(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "boards:read")
        if refused:
            return refused
        board = {"id": self.board_id(grant), "name": "Ideas", "privacy": "PUBLIC"}
        return Answer(200, {"items": [board], "bookmark": None})

    def create_pin(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "pins:write")
        if refused:
            return refused
        pin = request.json or {}
        if pin.get("board_id") != self.board_id(grant):
            return Answer(404, {"code": 40, "message": "Board not found."})
        source = pin.get("media_source") or {}
        if source.get("source_type") == "image_url":
            urls = [source.get("url")]
        elif source.get("source_type") == "multiple_image_urls":
            urls = [item.get("url") for item in source.get("items") or []]
        else:
            return Answer(400, {"code": 1, "message": "media_source is required"})
        if not urls or not all(isinstance(url, str) and url.startswith("https://") for url in urls):
            return Answer(400, {"code": 1, "message": "Invalid image URL"})
        if len(pin.get("title") or "") > 100 or len(pin.get("description") or "") > 800:
            return Answer(400, {"code": 1, "message": "title or description too long"})
        pin_id = self.record_post(
            grant,
            board_id=pin["board_id"],
            title=pin.get("title", ""),
            text=pin.get("description", ""),
            media_urls=urls,
        )
        return Answer(
            201,
            {
                "id": pin_id,
                "board_id": pin["board_id"],
                "title": pin.get("title"),
                "description": pin.get("description"),
                "media": {"media_type": "image"},
            },
        )


FAKES = [PinterestFake]
