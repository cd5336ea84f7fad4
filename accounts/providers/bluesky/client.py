"""The atproto OAuth client: the authorization server's endpoints, the scopes, the client's
signing key and the client metadata document.

The app is identified by ``client_id``, the HTTPS URL of its client metadata document
(``BLUESKY_CLIENT_ID``; served by ``accounts.views.bluesky`` from ``client_metadata``). It
runs in one of two modes (https://atproto.com/specs/oauth, "Confidential clients" and
"Client Authentication"):

* **public** (no ``BLUESKY_CLIENT_SECRET``): ``token_endpoint_auth_method`` "none", the client
  only names itself. The atproto OAuth specification caps public clients' sessions (about a
  week overall, short refresh tokens), so creators reconnect about weekly.
* **confidential** (``BLUESKY_CLIENT_SECRET`` holds an EC P-256 private key, PEM or JWK):
  ``private_key_jwt``. The metadata document publishes the public half of the key
  (``jwks``, ``kid`` = its RFC 7638 thumbprint) and every request that authenticates the
  client (PAR, token, revocation) carries a fresh ES256 client assertion (RFC 7523) signed
  with it. The atproto OAuth specification lets confidential clients' sessions last much
  longer (refresh tokens of up to 180 days, no overall limit), so creators stay connected.

The signing key authenticates the app; it is not the DPoP key of an authorization (a
different key per authorization, see ``dpop``). Tokens are DPoP-bound in both modes.

The authorization server is the Bluesky entryway ``https://bsky.social``. Its endpoints are
the ones its metadata (``/.well-known/oauth-authorization-server``) declares; they are
hard-coded here rather than fetched on every connect.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..base import ProviderNotConfigured
from .dpop import b64url_decode, es256_jwt, jwk_thumbprint, public_jwk

# Authorization server: the Bluesky entryway, as its metadata document declares.
# https://bsky.social/.well-known/oauth-authorization-server
ISSUER = "https://bsky.social"
PAR_URL = f"{ISSUER}/oauth/par"
AUTHORIZE_URL = f"{ISSUER}/oauth/authorize"
TOKEN_URL = f"{ISSUER}/oauth/token"
REVOKE_URL = f"{ISSUER}/oauth/revoke"
SCOPES = ("atproto", "transition:generic")

# RFC 7523 §2.2: the client_assertion_type of a JWT client assertion.
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ASSERTION_LIFETIME = 60  # seconds: each assertion is made for one request
SIGNING_ALG = "ES256"

MALFORMED_KEY = (
    "bluesky client signing key (BLUESKY_CLIENT_SECRET) is not an EC P-256 private key "
    "in PEM or JWK form"
)


@dataclass(frozen=True, repr=False)
class ClientKey:
    """The confidential client's signing key and its key id (the RFC 7638 thumbprint of
    its public JWK). ``repr`` shows only the key id."""

    key: ec.EllipticCurvePrivateKey
    kid: str

    def __repr__(self) -> str:
        return f"ClientKey(kid={self.kid!r})"

    @classmethod
    def of(cls, key: ec.EllipticCurvePrivateKey) -> ClientKey:
        return cls(key=key, kid=jwk_thumbprint(public_jwk(key)))

    def public_jwk(self) -> dict[str, str]:
        """The public half, as the metadata document's ``jwks`` lists it."""
        return {**public_jwk(self.key), "kid": self.kid, "alg": SIGNING_ALG, "use": "sig"}

    def assertion(self, *, client_id: str, audience: str = ISSUER) -> str:
        """A fresh client assertion (RFC 7523 §3, atproto "Client Authentication"): signed
        by this key, for ``client_id`` at the authorization server ``audience``."""
        now = int(time.time())
        return es256_jwt(
            self.key,
            {"alg": SIGNING_ALG, "kid": self.kid},
            {
                "iss": client_id,
                "sub": client_id,
                "aud": audience,
                "jti": secrets.token_urlsafe(18),
                "iat": now,
                "exp": now + CLIENT_ASSERTION_LIFETIME,
            },
        )


def load_client_key(value: str) -> ClientKey | None:
    """The signing key configured as ``value`` (a PEM private key, or a private JWK as
    JSON); ``None`` when nothing is configured (a public client). A value that is not an EC
    P-256 private key raises ``ProviderNotConfigured`` (the message never repeats it)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        key = _jwk_private_key(value) if value.startswith("{") else _pem_private_key(value)
    except (ValueError, TypeError, KeyError, AttributeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ProviderNotConfigured(MALFORMED_KEY) from None
    return ClientKey.of(key)


def _pem_private_key(value: str) -> Any:
    if "\\n" in value and "\n" not in value:  # a PEM put on one line, as .env files hold it
        value = value.replace("\\n", "\n")
    return serialization.load_pem_private_key(value.encode(), password=None)


def _jwk_private_key(value: str) -> ec.EllipticCurvePrivateKey | None:
    jwk = json.loads(value)
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    key = ec.derive_private_key(int.from_bytes(b64url_decode(jwk["d"]), "big"), ec.SECP256R1())
    public = public_jwk(key)
    if "x" in jwk and "y" in jwk and (jwk["x"], jwk["y"]) != (public["x"], public["y"]):
        return None  # the public half does not belong to the private one
    return key


def client_metadata(
    *, client_id: str, redirect_uris: list[str], client_key: ClientKey | None = None
) -> dict[str, Any]:
    """The client metadata document ``client_id`` must serve (atproto OAuth, a web
    client): public without ``client_key``, confidential (``private_key_jwt``, the public
    key inline) with it."""
    document: dict[str, Any] = {
        "client_id": client_id,
        "client_name": "socialhub",
        "application_type": "web",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": " ".join(SCOPES),
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": True,
        "redirect_uris": list(redirect_uris),
    }
    if client_key is not None:
        document["token_endpoint_auth_method"] = "private_key_jwt"
        document["token_endpoint_auth_signing_alg"] = SIGNING_ALG
        document["jwks"] = {"keys": [client_key.public_jwk()]}
    return document
