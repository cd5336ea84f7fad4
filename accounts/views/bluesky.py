"""Bluesky's client metadata document: the JSON the ``client_id`` URL must serve.

In AT Protocol OAuth the ``client_id`` (``BLUESKY_CLIENT_ID``) is the HTTPS URL of this
document; the authorization server fetches it at every pushed authorization request. It
must answer 200 with ``application/json`` and repeat that exact URL as ``client_id``
(https://atproto.com/specs/oauth#client-id-metadata-document). The redirect URIs are the
``BLUESKY_REDIRECT_URIS`` setting; for a web client they must be HTTPS URLs on the same
origin as the ``client_id``.

A public client's document declares ``token_endpoint_auth_method`` "none". Once a signing
key is configured (``BLUESKY_CLIENT_SECRET``) the client is confidential: the document
declares ``private_key_jwt`` with ES256 and lists the public half of the key inline
(``jwks``, with its ``kid``), never the private part. A key that does not parse leaves
nothing to serve (404, as without configuration); connecting says why.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.decorators.http import require_GET

from accounts.providers.base import ProviderNotConfigured
from accounts.providers.bluesky import client_metadata as bluesky_client_metadata
from accounts.providers.bluesky import load_client_key
from accounts.providers.oauth2 import credentials_for

CACHE_SECONDS = 600


@require_GET
def client_metadata(request):
    """The client metadata (public or confidential), or 404 where Bluesky is not
    configured."""
    credentials = credentials_for("bluesky")
    if not credentials.client_id:
        raise Http404("bluesky is not configured")
    try:
        client_key = load_client_key(credentials.client_secret)
    except ProviderNotConfigured as exc:
        raise Http404(str(exc)) from None
    document = bluesky_client_metadata(
        client_id=credentials.client_id,
        redirect_uris=list(getattr(settings, "BLUESKY_REDIRECT_URIS", [])),
        client_key=client_key,
    )
    response = JsonResponse(document)
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return response
