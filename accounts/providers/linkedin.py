"""Adapters for LinkedIn: a member's own profile (``linkedin_person``) and a LinkedIn Page
the member administers (``linkedin_company``). Both share one OAuth app model.

Auth model:

- OAuth 2.0 Authorization Code flow ("3-legged OAuth") at
  ``https://www.linkedin.com/oauth/v2/authorization``; the code is exchanged at
  ``https://www.linkedin.com/oauth/v2/accessToken`` with the client id and secret in the form
  body (client_secret_post).
- No PKCE: LinkedIn takes PKCE only from *native* apps (loopback redirect URIs), enabled per
  app on request. A web app like this one is a confidential client with a secret, so no
  challenge is sent and the verifier is not used.
- Access tokens live 60 days. Refresh tokens ("programmatic refresh tokens", 365 days, not
  renewed by refreshing) are issued only to apps LinkedIn approved for them (Marketing
  Developer Platform / Community Management API partners). Without that approval the token
  answer has no refresh token: the account then expires after 60 days and the member
  connects again; ``refresh`` is never called for it.
- Revocation: ``POST https://www.linkedin.com/oauth/v2/revoke`` with the client id, secret
  and the access token (revoking the access token ends the member's authorization).

Products and scopes: ``linkedin_person`` needs "Sign In with LinkedIn using OpenID Connect"
(``openid profile email``) and "Share on LinkedIn" (``w_member_social``), both self-serve.
``linkedin_company`` needs the "Community Management API" (``r_organization_admin``,
``w_organization_social``), which LinkedIn reviews and which must be the only product on its
app, hence its own credentials (``LINKEDIN_COMPANY_CLIENT_ID``/``_SECRET``).

API: the versioned REST API (``/rest/...``) with a pinned ``LinkedIn-Version`` and
``X-Restli-Protocol-Version: 2.0.0``. A member's follower count has no endpoint under these
scopes (``memberFollowersCount`` needs ``r_member_profileAnalytics``), so it is reported as 0;
OpenID Connect's userinfo has no vanity name either, so a member has no ``username``.

Errors: the OAuth endpoints answer RFC 6749 bodies (LinkedIn says ``invalid_request`` for an
expired or revoked refresh token, which a refresh reads as a dead grant). The API answers
``{"serviceErrorCode", "message", "status"}``: 401 (invalid, expired or revoked token) is
definitive, 429 and 5xx transient, the other 4xx (missing permission, duplicate content)
refusals of what we sent.

Publishing goes through the Posts API; images through the Images API (initializeUpload, then
PUT of the bytes), up to 20 per post. Video is not supported by these adapters. The Posts API
has no idempotency key, so ``idempotency_key`` is ignored (LinkedIn refuses an identical
repeat as a duplicate).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from django.conf import settings

from . import http
from .base import (
    Profile,
    ProviderDefinitiveError,
    ProviderError,
    ProviderRequestError,
    PublishResult,
)
from .media import as_count, fetch_media
from .oauth2 import OAuth2Provider, json_body, require

REST = "https://api.linkedin.com/rest"
USERINFO_URL = "https://api.linkedin.com/v2/userinfo"
MAX_IMAGES = 20
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})
# Characters the Posts API's "little text" commentary format reserves; escaped to be literal.
LITTLE_TEXT_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")


def escape_commentary(text: str) -> str:
    """``text`` as literal "little text" (else LinkedIn reads or drops reserved characters)."""
    return LITTLE_TEXT_RESERVED.sub(r"\\\1", text)


def urn_path(urn: str) -> str:
    """A URN as a path segment: Rest.li wants its colons encoded."""
    return quote(urn, safe="")


class LinkedInProvider(OAuth2Provider):
    """What the member and Page adapters share: OAuth, the REST headers, errors, posting."""

    # https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow
    # https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow-native
    # https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
    # https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/error-handling
    # https://learn.microsoft.com/en-us/linkedin/marketing/versioning
    # https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
    # https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/images-api
    # https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/little-text-format
    authorize_url = "https://www.linkedin.com/oauth/v2/authorization"
    token_url = "https://www.linkedin.com/oauth/v2/accessToken"
    revoke_url = "https://www.linkedin.com/oauth/v2/revoke"
    pkce = False
    token_auth_method = "client_secret_post"
    api_version: ClassVar[str] = "202510"

    def rest_headers(self) -> dict[str, str]:
        return {"LinkedIn-Version": self.api_version, "X-Restli-Protocol-Version": "2.0.0"}

    def rest(self, method: str, path: str, *, access_token: str, **kwargs) -> requests.Response:
        headers = {**self.rest_headers(), **(kwargs.pop("headers", None) or {})}
        return self.api(
            method, f"{REST}{path}", access_token=access_token, headers=headers, **kwargs
        )

    def rest_json(self, method: str, path: str, *, access_token: str, **kwargs) -> dict:
        body = json_body(self.rest(method, path, access_token=access_token, **kwargs))
        if not isinstance(body, dict):
            raise ProviderRequestError(f"{self.platform} answered something that is not JSON")
        return body

    # --- OAuth ---------------------------------------------------------------------------

    def refresh_token_is_dead(self, refused: ProviderRequestError) -> bool:
        """LinkedIn's words for an expired or revoked refresh token (``invalid_request``)."""
        words = str(refused).lower()
        return (
            refused.error_code == "invalid_request"
            and "token" in words
            and any(word in words for word in ("invalid", "expired", "revoked"))
        )

    def revoke(self, *, access_token: str, refresh_token: str) -> None:
        """Revoke the access token, which ends the member's authorization of the app."""
        if not access_token:
            return
        response = self.call_oauth(
            lambda session: session.revoke_token(
                http.platform_url(self.revoke_url or ""),
                token=access_token,
                timeout=settings.PROVIDER_HTTP_TIMEOUT,
            )
        )
        self.raise_for_answer(response)

    # --- classification ------------------------------------------------------------------

    def classify_error(
        self, status: int, body: Any, response: requests.Response
    ) -> ProviderError | None:
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return super().classify_error(status, body, response)
        if status < 400 or status == 429 or status >= 500:
            return None  # 429 and 5xx: transient, with Retry-After where sent
        if not isinstance(body, dict):
            body = {}
        message = str(body.get("message") or f"{self.platform} answered {status}")
        code = str(body.get("code") or body.get("serviceErrorCode") or "")
        if status == 401:
            return ProviderDefinitiveError(message, http_status=status, error_code=code)
        if "duplicate" in message.lower():
            return ProviderRequestError(message, http_status=status, error_code="duplicate")
        return ProviderRequestError(message, http_status=status, error_code=code)

    def classify_oauth_code(
        self, code: str, description: str, *, status: int | None
    ) -> ProviderError:
        # A failed client authentication is our app's configuration, not the member's grant.
        if code in {"invalid_client", "unauthorized_client"}:
            return ProviderRequestError(description, http_status=status, error_code=code)
        return super().classify_oauth_code(code, description, status=status)

    # --- publish -------------------------------------------------------------------------

    def author_urn(self, access_token: str) -> str:
        """Who posts: ``urn:li:person:...`` or ``urn:li:organization:...``."""
        raise NotImplementedError

    def prepare_publish(
        self, *, access_token: str, text: str, media_urls: list[str]
    ) -> tuple[str, list[str]]:
        """Check the post, find its author and upload its images: (author, image URNs),
        which publish nothing until a post names them."""
        require(bool(text.strip()) or bool(media_urls), self.platform, "needs text or images")
        require(len(media_urls) <= MAX_IMAGES, self.platform, "takes at most 20 images per post")
        images = [
            fetch_media(url, label=f"image {index}") for index, url in enumerate(media_urls, 1)
        ]
        require(
            all(content_type in IMAGE_TYPES for _content, content_type in images),
            self.platform,
            "takes JPEG, PNG or GIF images only (video is not supported)",
        )
        author = self.author_urn(access_token)
        return author, [
            self._upload_image(access_token, author, content) for content, _type in images
        ]

    def publish(
        self,
        *,
        access_token: str,
        text: str,
        media_urls: list[str],
        idempotency_key: str | None = None,
        prepared: tuple[str, list[str]] | None = None,
    ) -> PublishResult:
        """Post ``text`` with up to 20 images (uploaded by ``prepare_publish``).
        ``idempotency_key`` is ignored: the Posts API has none."""
        if prepared is None:
            prepared = self.prepare_publish(
                access_token=access_token, text=text, media_urls=media_urls
            )
        author, image_urns = prepared
        post: dict[str, Any] = {
            "author": author,
            "commentary": escape_commentary(text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if len(image_urns) == 1:
            post["content"] = {"media": {"id": image_urns[0]}}
        elif image_urns:
            post["content"] = {"multiImage": {"images": [{"id": urn} for urn in image_urns]}}
        response = self.rest("POST", "/posts", access_token=access_token, json=post)
        post_id = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not post_id:
            body = json_body(response)
            post_id = body.get("id") if isinstance(body, dict) else None
        if not post_id:
            raise ProviderRequestError(f"{self.platform} did not say which post it created")
        return PublishResult(platform_post_id=str(post_id))

    def _upload_image(self, access_token: str, owner: str, content: bytes) -> str:
        body = self.rest_json(
            "POST",
            "/images",
            access_token=access_token,
            params={"action": "initializeUpload"},
            json={"initializeUploadRequest": {"owner": owner}},
        )
        value = body.get("value") if isinstance(body.get("value"), dict) else {}
        upload_url, image = value.get("uploadUrl"), value.get("image")
        if not upload_url or not image:
            raise ProviderRequestError(f"{self.platform} image upload answer is incomplete")
        self.api(
            "PUT",
            str(upload_url),
            access_token=access_token,
            data=content,
            headers={"Content-Type": "application/octet-stream"},
        )
        return str(image)


class LinkedInPersonProvider(LinkedInProvider):
    # https://learn.microsoft.com/en-us/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2
    # https://learn.microsoft.com/en-us/linkedin/consumer/integrations/self-serve/share-on-linkedin
    platform = "linkedin_person"
    default_scopes = ("openid", "profile", "email", "w_member_social")

    def userinfo(self, access_token: str) -> dict:
        body = self.api_json("GET", USERINFO_URL, access_token=access_token)
        if not isinstance(body, dict) or not body.get("sub"):
            raise ProviderRequestError("linkedin_person userinfo answer has no member id")
        return body

    def author_urn(self, access_token: str) -> str:
        return f"urn:li:person:{self.userinfo(access_token)['sub']}"

    def fetch_profile(self, *, access_token: str) -> Profile:
        info = self.userinfo(access_token)
        name = info.get("name") or " ".join(
            part for part in (info.get("given_name"), info.get("family_name")) if part
        )
        return Profile(
            platform_user_id=str(info["sub"]),
            username=None,  # OpenID Connect userinfo has no vanity name
            display_name=name or None,
            avatar_url=info.get("picture") or None,
            account_type="person",
            follower_count=0,  # no member follower count under these scopes
            metadata={"author_urn": f"urn:li:person:{info['sub']}"},
        )


class LinkedInCompanyProvider(LinkedInProvider):
    # https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-access-control-by-role
    # https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-lookup-api
    # https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/follower-statistics
    platform = "linkedin_company"
    default_scopes = ("r_organization_admin", "w_organization_social")

    def organization_urn(self, access_token: str) -> str:
        """The Page the member administers (``ADMINISTRATOR``, ``APPROVED``). Of several,
        the one with the lowest id, so the profile and every publish agree on it."""
        body = self.rest_json(
            "GET",
            "/organizationAcls",
            access_token=access_token,
            params={"q": "roleAssignee", "role": "ADMINISTRATOR", "state": "APPROVED"},
        )
        elements = body.get("elements") if isinstance(body.get("elements"), list) else []
        urns = [
            str(acl.get("organization") or acl.get("organizationalTarget") or "")
            for acl in elements
            if isinstance(acl, dict)
            and acl.get("role", "ADMINISTRATOR") == "ADMINISTRATOR"
            and acl.get("state", "APPROVED") == "APPROVED"
        ]
        urns = [urn for urn in urns if urn.startswith("urn:li:organization:")]
        if not urns:
            raise ProviderRequestError("linkedin_company: the member administers no LinkedIn Page")
        return min(urns, key=lambda urn: (len(urn), urn))

    def author_urn(self, access_token: str) -> str:
        return self.organization_urn(access_token)

    def fetch_profile(self, *, access_token: str) -> Profile:
        urn = self.organization_urn(access_token)
        organization_id = urn.rsplit(":", 1)[-1]
        organization = self.rest_json(
            "GET", f"/organizations/{organization_id}", access_token=access_token
        )
        sizes = self.rest_json(
            "GET",
            f"/networkSizes/{urn_path(urn)}",
            access_token=access_token,
            params={"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"},
        )
        return Profile(
            platform_user_id=organization_id,
            username=organization.get("vanityName") or None,
            display_name=organization.get("localizedName") or None,
            avatar_url=self._logo_url(access_token, organization),
            account_type="organization",
            follower_count=as_count(sizes.get("firstDegreeSize")),
            metadata={"author_urn": urn},
        )

    def _logo_url(self, access_token: str, organization: dict) -> str | None:
        """The Page logo's download URL: its ``logoV2`` asset through the Images API. A logo
        that cannot be resolved is left out rather than failing the profile."""
        logo = organization.get("logoV2")
        asset = (logo.get("original") or logo.get("cropped")) if isinstance(logo, dict) else None
        if not isinstance(asset, str) or ":" not in asset:
            return None
        image_urn = "urn:li:image:" + asset.rsplit(":", 1)[-1]
        try:
            image = self.rest_json(
                "GET", f"/images/{urn_path(image_urn)}", access_token=access_token
            )
        except ProviderRequestError:
            return None
        url = image.get("downloadUrl")
        return url if isinstance(url, str) and url else None


# --- internals -----------------------------------------------------------------------------
