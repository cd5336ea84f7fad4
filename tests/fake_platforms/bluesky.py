"""A fake of Bluesky: the bsky.social entryway (PAR, authorize, token, revoke), the PLC
directory, one PDS and the public AppView.

It checks what the real servers check: the client, PKCE S256, pushed authorization
requests, DPoP proofs on every entryway and PDS call (the ES256 signature, ``htm``/``htu``,
a fresh ``jti``, the server's nonce, ``ath`` at the PDS) and that the tokens stay bound to
the key that started the authorization (the ``jkt``). A request without the current nonce
gets ``use_dpop_nonce`` (400 at the entryway, 401 with ``WWW-Authenticate: DPoP`` at the
PDS) and every answer carries the ``DPoP-Nonce`` header.

The client is public by default (it names itself with ``client_id``). Given a client public
key (``BlueskyFake(client_public_key=...)`` or the attribute, set by a test), it is a
confidential client: PAR, token and revocation requests must carry a client assertion
(RFC 7523: ES256 signed by that key with its ``kid``, ``iss`` = ``sub`` = the client id,
``aud`` = the issuer, ``exp`` in the future, a ``jti`` never seen before), or get
``invalid_client`` (401).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .base import Answer, FakePlatform, FakeUser, Grant, Request, redirect, s256, with_query

ENTRYWAY = "bsky.social"
ISSUER = f"https://{ENTRYWAY}"
PLC = "plc.directory"
PDS = "morel.us-east.host.bsky.network"
APPVIEW = "public.api.bsky.app"
PROOF_MAX_AGE = 300
ASSERTION_MAX_LIFETIME = 300
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(jwk: dict) -> str:
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


class ProofError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def public_key_jwk(public_key: ec.EllipticCurvePublicKey) -> dict:
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def read_jwt(
    token: str, public_key=None, *, error: str = "invalid_dpop_proof"
) -> tuple[dict, dict]:
    """The header and claims of an ES256 JWT whose signature verifies against
    ``public_key``, or (without one) the JWK its header carries; ``ProofError`` (with
    ``error``) otherwise."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(b64url_decode(header_part))
        claims = json.loads(b64url_decode(claims_part))
        signature = b64url_decode(signature_part)
        if header.get("alg") != "ES256" or not isinstance(claims, dict):
            raise ProofError(error, "alg must be ES256")
        if public_key is None:
            jwk = header["jwk"]
            if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "d" in jwk:
                raise ProofError(error, "jwk must be a public P-256 key")
            public_key = ec.EllipticCurvePublicNumbers(
                int.from_bytes(b64url_decode(jwk["x"]), "big"),
                int.from_bytes(b64url_decode(jwk["y"]), "big"),
                ec.SECP256R1(),
            ).public_key()
        if len(signature) != 64:
            raise ProofError(error, "bad ES256 signature length")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        public_key.verify(der, f"{header_part}.{claims_part}".encode(), ec.ECDSA(hashes.SHA256()))
    except ProofError:
        raise
    except InvalidSignature:
        raise ProofError(error, "signature does not verify") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ProofError(error, "malformed JWT") from None
    return header, claims


def read_proof(proof: str) -> tuple[dict, dict]:
    """The header and claims of a DPoP proof whose ES256 signature verifies against the
    JWK it carries; ``ProofError`` otherwise."""
    header, claims = read_jwt(proof)
    if header.get("typ") != "dpop+jwt":
        raise ProofError("invalid_dpop_proof", "typ must be dpop+jwt and alg ES256")
    return header, claims


def read_client_assertion(
    assertion: str, public_key: ec.EllipticCurvePublicKey
) -> tuple[dict, dict]:
    """The header and claims of a client assertion signed by ``public_key`` (whose kid
    is the RFC 7638 thumbprint of its JWK); ``ProofError("invalid_client")`` otherwise."""
    header, claims = read_jwt(assertion, public_key, error="invalid_client")
    if header.get("kid") != thumbprint(public_key_jwk(public_key)):
        raise ProofError("invalid_client", "unknown kid")
    return header, claims


class BlueskyFake(FakePlatform):
    platform = "bluesky"
    hosts = (ENTRYWAY, PLC, PDS, APPVIEW)
    client_auth = "none"
    access_ttl = 900
    e2e_media_urls = ["https://cdn.example.com/photo.jpg"]

    # The public half of a confidential client's signing key; None: a public client.
    client_public_key: ec.EllipticCurvePublicKey | None = None

    def __init__(self, *, client_public_key: ec.EllipticCurvePublicKey | None = None) -> None:
        super().__init__()
        if client_public_key is not None:
            self.client_public_key = client_public_key
        self.seen_assertion_jti: set[str] = set()
        self.nonces = {
            ENTRYWAY: "n-" + secrets.token_urlsafe(12),
            PDS: "n-" + secrets.token_urlsafe(12),
        }
        self.seen_jti: set[str] = set()
        self.pushed: dict[str, dict] = {}  # request_uri -> the pushed request
        self.bound: dict[int, str] = {}  # id(grant) -> the jkt its tokens are bound to
        self.blobs: dict[str, dict] = {}  # cid -> {did, mimeType, size}

    # --- set-up ----------------------------------------------------------------------------

    def user(self, handle: str, *, followers: int = 0, name: str | None = None) -> FakeUser:
        """An account, kept under ``handle`` but named by a full Bluesky handle (a domain
        name: ``fakeuser`` is ``fakeuser.bsky.social``)."""
        user = super().user(handle, followers=followers, name=name)
        if "." not in user.handle:
            user.handle = f"{user.handle}.bsky.social"
        return user

    @staticmethod
    def upstream_token(stored: str) -> str:
        """The platform token inside a token string the adapter hands out (which also
        carries the DPoP key, DID and PDS), to compare with ``revoked``."""
        from accounts.providers.bluesky import Credential

        return Credential.decode(stored).token

    def rotate_nonces(self) -> None:
        for host in self.nonces:
            self.nonces[host] = "n-" + secrets.token_urlsafe(12)

    def did_of(self, user: FakeUser) -> str:
        digest = base64.b32encode(hashlib.sha256(f"fake-plc:{user.id}".encode()).digest())
        return "did:plc:" + digest.decode().lower()[:24]

    def handle_of(self, user: FakeUser) -> str:
        return user.handle

    def user_by_did(self, did: str) -> FakeUser | None:
        return next((u for u in self.users.values() if self.did_of(u) == did), None)

    def routes(self):
        return [
            ("GET", ENTRYWAY, r"/\.well-known/oauth-authorization-server", self.server_metadata),
            ("POST", ENTRYWAY, r"/oauth/par", self.par),
            ("GET", ENTRYWAY, r"/oauth/authorize", self.authorize),
            ("POST", ENTRYWAY, r"/oauth/token", self.token),
            ("POST", ENTRYWAY, r"/oauth/revoke", self.revoke),
            ("GET", PLC, r"/(?P<did>did:plc:[a-z2-7]+)", self.did_document),
            ("GET", PDS, r"/\.well-known/oauth-protected-resource", self.resource_metadata),
            ("POST", PDS, r"/xrpc/com\.atproto\.repo\.uploadBlob", self.upload_blob),
            ("POST", PDS, r"/xrpc/com\.atproto\.repo\.createRecord", self.create_record),
            ("GET", APPVIEW, r"/xrpc/app\.bsky\.actor\.getProfile", self.get_profile),
        ]

    def handle(self, request: Request) -> Answer:
        answer = super().handle(request)
        if request.host in self.nonces:
            answer = Answer(
                answer.status,
                answer.body,
                {**answer.headers, "DPoP-Nonce": self.nonces[request.host]},
            )
        return answer

    # --- DPoP ------------------------------------------------------------------------------

    def check_proof(self, request: Request, *, access_token: str | None = None) -> str:
        """The jkt of the request's valid DPoP proof; ``ProofError`` otherwise."""
        proof = request.headers.get("dpop", "")
        if not proof:
            raise ProofError("invalid_dpop_proof", "DPoP proof required")
        header, claims = read_proof(proof)
        if claims.get("htm") != request.method:
            raise ProofError("invalid_dpop_proof", "htm does not match the request")
        if claims.get("htu") != f"https://{request.host}{request.path}":
            raise ProofError("invalid_dpop_proof", "htu does not match the request")
        iat = claims.get("iat")
        if not isinstance(iat, int) or abs(time.time() - iat) > PROOF_MAX_AGE:
            raise ProofError("invalid_dpop_proof", "iat too far from now")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or jti in self.seen_jti:
            raise ProofError("invalid_dpop_proof", "jti missing or replayed")
        if claims.get("nonce") != self.nonces[request.host]:
            raise ProofError("use_dpop_nonce", "Authorization server requires nonce in DPoP proof")
        if access_token is not None:
            expected = b64url(hashlib.sha256(access_token.encode()).digest())
            if claims.get("ath") != expected:
                raise ProofError("invalid_dpop_proof", "ath does not match the access token")
        self.seen_jti.add(jti)
        return thumbprint(header["jwk"])

    # --- client authentication ---------------------------------------------------------------

    def client_refusal(self, request: Request) -> Answer | None:
        """``invalid_client`` (401) unless the request names the client and, for a
        confidential client, carries a valid client assertion (RFC 7523 §3)."""
        if not self.client_ok(request):
            return self.oauth_error("invalid_client", "unknown client", 401)
        if self.client_public_key is None:
            return None
        try:
            self.check_client_assertion(request.form)
        except ProofError as error:
            return self.oauth_error("invalid_client", error.description, 401)
        return None

    def check_client_assertion(self, form: dict[str, str]) -> None:
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise ProofError("invalid_client", "client authentication required")
        _header, claims = read_client_assertion(
            form.get("client_assertion", ""), self.client_public_key
        )
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise ProofError("invalid_client", "iss and sub must be the client id")
        audience = claims.get("aud")
        if audience != ISSUER and not (isinstance(audience, list) and ISSUER in audience):
            raise ProofError("invalid_client", "aud must be the issuer")
        now = time.time()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or exp <= now:
            raise ProofError("invalid_client", "client assertion expired")
        if not isinstance(iat, int) or iat > now + 60 or exp - iat > ASSERTION_MAX_LIFETIME:
            raise ProofError("invalid_client", "iat in the future or lifetime too long")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or jti in self.seen_assertion_jti:
            raise ProofError("invalid_client", "jti missing or replayed")
        self.seen_assertion_jti.add(jti)

    def oauth_proof_error(self, error: ProofError) -> Answer:
        return self.oauth_error(error.error, error.description, 400)

    def xrpc_error(self, status: int, error: str, message: str, **headers: str) -> Answer:
        return Answer(status, {"error": error, "message": message}, dict(headers))

    # --- entryway ---------------------------------------------------------------------------

    def server_metadata(self, request: Request) -> Answer:
        return Answer(
            200,
            {
                "issuer": ISSUER,
                "pushed_authorization_request_endpoint": f"{ISSUER}/oauth/par",
                "authorization_endpoint": f"{ISSUER}/oauth/authorize",
                "token_endpoint": f"{ISSUER}/oauth/token",
                "revocation_endpoint": f"{ISSUER}/oauth/revoke",
                "require_pushed_authorization_requests": True,
                "dpop_signing_alg_values_supported": ["ES256"],
                "scopes_supported": ["atproto", "transition:generic", "transition:chat.bsky"],
                "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
                "authorization_response_iss_parameter_supported": True,
                "client_id_metadata_document_supported": True,
            },
        )

    def par(self, request: Request) -> Answer:
        refusal = self.client_refusal(request)
        if refusal is not None:
            return refusal
        try:
            jkt = self.check_proof(request)
        except ProofError as error:
            return self.oauth_proof_error(error)
        form = request.form
        if form.get("response_type") != "code":
            return self.oauth_error("unsupported_response_type")
        if not form.get("code_challenge") or form.get("code_challenge_method") != "S256":
            return self.oauth_error("invalid_request", "PKCE S256 required")
        if not form.get("state"):
            return self.oauth_error("invalid_request", "state required")
        if not form.get("redirect_uri", "").startswith(("https://", "http://")):
            return self.oauth_error("invalid_redirect_uri", "bad redirect_uri")
        scopes = self.requested_scopes(form.get("scope", ""))
        if "atproto" not in scopes:
            return self.oauth_error("invalid_scope", "the atproto scope is required")
        request_uri = "urn:ietf:params:oauth:request_uri:req-" + secrets.token_hex(16)
        self.pushed[request_uri] = {**form, "scopes": scopes, "jkt": jkt}
        return Answer(201, {"request_uri": request_uri, "expires_in": 299})

    def authorize(self, request: Request) -> Answer:
        """Approve at once for ``fake_user`` (query), the PAR's ``login_hint`` or
        ``fakeuser``; the request parameters come from the pushed request only."""
        q = request.query
        pushed = self.pushed.pop(q.get("request_uri", ""), None)
        if pushed is None or q.get("client_id") != pushed["client_id"]:
            return Answer(400, "unknown or used request_uri")
        hint = pushed.get("login_hint", "").removesuffix(".bsky.social")
        handle = q.get("fake_user") or hint or "fakeuser"
        user = self.users.get(handle) or self.user(
            handle, followers=int(q.get("fake_followers", 0))
        )
        code = "cod-" + secrets.token_urlsafe(16)
        self.codes[code] = {
            "user": user,
            "redirect_uri": pushed["redirect_uri"],
            "challenge": pushed["code_challenge"],
            "scopes": pushed["scopes"],
            "jkt": pushed["jkt"],
            "client_id": pushed["client_id"],
        }
        return redirect(
            with_query(pushed["redirect_uri"], code=code, state=pushed["state"], iss=ISSUER)
        )

    def token_answer(self, grant: Grant) -> Answer:
        answer = super().token_answer(grant)
        return Answer(
            answer.status, {**answer.body, "token_type": "DPoP", "sub": self.did_of(grant.user)}
        )

    def token(self, request: Request) -> Answer:
        refusal = self.client_refusal(request)
        if refusal is not None:
            return refusal
        try:
            jkt = self.check_proof(request)
        except ProofError as error:
            return self.oauth_proof_error(error)
        form = request.form
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            issued = self.codes.pop(form.get("code", ""), None)
            if issued is None:
                return self.oauth_error("invalid_grant", "Invalid code")
            if form.get("redirect_uri") != issued["redirect_uri"]:
                return self.oauth_error("invalid_grant", "redirect_uri differs")
            if s256(form.get("code_verifier", "")) != issued["challenge"]:
                return self.oauth_error("invalid_grant", "Invalid code_verifier")
            if jkt != issued["jkt"]:
                return self.oauth_error("invalid_grant", "DPoP key differs from the PAR's")
            grant = self.new_grant(issued["user"], issued["scopes"])
            self.bound[id(grant)] = jkt
            return self.token_answer(grant)
        if grant_type == "refresh_token":
            grant = self.by_refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked:
                return self.oauth_error("invalid_grant", "Invalid refresh token")
            if self.bound.get(id(grant)) != jkt:
                return self.oauth_error("invalid_grant", "DPoP key mismatch")
            return self.token_answer(self.rotate(grant))
        return self.oauth_error("unsupported_grant_type")

    def revoke(self, request: Request) -> Answer:
        refusal = self.client_refusal(request)
        if refusal is not None:
            return refusal
        try:
            self.check_proof(request)
        except ProofError as error:
            return self.oauth_proof_error(error)
        self.revoke_token(request.form.get("token", ""))
        return Answer(200, {})

    # --- identity ---------------------------------------------------------------------------

    def did_document(self, request: Request, did: str) -> Answer:
        user = self.user_by_did(did)
        if user is None:
            return Answer(404, {"message": f"DID not registered: {did}"})
        return Answer(
            200,
            {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": did,
                "alsoKnownAs": [f"at://{self.handle_of(user)}"],
                "verificationMethod": [],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": f"https://{PDS}",
                    }
                ],
            },
        )

    def resource_metadata(self, request: Request) -> Answer:
        return Answer(
            200,
            {
                "resource": f"https://{PDS}",
                "authorization_servers": [ISSUER],
                "scopes_supported": [],
                "bearer_methods_supported": ["header"],
            },
        )

    # --- PDS -------------------------------------------------------------------------------

    def pds_grant(self, request: Request) -> tuple[Grant | None, Answer | None]:
        """The grant of a DPoP-authorized PDS call, or the answer refusing it."""
        token = request.bearer("DPoP")
        if token is None:
            return None, self.xrpc_error(401, "AuthMissing", "Authentication Required")
        try:
            jkt = self.check_proof(request, access_token=token)
        except ProofError as error:
            if error.error == "use_dpop_nonce":
                return None, self.xrpc_error(
                    401,
                    error.error,
                    error.description,
                    **{"WWW-Authenticate": f'DPoP error="{error.error}"'},
                )
            return None, self.xrpc_error(400, error.error, error.description)
        grant = self.grant_for(request, "DPoP")
        if grant is None:
            return None, self.xrpc_error(
                401,
                "InvalidToken",
                "Token could not be verified",
                **{"WWW-Authenticate": 'DPoP error="invalid_token"'},
            )
        if self.bound.get(id(grant)) != jkt:
            return None, self.xrpc_error(400, "invalid_dpop_proof", "DPoP key mismatch")
        if "transition:generic" not in grant.scopes:
            return None, self.xrpc_error(403, "InsufficientScope", "Missing transition:generic")
        return grant, None

    def upload_blob(self, request: Request) -> Answer:
        grant, refusal = self.pds_grant(request)
        if grant is None:
            return refusal
        mime_type = request.headers.get("content-type", "")
        if not request.body or not mime_type:
            return self.xrpc_error(400, "InvalidRequest", "Request body and type required")
        cid = "bafkrei" + base64.b32encode(hashlib.sha256(request.body).digest()).decode()
        cid = cid.lower().rstrip("=")[:59]
        self.blobs[cid] = {
            "did": self.did_of(grant.user),
            "mimeType": mime_type,
            "size": len(request.body),
        }
        return Answer(
            200,
            {
                "blob": {
                    "$type": "blob",
                    "ref": {"$link": cid},
                    "mimeType": mime_type,
                    "size": len(request.body),
                }
            },
        )

    def create_record(self, request: Request) -> Answer:
        grant, refusal = self.pds_grant(request)
        if grant is None:
            return refusal
        body: Any = request.json
        did = self.did_of(grant.user)
        if not isinstance(body, dict) or body.get("repo") != did:
            return self.xrpc_error(400, "InvalidRequest", "repo must be the session's DID")
        if body.get("collection") != "app.bsky.feed.post":
            return self.xrpc_error(400, "InvalidRequest", "unexpected collection")
        record = body.get("record")
        if (
            not isinstance(record, dict)
            or record.get("$type") != "app.bsky.feed.post"
            or not isinstance(record.get("text"), str)
            or not isinstance(record.get("createdAt"), str)
            or len(record["text"].encode()) > 3000
        ):
            return self.xrpc_error(400, "InvalidRequest", "Invalid app.bsky.feed.post record")
        images: list[str] = []
        embed = record.get("embed")
        if embed is not None:
            if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.images":
                return self.xrpc_error(400, "InvalidRequest", "unsupported embed")
            for image in embed.get("images") or []:
                cid = ((image.get("image") or {}).get("ref") or {}).get("$link")
                if self.blobs.get(cid, {}).get("did") != did or "alt" not in image:
                    return self.xrpc_error(400, "InvalidRequest", "Could not find blob")
                images.append(cid)
            if not 1 <= len(images) <= 4:
                return self.xrpc_error(400, "InvalidRequest", "1 to 4 images")
        rkey = "3" + secrets.token_hex(6)
        uri = f"at://{did}/app.bsky.feed.post/{rkey}"
        self.record_post(grant, uri=uri, text=record["text"], images=images, record=record)
        grant.user.posts += 1
        return Answer(200, {"uri": uri, "cid": "bafyrei" + secrets.token_hex(26)})

    # --- AppView ----------------------------------------------------------------------------

    def get_profile(self, request: Request) -> Answer:
        actor = request.query.get("actor", "")
        user = self.user_by_did(actor) or next(
            (u for u in self.users.values() if self.handle_of(u) == actor), None
        )
        if user is None:
            return self.xrpc_error(400, "InvalidRequest", "Profile not found")
        return Answer(
            200,
            {
                "did": self.did_of(user),
                "handle": self.handle_of(user),
                "displayName": user.name,
                "avatar": user.avatar_url,
                "followersCount": user.followers,
                "followsCount": user.following,
                "postsCount": user.posts,
                "indexedAt": "2024-01-01T00:00:00.000Z",
            },
        )


FAKES = [BlueskyFake]
