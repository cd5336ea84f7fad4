"""Bluesky identity: an account's DID → its PDS, and the check that bsky.social hosts it.

The token answer names the account in ``sub`` (its DID). The DID document (did:plc via
plc.directory, did:web via ``/.well-known/did.json``) gives the account's PDS, whose
protected-resource metadata must name bsky.social as its authorization server; API calls
go to that PDS. Only accounts hosted by Bluesky (behind that entryway) can connect this
way; the code exchange checks it.

``AtprotoIdentity`` is mixed into ``BlueskyProvider``: it fetches with the adapter's
``api_json`` (so answers are classified like every other call).
"""

from __future__ import annotations

import re

from ..base import ProviderRequestError
from .client import ISSUER

PLC_DIRECTORY = "https://plc.directory"

DID_PLC = re.compile(r"did:plc:[a-z2-7]{24}")
DID_WEB = re.compile(r"did:web:([A-Za-z0-9.-]+(?:%3[Aa][0-9]+)?)")


# https://web.plc.directory/spec/v0.1/did-plc
class AtprotoIdentity:
    """DID resolution for an ``OAuth2Provider`` (it needs ``api_json``)."""

    def did_document_url(self, did: str) -> str:
        if DID_PLC.fullmatch(did):
            return f"{PLC_DIRECTORY}/{did}"
        web = DID_WEB.fullmatch(did)
        if web:
            host = web.group(1).replace("%3A", ":").replace("%3a", ":")
            return f"https://{host}/.well-known/did.json"
        raise ProviderRequestError("bluesky account DID has a method this service cannot resolve")

    def pds_of(self, did: str) -> str:
        """The account's PDS, from its DID document."""
        document = self.api_json("GET", self.did_document_url(did))
        if not isinstance(document, dict) or document.get("id") != did:
            raise ProviderRequestError("bluesky account DID document does not match the DID")
        for service in document.get("service") or []:
            if not isinstance(service, dict):
                continue
            if str(service.get("id", "")).endswith("#atproto_pds") and (
                service.get("type") == "AtprotoPersonalDataServer"
            ):
                endpoint = service.get("serviceEndpoint")
                if isinstance(endpoint, str) and endpoint.startswith("https://"):
                    return endpoint.rstrip("/")
        raise ProviderRequestError("bluesky account DID document names no PDS")

    def check_authorization_server(self, pds: str) -> None:
        """The atproto identity check: the account's PDS must name this issuer as its
        authorization server, or the issuer could vouch for an account it does not host."""
        metadata = self.api_json("GET", f"{pds}/.well-known/oauth-protected-resource")
        servers = metadata.get("authorization_servers") if isinstance(metadata, dict) else None
        if not isinstance(servers, list) or ISSUER not in servers:
            raise ProviderRequestError(
                "bluesky account is not hosted behind the bsky.social authorization server"
            )
