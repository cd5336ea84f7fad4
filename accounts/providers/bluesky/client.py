"""The atproto OAuth client: the authorization server's endpoints, the scopes, and the
client metadata document.

The app is identified by ``client_id``, the HTTPS URL of its client metadata document
(``BLUESKY_CLIENT_ID``; served by ``accounts.views.bluesky`` from ``client_metadata``). It
is a *public* client: no secret, ``token_endpoint_auth_method`` "none", DPoP-bound tokens.

The authorization server is the Bluesky entryway ``https://bsky.social``. Its endpoints are
the ones its metadata (``/.well-known/oauth-authorization-server``) declares; they are
hard-coded here rather than fetched on every connect.
"""

from __future__ import annotations

from typing import Any

# Authorization server: the Bluesky entryway, as its metadata document declares.
# https://bsky.social/.well-known/oauth-authorization-server
ISSUER = "https://bsky.social"
PAR_URL = f"{ISSUER}/oauth/par"
AUTHORIZE_URL = f"{ISSUER}/oauth/authorize"
TOKEN_URL = f"{ISSUER}/oauth/token"
REVOKE_URL = f"{ISSUER}/oauth/revoke"
SCOPES = ("atproto", "transition:generic")


def client_metadata(*, client_id: str, redirect_uris: list[str]) -> dict[str, Any]:
    """The client metadata document ``client_id`` must serve (atproto OAuth, public web
    client)."""
    return {
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
