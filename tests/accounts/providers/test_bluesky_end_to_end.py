"""The Bluesky adapter against the fake: a full run (PAR, authorize, exchange, profile,
refresh, publish, revoke), key binding, and a connect through the service."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from accounts.providers import http as provider_http
from accounts.providers import provider_for
from accounts.providers.base import (
    ProviderDefinitiveError,
    ProviderRequestError,
    pkce_pair,
)
from accounts.providers.bluesky import Credential, dpop_key_from_verifier
from tests.accounts.providers.bluesky_answers import (
    REDIRECT_URI,
    _fresh_nonces,  # noqa: F401 - an autouse fixture
)

# --- end to end against the fake ------------------------------------------------------------


def follow_authorization(url: str) -> dict[str, str]:
    answer = provider_http.request("GET", url, allow_redirects=False)
    assert answer.status_code == 302
    return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))


def test_end_to_end_against_the_fake(fakes):
    fake = fakes["bluesky"]
    adapter = provider_for("bluesky")
    verifier, challenge = pkce_pair()

    url = adapter.authorization_url(
        state="st-e2e",
        code_challenge=challenge,
        code_verifier=verifier,
        redirect_uri=REDIRECT_URI,
        options={},
    )
    back = follow_authorization(url)
    assert back["state"] == "st-e2e" and back["iss"] == "https://bsky.social"

    tokens = adapter.exchange_code(
        code=back["code"], redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    profile = adapter.fetch_profile(access_token=tokens.access_token)
    assert profile.platform_user_id.startswith("did:plc:")
    assert profile.username == "fakeuser.bsky.social"
    assert profile.follower_count == 1200

    refreshed = adapter.refresh(refresh_token=tokens.refresh_token)
    with pytest.raises(ProviderDefinitiveError):  # single use: the old one is spent
        adapter.refresh(refresh_token=tokens.refresh_token)

    fake.rotate_nonces()  # the next calls meet a nonce they have not seen
    result = adapter.publish(
        access_token=refreshed.access_token,
        text="hello from socialhub",
        media_urls=fake.e2e_media_urls,
    )
    post = fake.published[-1]
    assert post["uri"] == result.platform_post_id
    assert post["text"] == "hello from socialhub"
    assert len(post["images"]) == 1

    adapter.revoke(access_token=refreshed.access_token, refresh_token=refreshed.refresh_token)
    assert fake.upstream_token(refreshed.refresh_token) in fake.revoked
    with pytest.raises(ProviderDefinitiveError):
        adapter.publish(access_token=refreshed.access_token, text="after", media_urls=[])
    with pytest.raises(ProviderDefinitiveError):
        adapter.refresh(refresh_token=refreshed.refresh_token)


def test_the_fake_refuses_a_token_used_with_another_key(fakes):
    adapter = provider_for("bluesky")
    verifier, challenge = pkce_pair()
    url = adapter.authorization_url(
        state="st",
        code_challenge=challenge,
        code_verifier=verifier,
        redirect_uri=REDIRECT_URI,
        options={},
    )
    code = follow_authorization(url)["code"]
    tokens = adapter.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)
    held = Credential.decode(tokens.access_token)
    thief = Credential(
        token=held.token, key=dpop_key_from_verifier(pkce_pair()[0]), did=held.did, pds=held.pds
    )
    with pytest.raises(ProviderRequestError) as refused:
        adapter.publish(access_token=thief.encode(), text="stolen", media_urls=[])
    assert refused.value.error_code == "invalid_dpop_proof"
    assert fakes["bluesky"].published == []


@pytest.mark.django_db
def test_connect_through_the_service(fakes, user):
    from accounts.models import SocialAccount
    from accounts.services.connect import (
        social_account_connect_complete,
        social_account_connect_start,
    )

    start = social_account_connect_start(user=user, platform="bluesky", redirect_uri=REDIRECT_URI)
    back = follow_authorization(start.authorization_url)
    result = social_account_connect_complete(
        user=user, platform="bluesky", code=back["code"], state=back["state"]
    )

    account = SocialAccount.objects.get(pk=result.account.pk)
    assert account.platform_user_id.startswith("did:plc:")
    assert account.platform_username == "fakeuser.bsky.social"
    assert account.metadata["pds_url"] == "https://morel.us-east.host.bsky.network"
    assert account.access_token.startswith("bsky1.")
