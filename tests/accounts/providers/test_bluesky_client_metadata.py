"""The atproto OAuth client metadata document, served at the URL that is the client_id."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory

from accounts.views.bluesky import client_metadata
from tests.accounts.providers.bluesky_answers import CLIENT_ID, REDIRECT_URI

# --- client metadata view --------------------------------------------------------------------


@pytest.mark.django_db
def test_client_metadata_view(credentials, settings):
    credentials["bluesky"] = {"client_id": CLIENT_ID, "client_secret": ""}
    settings.BLUESKY_REDIRECT_URIS = [REDIRECT_URI]

    response = Client().get("/oauth/bluesky/client-metadata.json")  # served at this URL

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "client_id": CLIENT_ID,
        "client_name": "socialhub",
        "application_type": "web",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "atproto transition:generic",
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": True,
        "redirect_uris": [REDIRECT_URI],
    }


def test_client_metadata_view_without_configuration(credentials):
    from django.http import Http404

    credentials["bluesky"] = {"client_id": "", "client_secret": ""}
    with pytest.raises(Http404):
        client_metadata(RequestFactory().get("/oauth/bluesky/client-metadata.json"))
