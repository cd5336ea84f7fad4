"""The atproto OAuth client metadata document, served at the URL that is the client_id, of
a public and of a confidential client; the confidential client's signing key (PEM or JWK,
a malformed one is not a configuration)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.http import Http404
from django.test import Client, RequestFactory

from accounts.providers import provider_for
from accounts.providers.base import ProviderNotConfigured
from accounts.providers.bluesky import (
    b64url,
    client_metadata,
    jwk_thumbprint,
    load_client_key,
    public_jwk,
)
from accounts.views.bluesky import client_metadata as client_metadata_view
from tests.accounts.providers.bluesky_answers import (
    CLIENT_ID,
    REDIRECT_URI,
    client_key_fixture,  # noqa: F401 - a fixture
    kid_of,
    pem_of,
)

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
    credentials["bluesky"] = {"client_id": "", "client_secret": ""}
    with pytest.raises(Http404):
        client_metadata_view(RequestFactory().get("/oauth/bluesky/client-metadata.json"))


# --- confidential client ---------------------------------------------------------------------


def private_jwk_json(key: ec.EllipticCurvePrivateKey, **overrides) -> str:
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return json.dumps({**public_jwk(key), "d": b64url(scalar), **overrides})


@pytest.mark.django_db
def test_client_metadata_view_of_a_confidential_client(credentials, settings, client_key):
    pem = pem_of(client_key)
    credentials["bluesky"] = {"client_id": CLIENT_ID, "client_secret": pem}
    settings.BLUESKY_REDIRECT_URIS = [REDIRECT_URI]

    response = Client().get("/oauth/bluesky/client-metadata.json")

    assert response.status_code == 200
    document = json.loads(response.content)
    assert document == {
        "client_id": CLIENT_ID,
        "client_name": "socialhub",
        "application_type": "web",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "atproto transition:generic",
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": {
            "keys": [
                {**public_jwk(client_key), "kid": kid_of(client_key), "alg": "ES256", "use": "sig"}
            ]
        },
        "dpop_bound_access_tokens": True,
        "redirect_uris": [REDIRECT_URI],
    }
    assert "jwks_uri" not in document  # one or the other, never both
    # Nothing of the private key: no "d", neither the PEM nor the scalar in any form.
    scalar = client_key.private_numbers().private_value.to_bytes(32, "big")
    text = response.content.decode()
    assert '"d"' not in text
    assert b64url(scalar) not in text
    assert pem.splitlines()[1] not in text


def test_client_metadata_document_public_and_confidential(client_key):
    public = client_metadata(client_id=CLIENT_ID, redirect_uris=[REDIRECT_URI])
    confidential = client_metadata(
        client_id=CLIENT_ID,
        redirect_uris=[REDIRECT_URI],
        client_key=load_client_key(pem_of(client_key)),
    )
    assert public["token_endpoint_auth_method"] == "none"
    assert "jwks" not in public and "token_endpoint_auth_signing_alg" not in public
    added = set(confidential) - set(public)
    assert added == {"token_endpoint_auth_signing_alg", "jwks"}


def test_the_signing_key_is_read_from_pem_or_jwk(client_key):
    pem = pem_of(client_key)
    from_pem = load_client_key(pem)
    assert from_pem.kid == jwk_thumbprint(public_jwk(client_key)) == kid_of(client_key)
    assert load_client_key(private_jwk_json(client_key)).kid == from_pem.kid
    assert load_client_key(pem.replace("\n", "\\n")).kid == from_pem.kid  # one .env line
    sec1 = client_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert load_client_key(sec1).kid == from_pem.kid  # "BEGIN EC PRIVATE KEY"
    assert load_client_key("") is None and load_client_key("  ") is None  # a public client
    assert repr(from_pem) == f"ClientKey(kid={from_pem.kid!r})"  # the key id only


def malformed_keys() -> list[tuple[str, str]]:
    p384 = ec.generate_private_key(ec.SECP384R1())
    p256 = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        p256.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return [
        ("a shared secret", "fake-client-secret"),
        ("a P-384 key", pem_of(p384)),
        ("a public key", public_pem),
        ("a truncated PEM", pem_of(p256)[:120]),
        ("a JWK of a public key", json.dumps(public_jwk(p256))),
        ("a JWK on another curve", private_jwk_json(p256, crv="P-384")),
        (
            "a JWK whose public half is another key's",
            private_jwk_json(p256, x=public_jwk(other)["x"]),
        ),
        ("a JSON list", "[1, 2]"),
    ]


@pytest.mark.parametrize(("what", "value"), malformed_keys(), ids=lambda v: str(v)[:40])
def test_a_malformed_signing_key_is_not_configured(credentials, what, value):
    credentials["bluesky"] = {"client_id": CLIENT_ID, "client_secret": value}
    with pytest.raises(ProviderNotConfigured) as refused:
        provider_for("bluesky")
    message = str(refused.value)
    assert "BLUESKY_CLIENT_SECRET" in message and "P-256" in message
    assert value.strip() not in message and value.strip()[-20:] not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    with pytest.raises(Http404):  # nothing to serve as the client's document
        client_metadata_view(RequestFactory().get("/oauth/bluesky/client-metadata.json"))
