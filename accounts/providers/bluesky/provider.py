"""The Bluesky adapter: AT Protocol OAuth (a public or a confidential client), PAR, PKCE and
DPoP-bound tokens.

Auth model (https://atproto.com/specs/oauth):

* The client is *public* (it only names itself with ``client_id``) unless a signing key is
  configured (``BLUESKY_CLIENT_SECRET``): then it is *confidential* and authenticates with
  ``private_key_jwt``, a fresh ES256 client assertion (RFC 7523) on every request to the
  authorization server that authenticates the client (PAR, token, revocation), also on the
  retry with a DPoP nonce (``client``). A key that does not parse is
  ``ProviderNotConfigured``.

* Every authorization starts with a pushed authorization request (PAR, mandatory) carrying
  the PKCE S256 challenge (mandatory), the state, the redirect URI and the scopes
  ``atproto transition:generic``; the browser is sent to the authorize endpoint with only
  ``client_id`` and the ``request_uri`` PAR returned. The endpoints and the client's
  identity are in ``client``.
* Every call to the authorization server and every XRPC call to the account's PDS goes
  through ``dpop_request``: it carries a DPoP proof (``dpop``) and, at the PDS,
  ``Authorization: DPoP <token>``. An answer ``use_dpop_nonce`` (400 from PAR/token, 401
  with ``WWW-Authenticate: DPoP`` from the PDS) is retried once with the nonce it carries.
* The code exchange resolves the account's DID to its PDS and checks that the PDS is hosted
  behind bsky.social (``identity``).
* Access tokens live minutes (the atproto profile caps them at 30). Refresh tokens are
  DPoP-bound and single use: each refresh returns a new one (rotation). For public clients
  the profile's guideline is refresh tokens of at most 24 hours and sessions of at most
  7 days, so creators connect again about weekly; confidential clients may get refresh
  tokens of up to 180 days and sessions with no overall limit (the server decides). An
  ``invalid_grant`` at refresh ends the grant (the creator connects again); an
  ``invalid_client`` is our configuration (a request error), never the grant's end.
* Revocation: the entryway's revocation endpoint (RFC 7009) ends the session; the
  refresh token is revoked first, then the access token.
* The tokens this adapter hands out and takes back are opaque strings that also carry the
  DPoP key, the DID and the PDS (``credential.Credential``).

Profile: ``app.bsky.actor.getProfile`` on the public AppView (public data, no token sent,
so it does not tell whether the grant is still alive; refresh does).
Publish: ``com.atproto.repo.createRecord`` (an ``app.bsky.feed.post``) on the PDS; images
(at most 4, each at most 1,000,000 bytes) are uploaded first with
``com.atproto.repo.uploadBlob`` and embedded as ``app.bsky.embed.images``. Media must be
images (video goes through a separate video service, not supported here). Text is at most
300 graphemes (3000 bytes); links and hashtags get rich-text facets (``text``). Bluesky has
no idempotency keys (a record key would have to be a timestamp-shaped TID), so
``idempotency_key`` is ignored. The post id returned is the record's AT URI.
"""

from __future__ import annotations

import mimetypes
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import ec

from .. import http
from ..base import (
    Profile,
    ProviderDefinitiveError,
    ProviderError,
    ProviderRequestError,
    ProviderTransientError,
    PublishResult,
    TokenSet,
)
from ..media import fetch_media
from ..oauth2 import Credentials, OAuth2Provider, json_body, require
from .client import (
    AUTHORIZE_URL,
    CLIENT_ASSERTION_TYPE,
    ISSUER,
    PAR_URL,
    REVOKE_URL,
    SCOPES,
    TOKEN_URL,
    load_client_key,
)
from .credential import Credential
from .dpop import _nonce, _remember_nonce, dpop_key_from_verifier, dpop_proof, origin_of
from .identity import AtprotoIdentity
from .text import facets, grapheme_count

PUBLIC_APPVIEW = "https://public.api.bsky.app"

POST_COLLECTION = "app.bsky.feed.post"
MAX_IMAGES = 4
MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3000
MAX_IMAGE_BYTES = 1_000_000  # app.bsky.embed.images#image: blob maxSize

# XRPC error names (https://atproto.com/specs/xrpc, the com.atproto lexicons) that mean
# the token or the account's grant is dead.
DEFINITIVE_XRPC_ERRORS = frozenset(
    {"ExpiredToken", "InvalidToken", "invalid_token", "AccountTakedown"}
)
RATE_LIMIT_ERROR = "RateLimitExceeded"
# OAuth / DPoP errors (RFC 9449) that mean our proof was wrong, not that the grant died.
DPOP_ERRORS = frozenset({"invalid_dpop_proof", "use_dpop_nonce"})


# https://atproto.com/specs/oauth
# https://docs.bsky.app/docs/advanced-guides/oauth-client
# https://docs.bsky.app/docs/api/com-atproto-repo-create-record
# https://docs.bsky.app/docs/api/com-atproto-repo-upload-blob
# https://docs.bsky.app/docs/api/app-bsky-actor-get-profile
# https://docs.bsky.app/docs/advanced-guides/posts
# https://docs.bsky.app/docs/advanced-guides/rate-limits
class BlueskyProvider(AtprotoIdentity, OAuth2Provider):
    platform = "bluesky"
    authorize_url = AUTHORIZE_URL
    token_url = TOKEN_URL
    revoke_url = REVOKE_URL
    default_scopes = SCOPES
    token_auth_method = "none"  # "private_key_jwt" once a signing key is configured
    requires_secret = False

    def __init__(self, credentials: Credentials | None = None) -> None:
        super().__init__(credentials)
        # The confidential client's signing key (``client_secret``), None for a public one.
        self.client_key = load_client_key(self.credentials.client_secret)
        if self.client_key is not None:
            self.token_auth_method = "private_key_jwt"

    @property
    def confidential(self) -> bool:
        return self.client_key is not None

    def client_fields(self) -> dict[str, str]:
        """The form fields that identify (public) or authenticate (confidential) the client
        at the authorization server; a fresh assertion at every call."""
        fields = {"client_id": self.credentials.client_id}
        if self.client_key is not None:
            fields["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            fields["client_assertion"] = self.client_key.assertion(
                client_id=self.credentials.client_id, audience=ISSUER
            )
        return fields

    # --- DPoP requests -----------------------------------------------------------------

    def dpop_request(
        self,
        method: str,
        url: str,
        *,
        key: ec.EllipticCurvePrivateKey,
        access_token: str | None = None,
        authenticate_client: bool = False,
        **kwargs,
    ) -> requests.Response:
        """One request with a DPoP proof (and the DPoP-bound token, at the PDS), retried
        once with the server's nonce when it asks for one; checked by ``raise_for_answer``.
        With ``authenticate_client`` the form ``data`` also gets the client's fields
        (``client_fields``), made again for each attempt."""
        origin = origin_of(url)
        extra_headers = dict(kwargs.pop("headers", None) or {})
        form = kwargs.pop("data", None) if authenticate_client else None
        response: requests.Response | None = None
        for attempt in range(2):
            if authenticate_client:
                kwargs["data"] = {**self.client_fields(), **(form or {})}
            headers = dict(extra_headers)
            headers["DPoP"] = dpop_proof(
                key, method, url, nonce=_nonce(origin), access_token=access_token
            )
            if access_token is not None:
                headers["Authorization"] = f"DPoP {access_token}"
            response = http.request(method, url, headers=headers, **kwargs)
            nonce = response.headers.get("DPoP-Nonce")
            if nonce:
                _remember_nonce(origin, nonce)
            if attempt == 0 and nonce and self.wants_nonce(response):
                continue
            break
        assert response is not None
        self.raise_for_answer(response)
        return response

    @staticmethod
    def wants_nonce(response: requests.Response) -> bool:
        if response.status_code not in (400, 401):
            return False
        body = json_body(response)
        if isinstance(body, dict) and body.get("error") == "use_dpop_nonce":
            return True
        return "use_dpop_nonce" in response.headers.get("WWW-Authenticate", "")

    def auth_server_post(
        self, url: str, data: dict[str, str], *, key: ec.EllipticCurvePrivateKey
    ) -> dict:
        body = json_body(
            self.dpop_request("POST", url, key=key, data=data, authenticate_client=True)
        )
        if not isinstance(body, dict):
            raise ProviderRequestError("bluesky answered something that is not JSON")
        return body

    # --- OAuth ------------------------------------------------------------------------------

    def authorization_url(
        self, *, state, code_challenge, redirect_uri, options, code_verifier=""
    ) -> str:
        """Push the authorization request (PAR), then send the browser to the authorize
        endpoint with the ``request_uri`` it answered. This makes a network call."""
        key = dpop_key_from_verifier(code_verifier)
        fields = {
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": " ".join(self.default_scopes),
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        login_hint = options.get("login_hint") or options.get("handle")
        if login_hint:
            fields["login_hint"] = login_hint
        body = self.auth_server_post(PAR_URL, fields, key=key)
        request_uri = body.get("request_uri")
        if not isinstance(request_uri, str) or not request_uri:
            raise ProviderRequestError("bluesky PAR answer has no request_uri")
        query = urlencode({"client_id": self.credentials.client_id, "request_uri": request_uri})
        return f"{http.platform_url(AUTHORIZE_URL)}?{query}"

    def exchange_code(self, *, code, redirect_uri, code_verifier) -> TokenSet:
        key = dpop_key_from_verifier(code_verifier)
        body = self.auth_server_post(
            TOKEN_URL,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
            key=key,
        )
        did = self.subject(body)
        pds = self.pds_of(did)
        self.check_authorization_server(pds)
        return self.credential_tokens(body, key=key, did=did, pds=pds, issuer=ISSUER)

    def refresh(self, *, refresh_token) -> TokenSet:
        held = Credential.decode(refresh_token)
        body = self.auth_server_post(
            TOKEN_URL,
            {
                "grant_type": "refresh_token",
                "refresh_token": held.token,
            },
            key=held.key,
        )
        if self.subject(body) != held.did:
            raise ProviderRequestError("bluesky refreshed a session of another account")
        return self.credential_tokens(
            body, key=held.key, did=held.did, pds=held.pds, issuer=held.issuer
        )

    def revoke(self, *, access_token, refresh_token) -> None:
        """Revoke the refresh token (ending the session), then the access token. A stored
        value that does not parse holds nothing to revoke."""
        for value, hint in ((refresh_token, "refresh_token"), (access_token, "access_token")):
            if not value:
                continue
            try:
                held = Credential.decode(value)
            except ProviderDefinitiveError:
                continue
            self.dpop_request(
                "POST",
                REVOKE_URL,
                key=held.key,
                authenticate_client=True,
                data={
                    "token": held.token,
                    "token_type_hint": hint,
                },
            )

    def subject(self, body: dict) -> str:
        """The account DID of a token answer, after the atproto checks on the answer."""
        token_type = str(body.get("token_type", ""))
        if token_type.lower() != "dpop":
            raise ProviderRequestError("bluesky answered a token that is not DPoP-bound")
        scope = body.get("scope")
        if not isinstance(scope, str) or "atproto" not in scope.split():
            raise ProviderRequestError("bluesky granted no atproto scope")
        sub = body.get("sub")
        if not isinstance(sub, str) or not sub.startswith("did:"):
            raise ProviderRequestError("bluesky token answer names no account (sub)")
        return sub

    def credential_tokens(
        self, body: dict, *, key: ec.EllipticCurvePrivateKey, did: str, pds: str, issuer: str
    ) -> TokenSet:
        tokens = self.token_set(body)
        if not tokens.refresh_token:
            raise ProviderRequestError("bluesky token answer has no refresh_token")

        def wrap(token: str) -> str:
            return Credential(token=token, key=key, did=did, pds=pds, issuer=issuer).encode()

        return TokenSet(
            access_token=wrap(tokens.access_token),
            refresh_token=wrap(tokens.refresh_token),
            expires_at=tokens.expires_at,
            scopes=tokens.scopes,
        )

    # --- profile ------------------------------------------------------------------------------

    def fetch_profile(self, *, access_token) -> Profile:
        held = Credential.decode(access_token)
        body = self.api_json(
            "GET",
            f"{PUBLIC_APPVIEW}/xrpc/app.bsky.actor.getProfile",
            params={"actor": held.did},
        )
        if not isinstance(body, dict) or body.get("did") != held.did:
            raise ProviderRequestError("bluesky profile answer is not the account's")
        handle = body.get("handle")
        try:
            return Profile(
                platform_user_id=held.did,
                username=handle if isinstance(handle, str) and handle != "handle.invalid" else None,
                display_name=body.get("displayName") or None,
                avatar_url=body.get("avatar") or None,
                account_type="",
                follower_count=int(body.get("followersCount") or 0),
                following_count=int(body.get("followsCount") or 0),
                post_count=int(body.get("postsCount") or 0),
                metadata={"did": held.did, "pds_url": held.pds},
            )
        except (TypeError, ValueError) as exc:
            raise ProviderRequestError("bluesky profile answer is malformed") from exc

    # --- publish ------------------------------------------------------------------------------

    def prepare_publish(self, *, access_token, text, media_urls) -> list[dict]:
        """Check the post and upload its images: the image embeds, which publish nothing
        until a post record names them."""
        held = Credential.decode(access_token)
        require(bool(text.strip()) or bool(media_urls), self.platform, "posts need text or images")
        require(
            grapheme_count(text) <= MAX_GRAPHEMES,
            self.platform,
            f"posts take at most {MAX_GRAPHEMES} characters",
        )
        require(
            len(text.encode()) <= MAX_TEXT_BYTES,
            self.platform,
            f"post text takes at most {MAX_TEXT_BYTES} bytes",
        )
        require(
            len(media_urls) <= MAX_IMAGES,
            self.platform,
            f"posts take at most {MAX_IMAGES} images",
        )
        images = [self.download_image(url, index) for index, url in enumerate(media_urls, 1)]
        return [
            {"alt": "", "image": self.upload_blob(held, content, content_type)}
            for content, content_type in images
        ]

    def publish(
        self, *, access_token, text, media_urls, idempotency_key=None, prepared=None
    ) -> PublishResult:
        """Post ``text`` with up to 4 images (uploaded by ``prepare_publish``).
        ``idempotency_key`` is ignored: Bluesky has no idempotency keys."""
        held = Credential.decode(access_token)
        embeds = prepared
        if embeds is None:
            embeds = self.prepare_publish(
                access_token=access_token, text=text, media_urls=media_urls
            )
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        found = facets(text)
        if found:
            record["facets"] = found
        if embeds:
            record["embed"] = {"$type": "app.bsky.embed.images", "images": embeds}
        body = json_body(
            self.dpop_request(
                "POST",
                f"{held.pds}/xrpc/com.atproto.repo.createRecord",
                key=held.key,
                access_token=held.token,
                json={"repo": held.did, "collection": POST_COLLECTION, "record": record},
            )
        )
        uri = body.get("uri") if isinstance(body, dict) else None
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise ProviderRequestError("bluesky createRecord answer has no record URI")
        return PublishResult(platform_post_id=uri)

    def download_image(self, url: str, index: int) -> tuple[bytes, str]:
        """The bytes and type of image ``index``, refused before any upload if Bluesky
        would refuse it."""
        content, content_type = fetch_media(url, label=f"bluesky media {index}")
        if not content_type.startswith("image/"):
            content_type = (mimetypes.guess_type(urlsplit(url).path)[0] or "").lower()
        require(
            content_type.startswith("image/"),
            self.platform,
            f"media {index} is not an image (posts here take images only)",
        )
        require(
            len(content) <= MAX_IMAGE_BYTES,
            self.platform,
            f"image {index} is larger than {MAX_IMAGE_BYTES} bytes",
        )
        return content, content_type

    def upload_blob(self, held: Credential, content: bytes, content_type: str) -> dict:
        body = json_body(
            self.dpop_request(
                "POST",
                f"{held.pds}/xrpc/com.atproto.repo.uploadBlob",
                key=held.key,
                access_token=held.token,
                data=content,
                headers={"Content-Type": content_type},
            )
        )
        blob = body.get("blob") if isinstance(body, dict) else None
        if not isinstance(blob, dict):
            raise ProviderRequestError("bluesky uploadBlob answer has no blob")
        return blob

    # --- classification -------------------------------------------------------------------

    def classify_error(
        self, status: int, body: Any, response: requests.Response
    ) -> ProviderError | None:
        """XRPC errors (``{"error", "message"}``) and OAuth errors (``{"error",
        "error_description"}``, RFC 6749 plus DPoP's) in one place."""
        code = body.get("error") if isinstance(body, dict) else None
        if status == 429 or code == RATE_LIMIT_ERROR:
            return ProviderTransientError(
                "bluesky rate limit exceeded",
                http_status=status,
                error_code=code or "",
                retry_after=self.rate_limit_reset(response),
            )
        if not isinstance(code, str):
            return super().classify_error(status, body, response)
        if status < 400:
            return None
        description = str(body.get("message") or body.get("error_description") or code)[:200]
        if status >= 500:
            return ProviderTransientError(description, http_status=status, error_code=code)
        if code == "invalid_client":
            # The server does not accept our client (its metadata, the signing key, the
            # assertion): our configuration, not the grant's end.
            return ProviderRequestError(description, http_status=status, error_code=code)
        if code in DEFINITIVE_XRPC_ERRORS:
            return ProviderDefinitiveError(description, http_status=status, error_code=code)
        if code in DPOP_ERRORS:
            # Our proof or a nonce race, not a dead grant: "use_dpop_nonce" here means the
            # retry with the new nonce was refused too.
            error_class = (
                ProviderTransientError if code == "use_dpop_nonce" else ProviderRequestError
            )
            return error_class(description, http_status=status, error_code=code)
        if code.islower() or "_" in code:
            return self.classify_oauth_code(code, description, status=status)
        if status == 401:
            return ProviderDefinitiveError(description, http_status=status, error_code=code)
        return ProviderRequestError(description, http_status=status, error_code=code)

    @staticmethod
    def rate_limit_reset(response: requests.Response) -> float | None:
        """Seconds until the limit resets: ``Retry-After``, else ``ratelimit-reset`` (epoch
        seconds)."""
        retry_after = http.retry_after(response)
        if retry_after is not None:
            return retry_after
        try:
            return max(0.0, float(response.headers.get("ratelimit-reset", "")) - time.time())
        except ValueError:
            return None
