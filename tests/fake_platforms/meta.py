"""Fakes of Meta's platforms: Instagram (Instagram Login), Facebook Pages and Threads.

They answer as the Graph API does: tokens travel as the ``access_token`` parameter, a
short-lived token from the code exchange is traded for a long-lived one (which refreshes
itself on Instagram and Threads), errors are ``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}`` with code 190 for a dead token, and publishing goes
through media containers (Instagram, Threads) or the Page's edges (Facebook).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from .base import Answer, FakePlatform, FakeUser, Grant, Request

VERSION = r"/v\d+\.\d+"


class GraphFake(FakePlatform):
    """The Graph API conventions the three fakes share."""

    requires_pkce = False
    rotates_refresh_tokens = False
    access_ttl = 3600
    long_ttl = 5_184_000
    e2e_media_urls: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        self.long_lived: set[str] = set()

    # --- the Graph conventions ---------------------------------------------------------

    def graph_error(
        self, code: int, message: str, status: int = 400, subcode: int | None = None
    ) -> Answer:
        error = {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "A" + secrets.token_hex(5),
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        return Answer(status, {"error": error})

    def dead_token(self) -> Answer:
        return self.graph_error(190, "Invalid OAuth access token - Cannot parse access token")

    @staticmethod
    def token_of(request: Request) -> str:
        return request.params.get("access_token") or request.bearer() or ""

    def grant_of(self, request: Request) -> Grant | None:
        grant = self.grants.get(self.token_of(request))
        return None if grant is None or grant.revoked else grant

    def code_grant(self, request: Request) -> Grant | Answer:
        """The authorization-code exchange: client, code and redirect URI checked."""
        params = request.params
        if not self.client_ok(request):
            return self.graph_error(101, "Error validating client secret.", 400)
        issued = self.codes.pop(params.get("code", ""), None)
        if issued is None:
            return self.graph_error(100, "This authorization code has been used.", 400, 36009)
        if params.get("redirect_uri") != issued["redirect_uri"]:
            return self.graph_error(100, "Error validating verification code.", 400, 36008)
        return self.new_grant(issued["user"], issued["scopes"])

    def make_long_lived(self, grant: Grant) -> Answer:
        """Trade the grant's token for a long-lived one (the old one stops working)."""
        self.rotate(grant)
        self.long_lived.add(grant.access_token)
        return Answer(
            200,
            {
                "access_token": grant.access_token,
                "token_type": "bearer",
                "expires_in": self.long_ttl,
            },
        )

    def exchange_long_lived(self, request: Request, grant_type: str) -> Answer:
        params = request.params
        if params.get("grant_type") != grant_type:
            return self.graph_error(100, "Unsupported grant_type")
        if params.get("client_secret") != self.client_secret:
            return self.graph_error(101, "Error validating client secret.")
        grant = self.grant_of(request)
        if grant is None:
            return self.dead_token()
        return self.make_long_lived(grant)

    def refresh_long_lived(self, request: Request, grant_type: str) -> Answer:
        if request.params.get("grant_type") != grant_type:
            return self.graph_error(100, "Unsupported grant_type")
        grant = self.grant_of(request)
        if grant is None or grant.access_token not in self.long_lived:
            return self.dead_token()
        self.long_lived.discard(grant.access_token)
        return self.make_long_lived(grant)

    @staticmethod
    def pick(fields: str, values: dict) -> dict:
        wanted = [f.split("{")[0] for f in fields.split(",") if f] or list(values)
        return {name: values[name] for name in wanted if name in values}


@dataclass
class Container:
    id: str
    user: FakeUser
    fields: dict[str, str]
    children: list[str] = field(default_factory=list)
    checks: int = 0
    published: bool = False


class ContainerFake(GraphFake):
    """Instagram and Threads: media containers, then a publish step."""

    publish_scope: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.containers: dict[str, Container] = {}

    def user_grant(self, request: Request, user_id: str) -> Grant | Answer:
        grant = self.grant_of(request)
        if grant is None:
            return self.dead_token()
        if grant.user.id != user_id:
            return self.graph_error(100, "Unsupported post request: object does not exist", 400, 33)
        return grant

    def new_container(self, grant: Grant, fields: dict[str, str]) -> Answer:
        container = Container(id=str(17_000_000 + len(self.containers)), user=grant.user, fields={})
        container.fields = fields
        self.containers[container.id] = container
        return Answer(200, {"id": container.id})

    def carousel_children(self, grant: Grant, children: str) -> list[str] | None:
        ids = [c for c in children.split(",") if c]
        for child in ids:
            container = self.containers.get(child)
            if (
                container is None
                or container.user is not grant.user
                or container.fields.get("is_carousel_item") != "true"
            ):
                return None
        return ids

    def container_state(self, container: Container) -> str:
        """Videos are processed: the first look finds them in progress."""
        container.checks += 1
        if container.published:
            return "PUBLISHED"
        is_video = "video_url" in container.fields
        return "IN_PROGRESS" if is_video and container.checks == 1 else "FINISHED"

    def publish_container(self, request: Request, user_id: str) -> Answer:
        grant = self.user_grant(request, user_id)
        if isinstance(grant, Answer):
            return grant
        if self.publish_scope not in grant.scopes:
            return self.graph_error(10, "Application does not have permission for this action")
        container = self.containers.get(request.params.get("creation_id", ""))
        if container is None or container.user is not grant.user:
            return self.graph_error(100, "Invalid parameter", 400, 2207008)
        if container.published or container.fields.get("is_carousel_item") == "true":
            return self.graph_error(100, "Invalid parameter", 400, 2207008)
        container.published = True
        children = [self.containers[c].fields for c in container.children]
        post_id = self.record_post(grant, container=container.id, **container.fields)
        if children:
            self.published[-1]["children"] = children
        return Answer(200, {"id": post_id})


class InstagramFake(ContainerFake):
    platform = "instagram"
    hosts = ("www.instagram.com", "api.instagram.com", "graph.instagram.com")
    publish_scope = "instagram_business_content_publish"
    e2e_media_urls = ["https://cdn.example.com/photo.jpg"]

    def routes(self):
        graph = "graph.instagram.com"
        return [
            ("GET", "www.instagram.com", r"/oauth/authorize/?", self.authorize),
            ("POST", "api.instagram.com", r"/oauth/access_token", self.token),
            ("GET", graph, r"/access_token", self.exchange),
            ("GET", graph, r"/refresh_access_token", self.refresh),
            ("GET", graph, VERSION + r"/me", self.me),
            ("POST", graph, VERSION + r"/(?P<user_id>\d+)/media", self.media),
            ("POST", graph, VERSION + r"/(?P<user_id>\d+)/media_publish", self.media_publish),
            ("GET", graph, VERSION + r"/(?P<container_id>\d+)", self.container),
        ]

    def token(self, request: Request) -> Answer:
        if request.params.get("grant_type") != "authorization_code":
            return Answer(
                400,
                {
                    "error_type": "OAuthException",
                    "code": 400,
                    "error_message": "Invalid grant_type",
                },
            )
        grant = self.code_grant(request)
        if isinstance(grant, Answer):
            return grant
        return Answer(
            200,
            {
                "data": [
                    {
                        "access_token": grant.access_token,
                        "user_id": int(grant.user.id),
                        "permissions": ",".join(grant.scopes),
                    }
                ]
            },
        )

    def exchange(self, request: Request) -> Answer:
        return self.exchange_long_lived(request, "ig_exchange_token")

    def refresh(self, request: Request) -> Answer:
        return self.refresh_long_lived(request, "ig_refresh_token")

    def me(self, request: Request) -> Answer:
        grant = self.grant_of(request)
        if grant is None:
            return self.dead_token()
        user = grant.user
        values = {
            "id": "app-" + user.id,
            "user_id": user.id,
            "username": user.handle,
            "name": user.name,
            "account_type": "BUSINESS",
            "profile_picture_url": user.avatar_url,
            "followers_count": user.followers,
            "follows_count": user.following,
            "media_count": user.posts
            + len([p for p in self.published if p["user"] == user.handle]),
        }
        return Answer(200, self.pick(request.params.get("fields", "id"), values))

    def media(self, request: Request, user_id: str) -> Answer:
        grant = self.user_grant(request, user_id)
        if isinstance(grant, Answer):
            return grant
        if self.publish_scope not in grant.scopes:
            return self.graph_error(10, "Application does not have permission for this action")
        params = request.params
        fields = {
            k: v
            for k, v in params.items()
            if k in ("image_url", "video_url", "media_type", "caption", "is_carousel_item")
        }
        media_type = params.get("media_type", "")
        if media_type == "CAROUSEL":
            children = self.carousel_children(grant, params.get("children", ""))
            if not children or len(children) < 2:
                return self.graph_error(100, "Invalid parameter: children", 400, 2207004)
            answer = self.new_container(grant, fields)
            self.containers[answer.body["id"]].children = children
            return answer
        if media_type in ("REELS", "VIDEO"):
            url = params.get("video_url", "")
        elif media_type in ("", "IMAGE"):
            url = params.get("image_url", "")
        else:
            return self.graph_error(100, "Invalid parameter: media_type")
        if not url.startswith("https://"):
            return self.graph_error(
                9004, "Only photo or video can be accepted as media type.", 400, 2207052
            )
        return self.new_container(grant, fields)

    def container(self, request: Request, container_id: str) -> Answer:
        grant = self.grant_of(request)
        if grant is None:
            return self.dead_token()
        container = self.containers.get(container_id)
        if container is None or container.user is not grant.user:
            return self.graph_error(100, "Unsupported get request", 400, 33)
        return Answer(200, {"id": container.id, "status_code": self.container_state(container)})

    def media_publish(self, request: Request, user_id: str) -> Answer:
        return self.publish_container(request, user_id)


@dataclass
class FakePage:
    id: str
    owner: FakeUser
    name: str
    username: str
    followers: int


class FacebookPageFake(GraphFake):
    platform = "facebook_page"
    hosts = ("www.facebook.com", "graph.facebook.com")
    e2e_media_urls: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        self.page_tokens: dict[str, Grant] = {}
        self.unpublished_photos: dict[str, dict] = {}

    def page_of(self, user: FakeUser) -> FakePage:
        return FakePage(
            id="5" + user.id,
            owner=user,
            name=f"{user.name} Page",
            username=user.handle,
            followers=user.followers,
        )

    def routes(self):
        graph = "graph.facebook.com"
        return [
            ("GET", "www.facebook.com", VERSION + r"/dialog/oauth/?", self.authorize),
            ("GET", graph, VERSION + r"/oauth/access_token", self.token),
            ("GET", graph, VERSION + r"/me/accounts", self.accounts),
            ("GET", graph, VERSION + r"/me/permissions", self.permissions),
            ("DELETE", graph, VERSION + r"/me/permissions", self.revoke_permissions),
            ("GET", graph, VERSION + r"/me", self.me),
            ("POST", graph, VERSION + r"/(?P<page_id>\d+)/feed", self.feed),
            ("POST", graph, VERSION + r"/(?P<page_id>\d+)/photos", self.photos),
            ("POST", graph, VERSION + r"/(?P<page_id>\d+)/videos", self.videos),
        ]

    def token(self, request: Request) -> Answer:
        params = request.params
        if params.get("grant_type") == "fb_exchange_token":
            if not self.client_ok(request):
                return self.graph_error(101, "Error validating client secret.")
            grant = self.grants.get(params.get("fb_exchange_token", ""))
            if grant is None or grant.revoked:
                return self.dead_token()
            return self.make_long_lived(grant)
        grant = self.code_grant(request)
        if isinstance(grant, Answer):
            return grant
        return Answer(
            200,
            {"access_token": grant.access_token, "token_type": "bearer", "expires_in": 5183},
        )

    def user_token_grant(self, request: Request) -> Grant | None:
        grant = self.grant_of(request)
        return grant if grant is not None and grant.access_token in self.long_lived else None

    def page_grant(self, request: Request) -> tuple[Grant, FakePage] | None:
        grant = self.page_tokens.get(self.token_of(request))
        if grant is None or grant.revoked:
            return None
        return grant, self.page_of(grant.user)

    def accounts(self, request: Request) -> Answer:
        grant = self.user_token_grant(request)
        if grant is None:
            return self.dead_token()
        if "pages_show_list" not in grant.scopes:
            return Answer(200, {"data": []})
        page = self.page_of(grant.user)
        token = "pt-" + secrets.token_urlsafe(18)
        self.page_tokens[token] = grant
        entry = {
            "id": page.id,
            "name": page.name,
            "access_token": token,
            "category": "Creator",
            "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"],
        }
        fields = request.params.get("fields", "")
        if fields:
            entry = self.pick(fields, entry)
        return Answer(200, {"data": [entry], "paging": {}})

    def permissions(self, request: Request) -> Answer:
        grant = self.user_token_grant(request)
        if grant is None:
            return self.dead_token()
        data = [{"permission": scope, "status": "granted"} for scope in grant.scopes]
        return Answer(200, {"data": data})

    def revoke_permissions(self, request: Request) -> Answer:
        grant = self.user_token_grant(request)
        if grant is None:
            return self.dead_token()
        # The app's whole grant ends: the user token and every Page token from it.
        self.revoke_token(grant.access_token)
        self.revoked.extend(t for t, g in self.page_tokens.items() if g is grant)
        return Answer(200, {"success": True})

    def me(self, request: Request) -> Answer:
        found = self.page_grant(request)
        if found is not None:
            _grant, page = found
            values = {
                "id": page.id,
                "name": page.name,
                "username": page.username,
                "category": "Creator",
                "link": f"https://www.facebook.com/{page.username}",
                "picture": {"data": {"url": page.owner.avatar_url, "is_silhouette": False}},
                "followers_count": page.followers,
                "fan_count": page.followers,
            }
            return Answer(200, self.pick(request.params.get("fields", "id,name"), values))
        grant = self.grant_of(request)
        if grant is None:
            return self.dead_token()
        return Answer(200, {"id": "u" + grant.user.id, "name": grant.user.name})

    def page_request(self, request: Request, page_id: str) -> Grant | Answer:
        found = self.page_grant(request)
        if found is None:
            if self.grant_of(request) is not None:  # a user token, not the Page's
                return self.graph_error(200, "Requires a Page access token", 403)
            return self.dead_token()
        grant, page = found
        if page.id != page_id:
            return self.graph_error(100, "Unsupported post request", 400, 33)
        if "pages_manage_posts" not in grant.scopes:
            return self.graph_error(200, "Requires pages_manage_posts permission", 403)
        return grant

    def feed(self, request: Request, page_id: str) -> Answer:
        grant = self.page_request(request, page_id)
        if isinstance(grant, Answer):
            return grant
        params = request.params
        attached = []
        for key in sorted(k for k in params if k.startswith("attached_media[")):
            fbid = json.loads(params[key]).get("media_fbid", "")
            photo = self.unpublished_photos.pop(fbid, None)
            if photo is None:
                return self.graph_error(100, "Invalid attached_media")
            attached.append(photo["url"])
        if not params.get("message") and not params.get("link") and not attached:
            return self.graph_error(100, "Missing message or attachment")
        post_id = self.record_post(
            grant, page=page_id, message=params.get("message", ""), media=attached
        )
        self.published[-1]["post_id"] = f"{page_id}_{post_id}"
        return Answer(200, {"id": f"{page_id}_{post_id}"})

    def photos(self, request: Request, page_id: str) -> Answer:
        grant = self.page_request(request, page_id)
        if isinstance(grant, Answer):
            return grant
        params = request.params
        url = params.get("url", "")
        if not url.startswith("https://"):
            return self.graph_error(324, "Requires upload file")
        photo_id = str(31_000_000 + len(self.unpublished_photos) + len(self.published))
        if params.get("published", "true") == "false":
            self.unpublished_photos[photo_id] = {"url": url}
            return Answer(200, {"id": photo_id})
        post_id = self.record_post(
            grant, page=page_id, message=params.get("caption", ""), media=[url]
        )
        self.published[-1]["post_id"] = f"{page_id}_{post_id}"
        return Answer(200, {"id": photo_id, "post_id": f"{page_id}_{post_id}"})

    def videos(self, request: Request, page_id: str) -> Answer:
        grant = self.page_request(request, page_id)
        if isinstance(grant, Answer):
            return grant
        params = request.params
        url = params.get("file_url", "")
        if not url.startswith("https://"):
            return self.graph_error(100, "Invalid parameter: file_url")
        post_id = self.record_post(
            grant, page=page_id, message=params.get("description", ""), media=[url]
        )
        return Answer(200, {"id": post_id})


class ThreadsFake(ContainerFake):
    platform = "threads"
    hosts = ("threads.net", "graph.threads.net")
    publish_scope = "threads_content_publish"
    e2e_media_urls: list[str] = []

    def routes(self):
        graph = "graph.threads.net"
        return [
            ("GET", "threads.net", r"/oauth/authorize/?", self.authorize),
            ("POST", graph, r"/oauth/access_token", self.token),
            ("GET", graph, r"/access_token", self.exchange),
            ("GET", graph, r"/refresh_access_token", self.refresh),
            ("GET", graph, VERSION + r"/me", self.me),
            ("GET", graph, VERSION + r"/(?P<user_id>\d+)/threads_insights", self.insights),
            ("POST", graph, VERSION + r"/(?P<user_id>\d+)/threads", self.threads),
            ("POST", graph, VERSION + r"/(?P<user_id>\d+)/threads_publish", self.publish),
            ("GET", graph, VERSION + r"/(?P<container_id>\d+)", self.container),
        ]

    def token(self, request: Request) -> Answer:
        if request.params.get("grant_type") != "authorization_code":
            return self.graph_error(100, "Unsupported grant_type")
        grant = self.code_grant(request)
        if isinstance(grant, Answer):
            return grant
        return Answer(200, {"access_token": grant.access_token, "user_id": int(grant.user.id)})

    def exchange(self, request: Request) -> Answer:
        return self.exchange_long_lived(request, "th_exchange_token")

    def refresh(self, request: Request) -> Answer:
        return self.refresh_long_lived(request, "th_refresh_token")

    def me(self, request: Request) -> Answer:
        grant = self.grant_of(request)
        if grant is None:
            return self.dead_token()
        user = grant.user
        values = {
            "id": user.id,
            "username": user.handle,
            "name": user.name,
            "threads_profile_picture_url": user.avatar_url,
            "threads_biography": "",
        }
        return Answer(200, self.pick(request.params.get("fields", "id"), values))

    def insights(self, request: Request, user_id: str) -> Answer:
        grant = self.user_grant(request, user_id)
        if isinstance(grant, Answer):
            return grant
        if "threads_manage_insights" not in grant.scopes:
            return self.graph_error(10, "Application does not have permission for this action")
        if request.params.get("metric") != "followers_count":
            return self.graph_error(100, "Invalid metric")
        return Answer(
            200,
            {
                "data": [
                    {
                        "name": "followers_count",
                        "period": "day",
                        "title": "followers_count",
                        "total_value": {"value": grant.user.followers},
                        "id": f"{user_id}/insights/followers_count/day",
                    }
                ]
            },
        )

    def threads(self, request: Request, user_id: str) -> Answer:
        grant = self.user_grant(request, user_id)
        if isinstance(grant, Answer):
            return grant
        if self.publish_scope not in grant.scopes:
            return self.graph_error(10, "Application does not have permission for this action")
        params = request.params
        fields = {
            k: v
            for k, v in params.items()
            if k in ("media_type", "text", "image_url", "video_url", "is_carousel_item")
        }
        media_type = params.get("media_type", "")
        if len(params.get("text", "")) > 500:
            return self.graph_error(100, "Param text must be at most 500 characters long.")
        if media_type == "TEXT":
            if not params.get("text"):
                return self.graph_error(100, "Param text is required for TEXT posts")
        elif media_type == "IMAGE":
            if not params.get("image_url", "").startswith("https://"):
                return self.graph_error(100, "Param image_url is required")
        elif media_type == "VIDEO":
            if not params.get("video_url", "").startswith("https://"):
                return self.graph_error(100, "Param video_url is required")
        elif media_type == "CAROUSEL":
            children = self.carousel_children(grant, params.get("children", ""))
            if not children or len(children) < 2:
                return self.graph_error(100, "Param children is invalid")
            answer = self.new_container(grant, fields)
            self.containers[answer.body["id"]].children = children
            return answer
        else:
            return self.graph_error(100, "Param media_type is invalid")
        return self.new_container(grant, fields)

    def container(self, request: Request, container_id: str) -> Answer:
        grant = self.grant_of(request)
        if grant is None:
            return self.dead_token()
        container = self.containers.get(container_id)
        if container is None or container.user is not grant.user:
            return self.graph_error(100, "Unsupported get request", 400, 33)
        return Answer(200, {"id": container.id, "status": self.container_state(container)})

    def publish(self, request: Request, user_id: str) -> Answer:
        return self.publish_container(request, user_id)


FAKES = [InstagramFake, FacebookPageFake, ThreadsFake]
