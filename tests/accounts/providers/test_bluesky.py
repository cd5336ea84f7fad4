"""The Bluesky adapter: PAR, DPoP (proofs, nonces, key binding), the code exchange with DID
resolution, refresh, profile, publish, revoke and error classification, and the confidential
client's assertions (private_key_jwt), against hand-built answers."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses as responses_lib
from django.utils import timezone

from accounts.providers import provider_for
from accounts.providers.base import (
    ProviderDefinitiveError,
    ProviderRequestError,
    ProviderTransientError,
)
from accounts.providers.bluesky import (
    BlueskyProvider,
    Credential,
    access_token_hash,
    dpop_key_from_verifier,
    jwk_thumbprint,
    public_jwk,
)
from tests.accounts.providers.bluesky_answers import (
    CLIENT_ID,
    CREATE_URL,
    DID,
    PAR_URL,
    PDS,
    PLC_URL,
    PROFILE_URL,
    REDIRECT_URI,
    RESOURCE_URL,
    REVOKE_URL,
    TOKEN_URL,
    UPLOAD_URL,
    _fresh_nonces,  # noqa: F401 - an autouse fixture
    assertion_of,
    client_key_fixture,  # noqa: F401 - a fixture
    confidential_fixture,  # noqa: F401 - a fixture
    did_document,
    form_of,
    held_fixture,  # noqa: F401 - a fixture
    kid_of,
    nonce_please,
    pem_of,
    pkce_fixture,  # noqa: F401 - a fixture
    proof_of,
    provider_fixture,  # noqa: F401 - a fixture
    stored,
    token_body,
    without_assertion,
)
from tests.fake_platforms.bluesky import thumbprint

# --- configuration ---------------------------------------------------------------------------


def test_provider_needs_only_a_client_id(credentials):
    credentials["bluesky"] = {"client_id": CLIENT_ID, "client_secret": ""}
    adapter = provider_for("bluesky")
    assert isinstance(adapter, BlueskyProvider)
    assert adapter.credentials.client_id == CLIENT_ID


# --- authorization (PAR) ------------------------------------------------------------------------


def test_authorization_url_pushes_the_request_and_retries_with_the_nonce(provider, answers, pkce):
    verifier, challenge = pkce
    answers.add(responses_lib.POST, PAR_URL, **nonce_please(nonce="nonce-1"))
    answers.add(
        responses_lib.POST,
        PAR_URL,
        status=201,
        json={"request_uri": "urn:ietf:params:oauth:request_uri:req-1", "expires_in": 299},
        headers={"DPoP-Nonce": "nonce-2"},
    )

    url = provider.authorization_url(
        state="st-1",
        code_challenge=challenge,
        code_verifier=verifier,
        redirect_uri=REDIRECT_URI,
        options={},
    )

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "bsky.social", "/oauth/authorize")
    assert parse_qs(parts.query) == {
        "client_id": [CLIENT_ID],
        "request_uri": ["urn:ietf:params:oauth:request_uri:req-1"],
    }
    assert len(answers.calls) == 2
    for call in answers.calls:
        assert form_of(call) == {
            "client_id": CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "state": "st-1",
            "scope": "atproto transition:generic",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        assert "Authorization" not in call.request.headers
    (header, first), (_header, second) = (proof_of(call) for call in answers.calls)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert "d" not in header["jwk"]
    assert thumbprint(header["jwk"]) == jwk_thumbprint(public_jwk(dpop_key_from_verifier(verifier)))
    assert (first["htm"], first["htu"]) == ("POST", PAR_URL)
    assert "nonce" not in first and "ath" not in first
    assert second["nonce"] == "nonce-1"
    assert first["jti"] != second["jti"]


def test_authorization_url_passes_a_login_hint(provider, answers, pkce):
    answers.add(responses_lib.POST, PAR_URL, status=201, json={"request_uri": "urn:x"})
    provider.authorization_url(
        state="st",
        code_challenge=pkce[1],
        code_verifier=pkce[0],
        redirect_uri=REDIRECT_URI,
        options={"login_hint": "ann.bsky.social"},
    )
    assert form_of(answers.calls[0])["login_hint"] == "ann.bsky.social"


def test_authorization_url_needs_the_verifier(provider, answers, pkce):
    with pytest.raises(ProviderRequestError):
        provider.authorization_url(
            state="st", code_challenge=pkce[1], redirect_uri=REDIRECT_URI, options={}
        )
    assert len(answers.calls) == 0


def test_a_refused_par_is_a_request_error(provider, answers, pkce):
    answers.add(
        responses_lib.POST,
        PAR_URL,
        status=400,
        json={"error": "invalid_redirect_uri", "error_description": "Invalid redirect_uri"},
    )
    with pytest.raises(ProviderRequestError) as refused:
        provider.authorization_url(
            state="st",
            code_challenge=pkce[1],
            code_verifier=pkce[0],
            redirect_uri="https://elsewhere.example/cb",
            options={},
        )
    assert refused.value.error_code == "invalid_redirect_uri"


# --- code exchange ----------------------------------------------------------------------------


def exchange_answers(answers, *, resource: dict | None = None) -> None:
    answers.add(responses_lib.POST, TOKEN_URL, json=token_body(), headers={"DPoP-Nonce": "nonce-3"})
    answers.add(responses_lib.GET, PLC_URL, json=did_document())
    answers.add(
        responses_lib.GET,
        RESOURCE_URL,
        json=resource or {"resource": PDS, "authorization_servers": ["https://bsky.social"]},
    )


def test_exchange_code(provider, answers, pkce):
    verifier, _challenge = pkce
    exchange_answers(answers)

    tokens = provider.exchange_code(code="cod-1", redirect_uri=REDIRECT_URI, code_verifier=verifier)

    token_call = answers.calls[0]
    assert form_of(token_call) == {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": "cod-1",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }  # a public client: no client_secret, no Authorization header
    assert "Authorization" not in token_call.request.headers
    header, claims = proof_of(token_call)
    # the same key as the PAR's: derived from the same verifier
    assert thumbprint(header["jwk"]) == jwk_thumbprint(public_jwk(dpop_key_from_verifier(verifier)))
    assert (claims["htm"], claims["htu"]) == ("POST", TOKEN_URL)
    assert [call.request.url for call in answers.calls[1:]] == [PLC_URL, RESOURCE_URL]

    access, refresh = (
        Credential.decode(tokens.access_token),
        Credential.decode(tokens.refresh_token),
    )
    assert (access.token, access.did, access.pds) == ("at-1", DID, PDS)
    assert (refresh.token, refresh.did, refresh.pds) == ("rt-1", DID, PDS)
    assert public_jwk(access.key) == public_jwk(refresh.key) == header["jwk"]
    assert tokens.scopes == ["atproto", "transition:generic"]
    assert timezone.now() + timedelta(seconds=890) < tokens.expires_at
    assert tokens.expires_at < timezone.now() + timedelta(seconds=910)


def test_exchange_refuses_an_account_not_hosted_behind_the_entryway(provider, answers, pkce):
    exchange_answers(
        answers, resource={"resource": PDS, "authorization_servers": ["https://evil.example"]}
    )
    with pytest.raises(ProviderRequestError):
        provider.exchange_code(code="cod-1", redirect_uri=REDIRECT_URI, code_verifier=pkce[0])


@pytest.mark.parametrize(
    "overrides",
    [{"scope": "transition:generic"}, {"token_type": "Bearer"}, {"sub": "ann.bsky.social"}],
)
def test_exchange_refuses_a_non_atproto_token_answer(provider, answers, pkce, overrides):
    answers.add(responses_lib.POST, TOKEN_URL, json=token_body(**overrides))
    with pytest.raises(ProviderRequestError):
        provider.exchange_code(code="cod-1", redirect_uri=REDIRECT_URI, code_verifier=pkce[0])
    assert len(answers.calls) == 1  # nothing resolved for an answer already refused


def test_exchange_of_a_bad_code_is_definitive(provider, answers, pkce):
    answers.add(
        responses_lib.POST,
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Invalid code"},
    )
    with pytest.raises(ProviderDefinitiveError) as refused:
        provider.exchange_code(code="cod-x", redirect_uri=REDIRECT_URI, code_verifier=pkce[0])
    assert refused.value.error_code == "invalid_grant"
    assert str(refused.value) == "Invalid code"


# --- refresh ----------------------------------------------------------------------------------


def test_refresh_rotates_with_the_same_key(provider, answers, held):
    answers.add(responses_lib.POST, TOKEN_URL, **nonce_please(nonce="nonce-5"))
    answers.add(
        responses_lib.POST,
        TOKEN_URL,
        json=token_body(access_token="at-2", refresh_token="rt-2"),
        headers={"DPoP-Nonce": "nonce-5"},
    )

    tokens = provider.refresh(refresh_token=stored(held, "rt-1"))

    assert len(answers.calls) == 2  # no DID resolution: the credential carries the PDS
    assert form_of(answers.calls[1]) == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "refresh_token": "rt-1",
    }
    header, claims = proof_of(answers.calls[1])
    assert header["jwk"] == public_jwk(held.key)
    assert claims["nonce"] == "nonce-5"
    access, refresh = (
        Credential.decode(tokens.access_token),
        Credential.decode(tokens.refresh_token),
    )
    assert (access.token, refresh.token) == ("at-2", "rt-2")
    assert (access.did, access.pds) == (DID, PDS)
    assert public_jwk(refresh.key) == public_jwk(held.key)


def test_refresh_of_another_account_is_refused(provider, answers, held):
    answers.add(responses_lib.POST, TOKEN_URL, json=token_body(sub="did:plc:" + "a" * 24))
    with pytest.raises(ProviderRequestError):
        provider.refresh(refresh_token=stored(held, "rt-1"))


def test_refresh_invalid_grant_is_definitive(provider, answers, held):
    answers.add(
        responses_lib.POST,
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Invalid refresh token"},
        headers={"DPoP-Nonce": "nonce-6"},
    )
    with pytest.raises(ProviderDefinitiveError) as refused:
        provider.refresh(refresh_token=stored(held, "rt-1"))
    assert refused.value.error_code == "invalid_grant"
    assert refused.value.http_status == 400
    assert "rt-1" not in str(refused.value)


def test_refresh_5xx_is_transient(provider, answers, held):
    answers.add(responses_lib.POST, TOKEN_URL, status=503, body="upstream down")
    with pytest.raises(ProviderTransientError) as failed:
        provider.refresh(refresh_token=stored(held, "rt-1"))
    assert failed.value.http_status == 503


def test_refresh_429_is_transient_with_retry_after(provider, answers, held):
    answers.add(
        responses_lib.POST,
        TOKEN_URL,
        status=429,
        json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={"Retry-After": "30"},
    )
    with pytest.raises(ProviderTransientError) as failed:
        provider.refresh(refresh_token=stored(held, "rt-1"))
    assert failed.value.retry_after == 30
    assert failed.value.error_code == "RateLimitExceeded"


def test_a_nonce_refused_twice_is_transient(provider, answers, held):
    answers.add(responses_lib.POST, TOKEN_URL, **nonce_please(nonce="nonce-a"))
    answers.add(responses_lib.POST, TOKEN_URL, **nonce_please(nonce="nonce-b"))
    with pytest.raises(ProviderTransientError) as failed:
        provider.refresh(refresh_token=stored(held, "rt-1"))
    assert failed.value.error_code == "use_dpop_nonce"
    assert len(answers.calls) == 2  # one retry, no more


# --- profile ---------------------------------------------------------------------------------


def test_fetch_profile(provider, answers, held):
    answers.add(
        responses_lib.GET,
        PROFILE_URL,
        json={
            "did": DID,
            "handle": "ann.bsky.social",
            "displayName": "Ann",
            "avatar": "https://cdn.bsky.app/img/avatar/plain/did/cid@jpeg",
            "followersCount": 1200,
            "followsCount": 80,
            "postsCount": 345,
        },
    )

    profile = provider.fetch_profile(access_token=held.encode())

    call = answers.calls[0]
    assert parse_qs(urlsplit(call.request.url).query) == {"actor": [DID]}
    assert "Authorization" not in call.request.headers  # public AppView: no token sent
    assert profile.platform_user_id == DID
    assert profile.username == "ann.bsky.social"
    assert profile.display_name == "Ann"
    assert profile.avatar_url == "https://cdn.bsky.app/img/avatar/plain/did/cid@jpeg"
    assert (profile.follower_count, profile.following_count, profile.post_count) == (1200, 80, 345)
    assert profile.metadata == {"did": DID, "pds_url": PDS}


def test_fetch_profile_of_a_bare_account(provider, answers, held):
    answers.add(responses_lib.GET, PROFILE_URL, json={"did": DID, "handle": "handle.invalid"})
    profile = provider.fetch_profile(access_token=held.encode())
    assert profile.username is None and profile.display_name is None
    assert profile.follower_count == 0


def test_fetch_profile_not_found_is_a_request_error(provider, answers, held):
    answers.add(
        responses_lib.GET,
        PROFILE_URL,
        status=400,
        json={"error": "InvalidRequest", "message": "Profile not found"},
    )
    with pytest.raises(ProviderRequestError) as refused:
        provider.fetch_profile(access_token=held.encode())
    assert refused.value.error_code == "InvalidRequest"


# --- publish ---------------------------------------------------------------------------------


def test_publish_text(provider, answers, held):
    answers.add(responses_lib.POST, CREATE_URL, **nonce_please(401, nonce="pds-nonce"))
    answers.add(
        responses_lib.POST,
        CREATE_URL,
        json={"uri": f"at://{DID}/app.bsky.feed.post/3kabc", "cid": "bafyrei1"},
    )
    text = "Olá! New post https://example.com/a. #launch"

    result = provider.publish(access_token=held.encode(), text=text, media_urls=[])

    assert result.platform_post_id == f"at://{DID}/app.bsky.feed.post/3kabc"
    assert len(answers.calls) == 2
    for call in answers.calls:
        assert call.request.headers["Authorization"] == "DPoP at-1"
        _header, claims = proof_of(call)
        assert (claims["htm"], claims["htu"]) == ("POST", CREATE_URL)
        assert claims["ath"] == access_token_hash("at-1")
    assert "nonce" not in proof_of(answers.calls[0])[1]
    assert proof_of(answers.calls[1])[1]["nonce"] == "pds-nonce"
    sent = json.loads(answers.calls[1].request.body)
    record = sent.pop("record")
    assert sent == {"repo": DID, "collection": "app.bsky.feed.post"}
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == text
    assert record["createdAt"].endswith("Z")
    assert "embed" not in record
    encoded = text.encode()
    link, tag = record["facets"]
    assert link["features"] == [
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a"}
    ]
    start, end = link["index"]["byteStart"], link["index"]["byteEnd"]
    assert encoded[start:end] == b"https://example.com/a"
    assert tag["features"] == [{"$type": "app.bsky.richtext.facet#tag", "tag": "launch"}]
    assert encoded[tag["index"]["byteStart"] : tag["index"]["byteEnd"]] == b"#launch"


def test_publish_images(provider, answers, held):
    for name in ("a.jpg", "b.png"):
        answers.add(
            responses_lib.GET,
            f"https://media.example.com/{name}",
            body=b"\x89img-" + name.encode(),
            content_type="image/png" if name.endswith("png") else "image/jpeg",
        )
    for index in (1, 2):
        answers.add(
            responses_lib.POST,
            UPLOAD_URL,
            json={
                "blob": {
                    "$type": "blob",
                    "ref": {"$link": f"bafkrei{index}"},
                    "mimeType": "image/jpeg",
                    "size": 9,
                }
            },
        )
    answers.add(responses_lib.POST, CREATE_URL, json={"uri": f"at://{DID}/app.bsky.feed.post/3k2"})

    result = provider.publish(
        access_token=held.encode(),
        text="two pictures",
        media_urls=["https://media.example.com/a.jpg", "https://media.example.com/b.png"],
        idempotency_key="tgt_1",
    )

    assert result.platform_post_id == f"at://{DID}/app.bsky.feed.post/3k2"
    uploads = [call for call in answers.calls if call.request.url == UPLOAD_URL]
    assert [call.request.body for call in uploads] == [b"\x89img-a.jpg", b"\x89img-b.png"]
    assert [call.request.headers["Content-Type"] for call in uploads] == [
        "image/jpeg",
        "image/png",
    ]
    for call in uploads:
        assert call.request.headers["Authorization"] == "DPoP at-1"
        assert proof_of(call)[1]["htu"] == UPLOAD_URL
    record = json.loads(answers.calls[-1].request.body)["record"]
    assert record["embed"] == {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "",
                "image": {
                    "$type": "blob",
                    "ref": {"$link": f"bafkrei{index}"},
                    "mimeType": "image/jpeg",
                    "size": 9,
                },
            }
            for index in (1, 2)
        ],
    }


@pytest.mark.parametrize(
    ("text", "media_urls"),
    [
        ("", []),
        ("x" * 301, []),
        ("é" * 1501, []),  # 1501 graphemes would pass nothing anyway; 3002 bytes
        ("five", [f"https://media.example.com/{n}.jpg" for n in range(5)]),
    ],
)
def test_publish_refusals_before_any_call(provider, answers, held, text, media_urls):
    with pytest.raises(ProviderRequestError):
        provider.publish(access_token=held.encode(), text=text, media_urls=media_urls)
    assert len(answers.calls) == 0


def test_publish_counts_graphemes_not_code_points(provider, answers, held):
    answers.add(responses_lib.POST, CREATE_URL, json={"uri": f"at://{DID}/app.bsky.feed.post/3"})
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, five code points
    provider.publish(access_token=held.encode(), text=family * 150, media_urls=[])  # 750 cp
    assert len(answers.calls) == 1


@pytest.mark.parametrize(("content_type", "size"), [("video/mp4", 10), ("image/jpeg", 1_000_001)])
def test_publish_refuses_media_bluesky_would_refuse(provider, answers, held, content_type, size):
    answers.add(
        responses_lib.GET,
        "https://media.example.com/m",
        body=b"\x00" * size,
        content_type=content_type,
    )
    with pytest.raises(ProviderRequestError):
        provider.publish(
            access_token=held.encode(), text="hi", media_urls=["https://media.example.com/m"]
        )
    assert [call.request.url for call in answers.calls] == ["https://media.example.com/m"]


def test_publish_with_missing_media_is_a_request_error(provider, answers, held):
    answers.add(responses_lib.GET, "https://media.example.com/gone.jpg", status=404)
    with pytest.raises(ProviderRequestError):
        provider.publish(
            access_token=held.encode(),
            text="hi",
            media_urls=["https://media.example.com/gone.jpg"],
        )


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (400, "ExpiredToken", ProviderDefinitiveError),
        (401, "InvalidToken", ProviderDefinitiveError),
        (401, "invalid_token", ProviderDefinitiveError),
        (400, "InvalidRequest", ProviderRequestError),
        (400, "invalid_dpop_proof", ProviderRequestError),
        (500, "InternalServerError", ProviderTransientError),
        (502, "UpstreamFailure", ProviderTransientError),
    ],
)
def test_publish_xrpc_errors(provider, answers, held, status, error, expected):
    answers.add(
        responses_lib.POST,
        CREATE_URL,
        status=status,
        json={"error": error, "message": "refused"},
    )
    with pytest.raises(expected) as failed:
        provider.publish(access_token=held.encode(), text="hi", media_urls=[])
    assert failed.value.error_code == error
    assert failed.value.http_status == status
    assert "at-1" not in str(failed.value)


def test_publish_rate_limit_reads_the_reset_header(provider, answers, held):
    answers.add(
        responses_lib.POST,
        CREATE_URL,
        status=429,
        json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={
            "ratelimit-limit": "5000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(int(time.time()) + 120),
        },
    )
    with pytest.raises(ProviderTransientError) as failed:
        provider.publish(access_token=held.encode(), text="hi", media_urls=[])
    assert 110 <= failed.value.retry_after <= 121


# --- revoke ----------------------------------------------------------------------------------


def test_revoke_both_tokens(provider, answers, held):
    answers.add(responses_lib.POST, REVOKE_URL, **nonce_please(nonce="nonce-r"))
    answers.add(responses_lib.POST, REVOKE_URL, json={}, headers={"DPoP-Nonce": "nonce-r"})
    answers.add(responses_lib.POST, REVOKE_URL, json={}, headers={"DPoP-Nonce": "nonce-r"})

    provider.revoke(access_token=held.encode(), refresh_token=stored(held, "rt-1"))

    sent = [form_of(call) for call in answers.calls]
    assert sent[1:] == [
        {"client_id": CLIENT_ID, "token": "rt-1", "token_type_hint": "refresh_token"},
        {"client_id": CLIENT_ID, "token": "at-1", "token_type_hint": "access_token"},
    ]
    for call in answers.calls[1:]:
        header, claims = proof_of(call)
        assert header["jwk"] == public_jwk(held.key)
        assert (claims["htu"], claims["nonce"]) == (REVOKE_URL, "nonce-r")


def test_revoke_of_unreadable_tokens_calls_nothing(provider, answers):
    provider.revoke(access_token="garbage", refresh_token="")
    assert len(answers.calls) == 0


def test_revoke_5xx_is_transient(provider, answers, held):
    answers.add(responses_lib.POST, REVOKE_URL, status=500)
    with pytest.raises(ProviderTransientError):
        provider.revoke(access_token=held.encode(), refresh_token="")


# --- a confidential client: private_key_jwt ---------------------------------------------------


def test_a_confidential_client_is_configured_by_its_signing_key(credentials, client_key):
    credentials["bluesky"] = {"client_id": CLIENT_ID, "client_secret": pem_of(client_key)}
    adapter = provider_for("bluesky")
    assert adapter.confidential and adapter.client_key.kid == kid_of(client_key)
    assert adapter.token_auth_method == "private_key_jwt"
    credentials["bluesky"] = {"client_id": CLIENT_ID, "client_secret": ""}
    public = provider_for("bluesky")
    assert not public.confidential and public.token_auth_method == "none"


def test_par_of_a_confidential_client_carries_a_fresh_assertion_each_try(
    confidential, client_key, answers, pkce
):
    verifier, challenge = pkce
    answers.add(responses_lib.POST, PAR_URL, **nonce_please(nonce="nonce-1"))
    answers.add(responses_lib.POST, PAR_URL, status=201, json={"request_uri": "urn:req-1"})

    url = confidential.authorization_url(
        state="st-1",
        code_challenge=challenge,
        code_verifier=verifier,
        redirect_uri=REDIRECT_URI,
        options={},
    )

    assert parse_qs(urlsplit(url).query) == {"client_id": [CLIENT_ID], "request_uri": ["urn:req-1"]}
    assert len(answers.calls) == 2  # the first try, then the retry with the nonce
    claims = [assertion_of(call, client_key) for call in answers.calls]
    assert claims[0]["jti"] != claims[1]["jti"]  # a new assertion for the retry
    for call in answers.calls:
        assert without_assertion(form_of(call)) == {
            "client_id": CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "state": "st-1",
            "scope": "atproto transition:generic",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        assert "Authorization" not in call.request.headers  # no client secret, no Basic
    assert proof_of(answers.calls[1])[1]["nonce"] == "nonce-1"  # DPoP as a public client


def test_token_requests_of_a_confidential_client_carry_assertions(
    confidential, client_key, answers, pkce
):
    verifier, _challenge = pkce
    answers.add(responses_lib.POST, TOKEN_URL, **nonce_please(nonce="nonce-t"))
    exchange_answers(answers)
    tokens = confidential.exchange_code(
        code="cod-1", redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    answers.add(responses_lib.POST, TOKEN_URL, **nonce_please(nonce="nonce-u"))
    answers.add(
        responses_lib.POST, TOKEN_URL, json=token_body(access_token="at-2", refresh_token="rt-2")
    )
    refreshed = confidential.refresh(refresh_token=tokens.refresh_token)

    token_calls = [call for call in answers.calls if call.request.url == TOKEN_URL]
    assert len(token_calls) == 4  # exchange and refresh, each retried with a nonce
    claims = [assertion_of(call, client_key) for call in token_calls]
    assert len({c["jti"] for c in claims}) == 4  # unique per request, retries included
    assert without_assertion(form_of(token_calls[1])) == {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": "cod-1",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    assert without_assertion(form_of(token_calls[3])) == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "refresh_token": "rt-1",
    }
    assert Credential.decode(refreshed.access_token).token == "at-2"
    # no assertion towards the PLC directory or the PDS: only the authorization server
    for call in answers.calls:
        if call.request.url != TOKEN_URL:
            assert call.request.body is None


def test_revocation_of_a_confidential_client_carries_assertions(
    confidential, client_key, answers, held
):
    answers.add(responses_lib.POST, REVOKE_URL, **nonce_please(nonce="nonce-r"))
    answers.add(responses_lib.POST, REVOKE_URL, json={})
    answers.add(responses_lib.POST, REVOKE_URL, json={})

    confidential.revoke(access_token=held.encode(), refresh_token=stored(held, "rt-1"))

    claims = [assertion_of(call, client_key) for call in answers.calls]
    assert len({c["jti"] for c in claims}) == 3
    assert [without_assertion(form_of(call)) for call in answers.calls[1:]] == [
        {"client_id": CLIENT_ID, "token": "rt-1", "token_type_hint": "refresh_token"},
        {"client_id": CLIENT_ID, "token": "at-1", "token_type_hint": "access_token"},
    ]


def test_a_public_client_sends_no_assertion(provider, answers, held):
    answers.add(responses_lib.POST, REVOKE_URL, json={})
    provider.revoke(access_token=held.encode(), refresh_token="")
    assert form_of(answers.calls[0]) == {
        "client_id": CLIENT_ID,
        "token": "at-1",
        "token_type_hint": "access_token",
    }


@pytest.mark.parametrize("mode", ["provider", "confidential"])
def test_invalid_client_is_our_configuration_not_a_dead_grant(request, mode, answers, held, pkce):
    adapter = request.getfixturevalue(mode)
    refused = {
        "status": 401,
        "json": {"error": "invalid_client", "error_description": "Invalid client assertion"},
    }
    answers.add(responses_lib.POST, TOKEN_URL, **refused)
    answers.add(responses_lib.POST, TOKEN_URL, **refused)
    answers.add(responses_lib.POST, REVOKE_URL, **refused)
    calls = [
        lambda: adapter.exchange_code(
            code="cod-1", redirect_uri=REDIRECT_URI, code_verifier=pkce[0]
        ),
        lambda: adapter.refresh(refresh_token=stored(held, "rt-1")),
        lambda: adapter.revoke(access_token=held.encode(), refresh_token=""),
    ]
    for call in calls:
        with pytest.raises(ProviderRequestError) as failed:
            call()
        assert not isinstance(failed.value, ProviderDefinitiveError)
        assert (failed.value.error_code, failed.value.http_status) == ("invalid_client", 401)
