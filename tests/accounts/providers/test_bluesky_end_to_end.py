"""The Bluesky adapter against the fake: a full run (PAR, authorize, exchange, profile,
refresh, publish, revoke) as a public and as a confidential client, key binding, client
authentication refused, and a connect through the service."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

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
    pem_of,
)

CLIENT_AUTHENTICATED = {"/oauth/par", "/oauth/token", "/oauth/revoke"}


@pytest.fixture(name="public")
def public_fixture(fakes, credentials) -> None:
    """Bluesky as a public client: no signing key, and a fake that asks for none."""
    credentials["bluesky"]["client_secret"] = ""


@pytest.fixture(name="confidential")
def confidential_fixture(fakes, credentials) -> ec.EllipticCurvePrivateKey:
    """Bluesky as a confidential client: its signing key configured (PEM), and a fake that
    knows the public half and requires client assertions."""
    key = ec.generate_private_key(ec.SECP256R1())
    credentials["bluesky"]["client_secret"] = pem_of(key)
    fakes["bluesky"].client_public_key = key.public_key()
    return key


@pytest.fixture(name="mode", params=["public", "confidential"])
def mode_fixture(request) -> str:
    request.getfixturevalue(request.param)
    return request.param


def client_authenticated_calls(fake) -> int:
    return sum(
        1 for method, where in fake.calls if where[len("bsky.social") :] in CLIENT_AUTHENTICATED
    )


def start_authorization(adapter) -> tuple[str, str]:
    """PAR, then the authorize redirect: the code and the verifier to exchange it with."""
    verifier, challenge = pkce_pair()
    url = adapter.authorization_url(
        state="st",
        code_challenge=challenge,
        code_verifier=verifier,
        redirect_uri=REDIRECT_URI,
        options={},
    )
    return follow_authorization(url)["code"], verifier


# --- end to end against the fake ------------------------------------------------------------


def follow_authorization(url: str) -> dict[str, str]:
    answer = provider_http.request("GET", url, allow_redirects=False)
    assert answer.status_code == 302
    return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))


def test_end_to_end_against_the_fake(fakes, mode):
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
    if mode == "confidential":
        # Every request that authenticates the client (the nonce retries too) carried an
        # assertion the fake accepted, each with its own jti.
        assert len(fake.seen_assertion_jti) == client_authenticated_calls(fake) >= 8
    else:
        assert fake.seen_assertion_jti == set()


def test_a_wrong_signing_key_is_refused_and_not_a_dead_grant(fakes, confidential):
    fake, adapter = fakes["bluesky"], provider_for("bluesky")
    code, verifier = start_authorization(adapter)
    fake.client_public_key = ec.generate_private_key(ec.SECP256R1()).public_key()

    with pytest.raises(ProviderRequestError) as refused:
        adapter.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)
    assert not isinstance(refused.value, ProviderDefinitiveError)  # our configuration
    assert (refused.value.error_code, refused.value.http_status) == ("invalid_client", 401)
    with pytest.raises(ProviderRequestError) as refused_par:
        start_authorization(adapter)
    assert refused_par.value.error_code == "invalid_client"

    fake.client_public_key = confidential.public_key()  # the configuration fixed
    tokens = adapter.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)
    fake.client_public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(ProviderRequestError) as refused_refresh:
        adapter.refresh(refresh_token=tokens.refresh_token)
    assert not isinstance(refused_refresh.value, ProviderDefinitiveError)
    assert refused_refresh.value.error_code == "invalid_client"


def test_a_fake_expecting_a_confidential_client_refuses_a_public_one(fakes, public):
    fakes["bluesky"].client_public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(ProviderRequestError) as refused:
        start_authorization(provider_for("bluesky"))
    assert not isinstance(refused.value, ProviderDefinitiveError)
    assert refused.value.error_code == "invalid_client"
    assert fakes["bluesky"].pushed == {}


def test_the_fake_refuses_a_replayed_or_expired_assertion(fakes, confidential):
    from accounts.providers.bluesky import ClientKey, es256_jwt
    from tests.fake_platforms.base import CLIENT_ID
    from tests.fake_platforms.bluesky import ProofError

    fake = fakes["bluesky"]
    key = ClientKey.of(confidential)
    form = {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": key.assertion(client_id=CLIENT_ID),
    }
    fake.check_client_assertion(form)
    with pytest.raises(ProofError, match="replayed"):
        fake.check_client_assertion(form)
    now = int(time.time())
    expired = es256_jwt(
        confidential,
        {"alg": "ES256", "kid": key.kid},
        {
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "aud": "https://bsky.social",
            "jti": "expired-1",
            "iat": now - 120,
            "exp": now - 60,
        },
    )
    for wrong in (
        key.assertion(client_id="https://elsewhere.example/client-metadata.json"),
        key.assertion(client_id=CLIENT_ID, audience="https://evil.example"),
        ClientKey.of(ec.generate_private_key(ec.SECP256R1())).assertion(client_id=CLIENT_ID),
        expired,
    ):
        with pytest.raises(ProofError):
            fake.check_client_assertion({**form, "client_assertion": wrong})


def test_the_fake_refuses_a_token_used_with_another_key(fakes, public):
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
def test_connect_through_the_service(fakes, mode, user):
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
