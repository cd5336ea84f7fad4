"""DPoP (RFC 9449) for Bluesky: the key of an authorization, its proofs, the servers' nonces.

DPoP is mandatory: every request to the authorization server and to the account's PDS
carries an ES256 proof (``htm``, ``htu``, ``iat``, ``jti``, the server's nonce, and ``ath``
at the PDS). Servers issue nonces: the last nonce seen per origin is remembered in the
process (``BlueskyProvider.dpop_request`` sends it, and retries once with the new one when
a server answers ``use_dpop_nonce``).

The DPoP key binds the tokens, while the adapter interface only passes token strings
around. So the key pair is derived from the PKCE ``code_verifier`` (HKDF-SHA256 over the
verifier, salted with a hash of ``SECRET_KEY``, reduced to a P-256 private scalar):
``authorization_url`` (PAR) and ``exchange_code`` (token request) receive the same
verifier, so both use the same key without storing it anywhere in between. The salt keeps
the key out of reach of anyone who only learns the verifier. After the exchange the key
travels inside the stored credential (``credential.Credential``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from ..base import ProviderRequestError

_nonce_lock = threading.Lock()
_nonces: dict[str, str] = {}  # origin -> the last DPoP nonce it sent


def forget_nonces() -> None:
    """Drop the remembered DPoP nonces (tests start from a clean slate)."""
    with _nonce_lock:
        _nonces.clear()


def _nonce(origin: str) -> str | None:
    with _nonce_lock:
        return _nonces.get(origin)


def _remember_nonce(origin: str, nonce: str) -> None:
    with _nonce_lock:
        _nonces[origin] = nonce


# --- keys and DPoP proofs ----------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def dpop_key_from_verifier(code_verifier: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 DPoP key of one authorization, derived from its PKCE verifier."""
    if not code_verifier:
        raise ProviderRequestError("bluesky needs the PKCE code verifier to derive the DPoP key")
    salt = hashlib.sha256(f"socialhub bluesky dpop {settings.SECRET_KEY}".encode()).digest()
    material = HKDF(
        algorithm=hashes.SHA256(), length=48, salt=salt, info=b"socialhub/bluesky/dpop-key/v1"
    ).derive(code_verifier.encode())
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 n
    scalar = int.from_bytes(material, "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of a P-256 public JWK (the ``jkt`` a token is bound to)."""
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(token: str) -> str:
    """The DPoP ``ath`` claim: base64url(SHA-256(access token))."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def htu(url: str) -> str:
    """The DPoP ``htu`` of ``url``: without query and fragment."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def dpop_proof(
    key: ec.EllipticCurvePrivateKey,
    method: str,
    url: str,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
) -> str:
    """A DPoP proof JWT (RFC 9449) signed with ES256."""
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key)}
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(18),
        "htm": method.upper(),
        "htu": htu(url),
        "iat": int(time.time()),
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["ath"] = access_token_hash(access_token)
    return es256_jwt(key, header, claims)


def es256_jwt(key: ec.EllipticCurvePrivateKey, header: dict, claims: dict) -> str:
    """A compact JWS of ``claims`` signed with ES256 (the raw 64-byte ``r || s`` signature
    of RFC 7518 §3.4): DPoP proofs and client assertions."""
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
