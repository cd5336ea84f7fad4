"""Bluesky: AT Protocol OAuth (a public or a confidential client), PAR, PKCE and DPoP-bound
tokens.

Two client modes (https://atproto.com/specs/oauth, "Confidential clients"):

- *public* (``BLUESKY_CLIENT_ID`` only): no client authentication
  (``token_endpoint_auth_method`` "none"). The atproto OAuth specification keeps public
  clients' sessions short (about a week overall), so creators connect again about weekly;
- *confidential* (``BLUESKY_CLIENT_SECRET`` also holds an EC P-256 private key, PEM or
  JWK): ``private_key_jwt``, an ES256 client assertion on PAR, token and revocation
  requests, the public key in the client metadata document. Sessions may then last much
  longer (refresh tokens of up to 180 days, no overall limit in the specification).

- ``provider``: ``BlueskyProvider``, the adapter (OAuth with PAR, refresh, revoke, profile,
  publish, error classification) and the DPoP-signed requests it makes;
- ``client``: the bsky.social entryway's endpoints, the scopes, the confidential client's
  signing key (``load_client_key``, ``ClientKey``: its key id and client assertions),
  ``client_metadata`` (the document ``client_id`` serves);
- ``dpop``: the DPoP key derived from the PKCE verifier, DPoP proofs, the nonces servers
  issue;
- ``credential``: ``Credential``, the opaque ``bsky1.`` token string that carries the
  platform's token with the DPoP key, DID and PDS it needs;
- ``identity``: DID → PDS resolution and the check that bsky.social hosts the account;
- ``text``: post text (grapheme count, link and hashtag facets).

Everything is re-exported here. These are the same objects as in the modules, so a test
that monkeypatches a name must patch it in the module that looks it up (for example
``accounts.providers.bluesky.provider``), not here.
"""

from __future__ import annotations

from .client import (
    AUTHORIZE_URL,
    CLIENT_ASSERTION_LIFETIME,
    CLIENT_ASSERTION_TYPE,
    ISSUER,
    PAR_URL,
    REVOKE_URL,
    SCOPES,
    SIGNING_ALG,
    TOKEN_URL,
    ClientKey,
    client_metadata,
    load_client_key,
)
from .credential import TOKEN_PREFIX, Credential
from .dpop import (
    access_token_hash,
    b64url,
    b64url_decode,
    dpop_key_from_verifier,
    dpop_proof,
    es256_jwt,
    forget_nonces,
    htu,
    jwk_thumbprint,
    origin_of,
    public_jwk,
)
from .identity import DID_PLC, DID_WEB, PLC_DIRECTORY, AtprotoIdentity
from .provider import (
    DEFINITIVE_XRPC_ERRORS,
    DPOP_ERRORS,
    MAX_GRAPHEMES,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    MAX_TEXT_BYTES,
    POST_COLLECTION,
    PUBLIC_APPVIEW,
    RATE_LIMIT_ERROR,
    BlueskyProvider,
)
from .text import TAG_PATTERN, TRAILING_PUNCTUATION, URL_PATTERN, facets, grapheme_count

__all__ = [
    "AUTHORIZE_URL",
    "CLIENT_ASSERTION_LIFETIME",
    "CLIENT_ASSERTION_TYPE",
    "DEFINITIVE_XRPC_ERRORS",
    "DID_PLC",
    "DID_WEB",
    "DPOP_ERRORS",
    "ISSUER",
    "MAX_GRAPHEMES",
    "MAX_IMAGES",
    "MAX_IMAGE_BYTES",
    "MAX_TEXT_BYTES",
    "PAR_URL",
    "PLC_DIRECTORY",
    "POST_COLLECTION",
    "PUBLIC_APPVIEW",
    "RATE_LIMIT_ERROR",
    "REVOKE_URL",
    "SCOPES",
    "SIGNING_ALG",
    "TAG_PATTERN",
    "TOKEN_PREFIX",
    "TOKEN_URL",
    "TRAILING_PUNCTUATION",
    "URL_PATTERN",
    "AtprotoIdentity",
    "BlueskyProvider",
    "ClientKey",
    "Credential",
    "access_token_hash",
    "b64url",
    "b64url_decode",
    "client_metadata",
    "dpop_key_from_verifier",
    "dpop_proof",
    "es256_jwt",
    "facets",
    "forget_nonces",
    "grapheme_count",
    "htu",
    "jwk_thumbprint",
    "load_client_key",
    "origin_of",
    "public_jwk",
]
