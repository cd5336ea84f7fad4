"""What the tests of the Bluesky adapter share: constants, fixtures, the readers of recorded
calls and hand-built answers.

The fixtures are named with ``name=`` (``provider``, ``pkce``, ``held``, ``client_key``,
``confidential``) so that a test module imports ``provider_fixture`` and its tests still ask
for ``provider``; ``_fresh_nonces`` is autouse in every module that imports it.

``provider`` is a public client; ``confidential`` is the same client with a signing key
(``client_key``, given as PEM) that authenticates it with ``private_key_jwt``."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from accounts.providers.base import pkce_pair
from accounts.providers.bluesky import (
    BlueskyProvider,
    Credential,
    dpop_key_from_verifier,
    forget_nonces,
    public_jwk,
)
from accounts.providers.oauth2 import Credentials
from tests.fake_platforms.bluesky import read_client_assertion, read_proof, thumbprint

CLIENT_ID = "https://socialhub.example.com/oauth/bluesky/client-metadata.json"
REDIRECT_URI = "https://socialhub.example.com/connect/bluesky/callback"
PAR_URL = "https://bsky.social/oauth/par"
TOKEN_URL = "https://bsky.social/oauth/token"
REVOKE_URL = "https://bsky.social/oauth/revoke"
ISSUER = "https://bsky.social"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
PDS = "https://morel.us-east.host.bsky.network"
PLC_URL = f"https://plc.directory/{DID}"
RESOURCE_URL = f"{PDS}/.well-known/oauth-protected-resource"
CREATE_URL = f"{PDS}/xrpc/com.atproto.repo.createRecord"
UPLOAD_URL = f"{PDS}/xrpc/com.atproto.repo.uploadBlob"
PROFILE_URL = "https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile"


@pytest.fixture(autouse=True)
def _fresh_nonces():
    forget_nonces()
    yield
    forget_nonces()


@pytest.fixture(name="provider")
def provider_fixture() -> BlueskyProvider:
    return BlueskyProvider(Credentials(CLIENT_ID))


@pytest.fixture(name="client_key")
def client_key_fixture() -> ec.EllipticCurvePrivateKey:
    """A confidential client's signing key (EC P-256)."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(name="confidential")
def confidential_fixture(client_key) -> BlueskyProvider:
    """The client of ``provider``, confidential: its signing key configured as PEM."""
    return BlueskyProvider(Credentials(CLIENT_ID, pem_of(client_key)))


def pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    """The PKCS#8 PEM of ``key``, as ``BLUESKY_CLIENT_SECRET`` holds it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def kid_of(key: ec.EllipticCurvePrivateKey) -> str:
    """The key id of a signing key: the RFC 7638 thumbprint of its public JWK."""
    return thumbprint(public_jwk(key))


def assertion_of(call, key: ec.EllipticCurvePrivateKey, *, client_id: str = CLIENT_ID) -> dict:
    """The claims of a recorded call's client assertion, after checking its type, its
    signature (with the public half of ``key``), its header and its claims."""
    form = form_of(call)
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert form["client_id"] == client_id
    header, claims = read_client_assertion(form["client_assertion"], key.public_key())
    assert header == {"alg": "ES256", "kid": kid_of(key)}
    assert set(claims) == {"iss", "sub", "aud", "jti", "iat", "exp"}
    assert claims["iss"] == claims["sub"] == client_id
    assert claims["aud"] == ISSUER
    assert abs(claims["iat"] - time.time()) < 10
    assert claims["exp"] - claims["iat"] == 60  # short-lived: one request
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    # the assertion key is not the DPoP key of the request
    assert thumbprint(proof_of(call)[0]["jwk"]) != kid_of(key)
    return claims


def without_assertion(form: dict[str, str]) -> dict[str, str]:
    """A form without its client assertion fields (what a public client sends)."""
    return {k: v for k, v in form.items() if k not in ("client_assertion", "client_assertion_type")}


@pytest.fixture(name="pkce")
def pkce_fixture() -> tuple[str, str]:
    return pkce_pair()


@pytest.fixture(name="held")
def held_fixture(pkce) -> Credential:
    """A stored session: the platform's tokens wrapped with the DPoP key of ``pkce``."""
    return Credential(token="at-1", key=dpop_key_from_verifier(pkce[0]), did=DID, pds=PDS)


def stored(held: Credential, token: str) -> str:
    return Credential(token=token, key=held.key, did=held.did, pds=held.pds).encode()


def proof_of(call) -> tuple[dict, dict]:
    """The verified header and claims of a recorded call's DPoP proof."""
    return read_proof(call.request.headers["DPoP"])


def form_of(call) -> dict[str, str]:
    return dict(parse_qsl(call.request.body))


def token_body(**overrides) -> dict:
    return {
        "access_token": "at-1",
        "token_type": "DPoP",
        "expires_in": 900,
        "refresh_token": "rt-1",
        "scope": "atproto transition:generic",
        "sub": DID,
        **overrides,
    }


def did_document(pds: str = PDS) -> dict:
    return {
        "id": DID,
        "alsoKnownAs": ["at://ann.bsky.social"],
        "service": [
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}
        ],
    }


def nonce_please(status: int = 400, nonce: str = "nonce-1") -> dict:
    """The answer of a server that wants a (new) DPoP nonce."""
    if status == 401:
        return {
            "status": 401,
            "json": {"error": "use_dpop_nonce", "message": "DPoP nonce mismatch"},
            "headers": {"DPoP-Nonce": nonce, "WWW-Authenticate": 'DPoP error="use_dpop_nonce"'},
        }
    return {
        "status": 400,
        "json": {"error": "use_dpop_nonce", "error_description": "nonce required"},
        "headers": {"DPoP-Nonce": nonce},
    }
