"""The Bluesky DPoP key: derived from the PKCE verifier, salted with the secret key."""

from __future__ import annotations

from accounts.providers.base import pkce_pair
from accounts.providers.bluesky import dpop_key_from_verifier, public_jwk
from tests.accounts.providers.bluesky_answers import pkce_fixture  # noqa: F401 - a fixture

# --- the DPoP key ---------------------------------------------------------------------------


def test_dpop_key_is_derived_from_the_verifier(pkce):
    verifier, _challenge = pkce
    same = dpop_key_from_verifier(verifier)
    other = dpop_key_from_verifier(pkce_pair()[0])
    assert public_jwk(same) == public_jwk(dpop_key_from_verifier(verifier))
    assert public_jwk(same) != public_jwk(other)


def test_dpop_key_depends_on_the_secret_key(pkce, settings):
    before = public_jwk(dpop_key_from_verifier(pkce[0]))
    settings.SECRET_KEY = "another-secret-key-for-this-test-0123456789"
    assert public_jwk(dpop_key_from_verifier(pkce[0])) != before
