"""What the tests of the Bluesky adapter share: constants, fixtures, the readers of recorded
calls and hand-built answers.

The fixtures are named with ``name=`` (``provider``, ``pkce``, ``held``) so that a test module
imports ``provider_fixture`` and its tests still ask for ``provider``; ``_fresh_nonces`` is
autouse in every module that imports it."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from accounts.providers.base import pkce_pair
from accounts.providers.bluesky import (
    BlueskyProvider,
    Credential,
    dpop_key_from_verifier,
    forget_nonces,
)
from accounts.providers.oauth2 import Credentials
from tests.fake_platforms.bluesky import read_proof

CLIENT_ID = "https://socialhub.example.com/oauth/bluesky/client-metadata.json"
REDIRECT_URI = "https://socialhub.example.com/connect/bluesky/callback"
PAR_URL = "https://bsky.social/oauth/par"
TOKEN_URL = "https://bsky.social/oauth/token"
REVOKE_URL = "https://bsky.social/oauth/revoke"
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
