"""The opaque ``bsky1.`` credential: it round-trips, is not readable at a glance, and an
unreadable one is a dead grant."""

from __future__ import annotations

import pytest

from accounts.providers.base import ProviderDefinitiveError
from accounts.providers.bluesky import Credential, public_jwk
from tests.accounts.providers.bluesky_answers import (
    DID,
    PDS,
    held_fixture,  # noqa: F401 - a fixture
    pkce_fixture,  # noqa: F401 - a fixture
    provider_fixture,  # noqa: F401 - a fixture
)

# --- credential ------------------------------------------------------------------------------


def test_credential_round_trips_and_is_opaque(held):
    value = held.encode()
    assert value.startswith("bsky1.")
    assert "at-1" not in value and DID not in value  # base64url, not readable at a glance
    back = Credential.decode(value)
    assert (back.token, back.did, back.pds, back.issuer) == ("at-1", DID, PDS, held.issuer)
    assert public_jwk(back.key) == public_jwk(held.key)


@pytest.mark.parametrize("value", ["", "at-raw-token", "bsky1.not-json", "bsky1.e30"])
def test_an_unreadable_credential_is_a_dead_grant(provider, answers, value):
    with pytest.raises(ProviderDefinitiveError) as refused:
        provider.fetch_profile(access_token=value)
    assert refused.value.error_code == "invalid_token"
    assert len(answers.calls) == 0
