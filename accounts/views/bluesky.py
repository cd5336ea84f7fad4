"""Bluesky's client metadata document: the JSON the ``client_id`` URL must serve.

In AT Protocol OAuth the ``client_id`` (``BLUESKY_CLIENT_ID``) is the HTTPS URL of this
document; the authorization server fetches it at every pushed authorization request. It
must answer 200 with ``application/json`` and repeat that exact URL as ``client_id``
(https://atproto.com/specs/oauth#client-id-metadata-document). The redirect URIs are the
``BLUESKY_REDIRECT_URIS`` setting; for a web client they must be HTTPS URLs on the same
origin as the ``client_id``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.decorators.http import require_GET

from accounts.providers.bluesky import client_metadata as bluesky_client_metadata
from accounts.providers.oauth2 import credentials_for

CACHE_SECONDS = 600


@require_GET
def client_metadata(request):
    """The public client metadata, or 404 where Bluesky is not configured."""
    client_id = credentials_for("bluesky").client_id
    if not client_id:
        raise Http404("bluesky is not configured")
    document = bluesky_client_metadata(
        client_id=client_id,
        redirect_uris=list(getattr(settings, "BLUESKY_REDIRECT_URIS", [])),
    )
    response = JsonResponse(document)
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return response
