"""The opaque stored credential: one token string that carries what using the token needs.

The ``TokenSet`` the adapter returns holds self-contained opaque strings:
``"bsky1." + base64url(JSON)`` with the platform's token, the DPoP private scalar, the
account DID, its PDS URL and the issuer. ``refresh``, ``fetch_profile``, ``publish`` and
``revoke`` parse them back. The stored credential is encrypted at rest as a whole (the
account's token fields are encrypted), key included; neither is ever logged or put into an
error message. A value that does not parse is a dead grant (the creator connects again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from ..base import ProviderDefinitiveError
from .client import ISSUER
from .dpop import b64url, b64url_decode

TOKEN_PREFIX = "bsky1."


@dataclass(frozen=True)
class Credential:
    """What one stored token string carries: the platform's token and what using it needs."""

    token: str
    key: ec.EllipticCurvePrivateKey
    did: str
    pds: str
    issuer: str = ISSUER

    def encode(self) -> str:
        scalar = self.key.private_numbers().private_value.to_bytes(32, "big")
        payload = {
            "token": self.token,
            "dpop_key": b64url(scalar),
            "did": self.did,
            "pds": self.pds,
            "iss": self.issuer,
        }
        return TOKEN_PREFIX + b64url(json.dumps(payload, separators=(",", ":")).encode())

    @classmethod
    def decode(cls, value: str) -> Credential:
        """Parse a stored token; an unreadable one is a dead grant (connect again)."""
        try:
            if not value.startswith(TOKEN_PREFIX):
                raise ValueError
            payload = json.loads(b64url_decode(value[len(TOKEN_PREFIX) :]))
            scalar = int.from_bytes(b64url_decode(payload["dpop_key"]), "big")
            return cls(
                token=str(payload["token"]),
                key=ec.derive_private_key(scalar, ec.SECP256R1()),
                did=str(payload["did"]),
                pds=str(payload["pds"]),
                issuer=str(payload.get("iss") or ISSUER),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ProviderDefinitiveError(
                "the stored bluesky credential is unreadable", error_code="invalid_token"
            ) from None
