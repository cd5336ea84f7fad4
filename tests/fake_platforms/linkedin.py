"""A fake of LinkedIn: OAuth 2.0 without PKCE (client_secret_post, programmatic refresh
tokens that are not rotated, revocation), OpenID Connect userinfo, organization access
control, organization lookup, network sizes, the Images API and the Posts API, with
LinkedIn's ``{"serviceErrorCode", "message", "status"}`` errors.

The member fake and the Page fake serve the same hosts (www.linkedin.com,
api.linkedin.com), and a host has one fake in ``FakePlatforms``: the Page fake, built right
after the member fake, pairs with it and hands it every request that belongs to it (its
authorization codes, tokens and uploads; an authorization asking for member scopes).
"""

from __future__ import annotations

import secrets
import threading
from urllib.parse import unquote

from .base import Answer, FakePlatform, FakeUser, Grant, Request

WWW = "www.linkedin.com"
API = "api.linkedin.com"
ORGANIZATION_SCOPES = ("r_organization_admin", "rw_organization_admin", "w_organization_social")

_unpaired = threading.local()


def li_error(status: int, message: str, service_error_code: int = 0, code: str = "") -> Answer:
    body: dict = {"status": status, "serviceErrorCode": service_error_code, "message": message}
    if code:
        body["code"] = code
    return Answer(status, body)


class LinkedInFake(FakePlatform):
    """What the member and Page fakes share: OAuth, images and posts."""

    hosts: tuple[str, ...] = ()
    client_auth = "post"
    requires_pkce = False  # LinkedIn takes PKCE from native apps only
    rotates_refresh_tokens = False  # programmatic refresh tokens keep their value and TTL
    access_ttl = 60 * 24 * 3600
    refresh_ttl = 365 * 24 * 3600
    post_scope = ""
    e2e_media_urls = ["https://cdn.example.com/linkedin/photo.jpg"]

    def __init__(self) -> None:
        super().__init__()
        self.uploads: dict[str, dict] = {}  # upload token -> image facts
        self.images: dict[str, dict] = {}  # image urn -> image facts

    def routes(self):
        return [
            ("GET", WWW, r"/oauth/v2/authorization", self.authorize),
            ("POST", WWW, r"/oauth/v2/accessToken", self.token),
            ("POST", WWW, r"/oauth/v2/revoke", self.revoke),
            ("PUT", WWW, r"/dms-uploads/(?P<upload>[^/]+)", self.upload_bytes),
            ("POST", API, r"/rest/images", self.initialize_upload),
            ("POST", API, r"/rest/posts", self.create_post),
            *self.api_routes(),
        ]

    def api_routes(self) -> list:
        return []

    def author_urns(self, grant: Grant) -> set[str]:
        raise NotImplementedError

    # --- OAuth -------------------------------------------------------------------------

    def token_answer(self, grant: Grant) -> Answer:
        answer = super().token_answer(grant)
        answer.body["refresh_token_expires_in"] = self.refresh_ttl
        return answer

    def token(self, request: Request) -> Answer:
        answer = super().token(request)
        if answer.status == 400 and answer.body.get("error") == "invalid_grant":
            description = (
                "The provided authorization grant or refresh token is invalid, expired or revoked"
                if request.params.get("grant_type") == "refresh_token"
                else "Unable to retrieve access token: appid/redirect uri/code verifier does not"
                " match authorization code. Or authorization code expired."
            )
            return self.oauth_error("invalid_request", description)
        return answer

    def revoke(self, request: Request) -> Answer:
        if not self.client_ok(request):
            return self.oauth_error("invalid_client", "Client authentication failed", 401)
        self.revoke_token(request.params.get("token", ""))
        return Answer(200, b"")

    # --- API -----------------------------------------------------------------------------

    def authorized(self, request: Request, *scopes: str) -> tuple[Grant | None, Answer | None]:
        grant = self.grant_for(request)
        if grant is None:
            return None, li_error(401, "Invalid access token", 65600, "INVALID_ACCESS_TOKEN")
        if any(scope not in grant.scopes for scope in scopes):
            return None, li_error(403, "Not enough permissions to access", 100, "ACCESS_DENIED")
        return grant, None

    def versioned(self, request: Request) -> Answer | None:
        if not request.headers.get("linkedin-version", "").isdigit():
            return li_error(426, "A version must be present", 0, "VERSION_MISSING")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return li_error(400, "Rest.li protocol version 2.0.0 required", 0)
        return None

    def initialize_upload(self, request: Request) -> Answer:
        refused = self.versioned(request)
        if refused:
            return refused
        grant, refused = self.authorized(request, self.post_scope)
        if grant is None:
            return refused
        if request.query.get("action") != "initializeUpload":
            return li_error(400, "Unknown action", 0)
        owner = ((request.json or {}).get("initializeUploadRequest") or {}).get("owner")
        if owner not in self.author_urns(grant):
            return li_error(403, "Not enough permissions to upload for this owner", 100)
        upload = secrets.token_urlsafe(12)
        image = f"urn:li:image:C4E10AQ{secrets.token_hex(6)}"
        self.uploads[upload] = facts = {"owner": owner, "image": image, "bytes": None}
        self.images[image] = facts
        return Answer(
            200,
            {
                "value": {
                    "uploadUrlExpiresAt": 1_900_000_000_000,
                    "uploadUrl": f"https://{WWW}/dms-uploads/{upload}",
                    "image": image,
                }
            },
        )

    def upload_bytes(self, request: Request, upload: str) -> Answer:
        facts = self.uploads.get(upload)
        if facts is None:
            return li_error(404, "Upload not found", 0)
        if self.grant_for(request) is None:
            return li_error(401, "Invalid access token", 65600)
        if not request.body:
            return li_error(400, "Empty upload", 0)
        facts["bytes"] = request.body
        return Answer(201, b"")

    def create_post(self, request: Request) -> Answer:
        refused = self.versioned(request)
        if refused:
            return refused
        grant, refused = self.authorized(request, self.post_scope)
        if grant is None:
            return refused
        post = request.json
        if not isinstance(post, dict):
            return li_error(400, "Body must be JSON", 0)
        missing = [
            field
            for field in ("author", "commentary", "visibility", "distribution", "lifecycleState")
            if field not in post
        ]
        if missing:
            return li_error(422, f"Missing fields: {', '.join(missing)}", 0)
        if post["author"] not in self.author_urns(grant):
            return li_error(403, "Not enough permissions to post as this author", 100)
        content = post.get("content") or {}
        images = [content["media"]["id"]] if "media" in content else []
        images += [image["id"] for image in (content.get("multiImage") or {}).get("images", [])]
        for image in images:
            facts = self.images.get(image)
            if facts is None or facts["owner"] != post["author"] or facts["bytes"] is None:
                return li_error(400, "Image is not uploaded", 0)
        if post["commentary"] and any(
            done["author"] == post["author"] and done["commentary"] == post["commentary"]
            for done in self.published
        ):
            return li_error(422, "Content is a duplicate of urn:li:share:1", 0, "DUPLICATE_POST")
        post_id = self.record_post(
            grant, author=post["author"], commentary=post["commentary"], images=images
        )
        urn = f"urn:li:share:{post_id}"
        self.published[-1]["urn"] = urn
        return Answer(201, b"", {"x-restli-id": urn})


class LinkedInPersonFake(LinkedInFake):
    platform = "linkedin_person"
    post_scope = "w_member_social"

    def __init__(self) -> None:
        super().__init__()
        _unpaired.person = self  # the next Page fake built pairs with this one

    def user(self, handle: str, *, followers: int = 0, name: str | None = None) -> FakeUser:
        # LinkedIn shows no member follower count to these scopes: the fake's members have
        # none, so what the adapter reports (0) is what the platform holds.
        return super().user(handle, followers=0, name=name)

    def api_routes(self) -> list:
        return [
            ("GET", API, r"/v2/userinfo", self.userinfo),
            (
                "GET",
                API,
                r"/rest/(?:organizationAcls|organizations/.+|networkSizes/.+)",
                self.no_pages,
            ),
        ]

    def no_pages(self, request: Request) -> Answer:
        """A member token asking for Page data: it has no organization permission."""
        _grant, refused = self.authorized(request, "r_organization_admin")
        return refused or li_error(403, "Not enough permissions to access", 100)

    def sub(self, user: FakeUser) -> str:
        return f"m{user.id}Xy"

    def author_urns(self, grant: Grant) -> set[str]:
        return {f"urn:li:person:{self.sub(grant.user)}"}

    def userinfo(self, request: Request) -> Answer:
        grant, refused = self.authorized(request, "openid", "profile")
        if grant is None:
            return refused
        user = grant.user
        first, _, last = user.name.partition(" ")
        info = {
            "sub": self.sub(user),
            "name": user.name,
            "given_name": first,
            "family_name": last,
            "picture": user.avatar_url,
            "locale": {"country": "US", "language": "en"},
        }
        if "email" in grant.scopes:
            info.update(email=f"{user.handle}@example.com", email_verified=True)
        return Answer(200, info)


class LinkedInCompanyFake(LinkedInFake):
    platform = "linkedin_company"
    hosts = (WWW, API)
    post_scope = "w_organization_social"

    def __init__(self) -> None:
        super().__init__()
        person = getattr(_unpaired, "person", None)
        self.person: LinkedInPersonFake = person or LinkedInPersonFake()
        _unpaired.person = None

    def api_routes(self) -> list:
        return [
            ("GET", API, r"/rest/organizationAcls", self.acls),
            ("GET", API, r"/rest/organizations/(?P<organization_id>\d+)", self.organization),
            ("GET", API, r"/rest/networkSizes/(?P<urn>[^/]+)", self.network_size),
            ("GET", API, r"/rest/images/(?P<urn>[^/]+)", self.image),
        ]

    # --- one fake per host: hand the member's requests to the member fake ------------------

    def handle(self, request: Request) -> Answer:
        if self.belongs_to_person(request):
            return self.person.handle(request)
        return super().handle(request)

    def belongs_to_person(self, request: Request) -> bool:
        person = self.person
        params = request.params
        if request.path == "/oauth/v2/authorization":
            scopes = self.requested_scopes(request.query.get("scope", ""))
            return not any(scope in ORGANIZATION_SCOPES for scope in scopes)
        if request.path == "/oauth/v2/accessToken":
            return params.get("code", "") in person.codes or (
                params.get("refresh_token", "") in person.by_refresh
            )
        if request.path == "/oauth/v2/revoke":
            token = params.get("token", "")
            return token in person.grants or token in person.by_refresh
        if request.path.startswith("/dms-uploads/"):
            return request.path.rsplit("/", 1)[-1] in person.uploads
        if request.path == "/v2/userinfo":
            return True
        return (request.bearer() or "") in person.grants

    # --- organizations ---------------------------------------------------------------------

    def organization_id(self, user: FakeUser) -> str:
        return f"2{user.id}"

    def author_urns(self, grant: Grant) -> set[str]:
        return {f"urn:li:organization:{self.organization_id(grant.user)}"}

    def acls(self, request: Request) -> Answer:
        refused = self.versioned(request)
        if refused:
            return refused
        grant, refused = self.authorized(request)
        if grant is None:
            return refused
        if not any(scope in grant.scopes for scope in ORGANIZATION_SCOPES):
            return li_error(403, "Not enough permissions to access", 100, "ACCESS_DENIED")
        if request.query.get("q") != "roleAssignee":
            return li_error(400, "Unknown finder", 0)
        member = f"urn:li:person:m{grant.user.id}Xy"
        elements = [
            {
                "roleAssignee": member,
                "state": "APPROVED",
                "role": "ADMINISTRATOR",
                "organization": urn,
            }
            for urn in sorted(self.author_urns(grant))
        ]
        return Answer(200, {"paging": {"count": 10, "start": 0}, "elements": elements})

    def administered(self, request: Request, organization_id: str) -> Answer | None:
        refused = self.versioned(request)
        if refused:
            return refused
        grant, refused = self.authorized(request, "r_organization_admin")
        if grant is None:
            return refused
        if organization_id != self.organization_id(grant.user):
            return li_error(403, "Not enough permissions to access this organization", 100)
        return None

    def organization(self, request: Request, organization_id: str) -> Answer:
        refused = self.administered(request, organization_id)
        if refused:
            return refused
        user = self.grant_for(request).user
        return Answer(
            200,
            {
                "id": int(organization_id),
                "localizedName": f"{user.name} Inc",
                "vanityName": user.handle,
                "logoV2": {
                    "original": f"urn:li:digitalmediaAsset:C4D0BAQlogo{organization_id}",
                    "cropped": f"urn:li:digitalmediaAsset:C4D0BAQcrop{organization_id}",
                },
            },
        )

    def network_size(self, request: Request, urn: str) -> Answer:
        urn = unquote(urn)
        if request.query.get("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER":
            return li_error(400, "Unknown edgeType", 0)
        refused = self.administered(request, urn.rsplit(":", 1)[-1])
        if refused:
            return refused
        return Answer(200, {"firstDegreeSize": self.grant_for(request).user.followers})

    def image(self, request: Request, urn: str) -> Answer:
        urn = unquote(urn)
        refused = self.versioned(request)
        if refused:
            return refused
        grant, refused = self.authorized(request)
        if grant is None:
            return refused
        logo_id = urn.rsplit(":", 1)[-1]
        if not urn.startswith("urn:li:image:C4D0BAQlogo"):
            return li_error(404, "Image not found", 0)
        return Answer(
            200,
            {
                "id": urn,
                "status": "AVAILABLE",
                "downloadUrl": f"https://cdn.example.com/linkedin/{logo_id}.png",
            },
        )


FAKES = [LinkedInPersonFake, LinkedInCompanyFake]
