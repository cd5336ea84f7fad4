"""The LinkedIn adapters (member and Page): OAuth without PKCE against hand-built answers,
LinkedIn's error shape, profiles, posts with and without images, revocation, and full runs
against the LinkedIn fakes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.providers import http as provider_http
from accounts.providers import provider_for
from accounts.providers.base import (
    ProviderDefinitiveError,
    ProviderRequestError,
    ProviderTransientError,
    pkce_pair,
)
from accounts.providers.linkedin import (
    LinkedInCompanyProvider,
    LinkedInPersonProvider,
    escape_commentary,
)
from accounts.providers.oauth2 import Credentials

AUTHORIZE_URL = "https://www.linkedin.com/oauth/v2/authorization"
TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"
REVOKE_URL = "https://www.linkedin.com/oauth/v2/revoke"
USERINFO_URL = "https://api.linkedin.com/v2/userinfo"
REST = "https://api.linkedin.com/rest"
POSTS_URL = f"{REST}/posts"
IMAGES_URL = f"{REST}/images?action=initializeUpload"
ACLS_URL = f"{REST}/organizationAcls"
REDIRECT_URI = "https://app.example.com/oauth/callback"
CREDENTIALS = Credentials("fake-client-id", "fake-client-secret")


@pytest.fixture
def person() -> LinkedInPersonProvider:
    return LinkedInPersonProvider(CREDENTIALS)


@pytest.fixture
def company() -> LinkedInCompanyProvider:
    return LinkedInCompanyProvider(CREDENTIALS)


@pytest.fixture(params=["person", "company"])
def linkedin(request, person, company):
    """Either adapter, for what they share (OAuth, errors)."""
    return {"person": person, "company": company}[request.param]


def form(call) -> dict[str, str]:
    body = call.request.body
    if isinstance(body, bytes):
        body = body.decode()
    return {key: values[0] for key, values in parse_qs(body or "").items()}


def token_body(**extra) -> dict:
    return {
        "access_token": "AQV-1",
        "expires_in": 5184000,
        "refresh_token": "AQX-1",
        "refresh_token_expires_in": 31536000,
        "scope": "email,openid,profile,w_member_social",
        "token_type": "Bearer",
        "id_token": "eyJ.header.sig",
        **extra,
    }


def li_error(status: int, message: str, code: int = 0) -> dict:
    return {"serviceErrorCode": code, "message": message, "status": status}


def answer_userinfo(answers, sub: str = "782bbtaQ") -> None:
    answers.get(
        USERINFO_URL,
        json={
            "sub": sub,
            "email_verified": True,
            "name": "Ada Lovelace",
            "locale": {"country": "GB", "language": "en"},
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.com",
            "picture": "https://media.licdn.com/dms/image/ada.jpg",
        },
    )


def answer_acls(answers, *organizations: str) -> None:
    answers.get(
        ACLS_URL,
        json={
            "paging": {"count": 10, "start": 0, "links": []},
            "elements": [
                {
                    "roleAssignee": "urn:li:person:782bbtaQ",
                    "state": "APPROVED",
                    "role": "ADMINISTRATOR",
                    "organization": urn,
                }
                for urn in organizations
            ],
        },
    )


# --- OAuth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "scope"),
    [
        ("linkedin_person", "openid profile email w_member_social"),
        ("linkedin_company", "r_organization_admin w_organization_social"),
    ],
)
def test_the_authorization_url_asks_for_the_scopes_without_pkce(credentials, platform, scope):
    _verifier, challenge = pkce_pair()

    url = provider_for(platform).authorization_url(
        state="st-1", code_challenge=challenge, redirect_uri=REDIRECT_URI, options={}
    )

    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE_URL
    assert query == {
        "response_type": "code",
        "client_id": "fake-client-id",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st-1",
    }  # no code_challenge: LinkedIn takes PKCE from native apps only


def test_the_code_exchange_posts_the_client_credentials(linkedin, answers):
    answers.post(TOKEN_URL, json=token_body())

    tokens = linkedin.exchange_code(code="code-1", redirect_uri=REDIRECT_URI, code_verifier="v")

    assert (tokens.access_token, tokens.refresh_token) == ("AQV-1", "AQX-1")
    assert tokens.expires_at is not None
    assert set(tokens.scopes) == {"email", "openid", "profile", "w_member_social"}
    (call,) = answers.calls
    assert "Authorization" not in call.request.headers
    assert form(call) == {
        "grant_type": "authorization_code",
        "code": "code-1",
        "redirect_uri": REDIRECT_URI,
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
    }


def test_without_programmatic_refresh_there_is_no_refresh_token(person, answers):
    answers.post(TOKEN_URL, json={"access_token": "AQV-1", "expires_in": 5184000})

    tokens = person.exchange_code(code="c", redirect_uri=REDIRECT_URI, code_verifier="v")

    assert tokens.refresh_token == ""
    assert tokens.expires_at is not None


def test_a_refresh_keeps_the_refresh_token(linkedin, answers):
    answers.post(TOKEN_URL, json=token_body(access_token="AQV-2"))

    tokens = linkedin.refresh(refresh_token="AQX-1")

    assert (tokens.access_token, tokens.refresh_token) == ("AQV-2", "AQX-1")
    (call,) = answers.calls
    assert form(call) == {
        "grant_type": "refresh_token",
        "refresh_token": "AQX-1",
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
    }


def test_invalid_grant_is_definitive(linkedin, answers):
    answers.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "expired"}
    )

    with pytest.raises(ProviderDefinitiveError) as caught:
        linkedin.refresh(refresh_token="AQX-1")

    assert caught.value.error_code == "invalid_grant"
    assert "AQX-1" not in str(caught.value)


def test_linkedin_s_answer_to_a_dead_refresh_token_is_definitive(linkedin, answers):
    answers.post(
        TOKEN_URL,
        status=400,
        json={
            "error": "invalid_request",
            "error_description": "The provided authorization grant or refresh token is "
            "invalid, expired or revoked",
        },
    )

    with pytest.raises(ProviderDefinitiveError):
        linkedin.refresh(refresh_token="AQX-1")


def test_a_code_linkedin_refuses_is_a_refused_request(linkedin, answers):
    answers.post(
        TOKEN_URL,
        status=400,
        json={
            "error": "invalid_request",
            "error_description": "Unable to retrieve access token: appid/redirect uri/code "
            "verifier does not match authorization code. Or authorization code expired.",
        },
    )

    with pytest.raises(ProviderRequestError) as caught:
        linkedin.exchange_code(code="c", redirect_uri=REDIRECT_URI, code_verifier="v")

    assert not isinstance(caught.value, ProviderDefinitiveError)


def test_a_refused_client_is_our_configuration_not_a_dead_grant(linkedin, answers):
    answers.post(
        TOKEN_URL,
        status=401,
        json={"error": "invalid_client", "error_description": "Client authentication failed"},
    )

    with pytest.raises(ProviderRequestError) as caught:
        linkedin.refresh(refresh_token="AQX-1")

    assert not isinstance(caught.value, ProviderDefinitiveError)


def test_a_5xx_is_transient(linkedin, answers):
    answers.post(TOKEN_URL, status=502, body="Bad Gateway")

    with pytest.raises(ProviderTransientError) as caught:
        linkedin.refresh(refresh_token="AQX-1")

    assert caught.value.http_status == 502


def test_a_429_is_transient_with_retry_after(person, answers):
    answers.get(
        USERINFO_URL,
        status=429,
        json=li_error(429, "Resource level throttle 1 DAY limit for calls to this resource"),
        headers={"Retry-After": "60"},
    )

    with pytest.raises(ProviderTransientError) as caught:
        person.fetch_profile(access_token="AQV-1")

    assert (caught.value.http_status, caught.value.retry_after) == (429, 60.0)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (65600, "Invalid access token"),
        (65601, "The token used in the request has been revoked by the user"),
        (65602, "The token used in the request has expired"),
    ],
)
def test_a_401_is_definitive(company, answers, code, message):
    answers.get(ACLS_URL, status=401, json=li_error(401, message, code))

    with pytest.raises(ProviderDefinitiveError) as caught:
        company.fetch_profile(access_token="AQV-1")

    assert (caught.value.error_code, str(caught.value)) == (str(code), message)


def test_a_missing_permission_is_a_refused_request(person, answers):
    answer_userinfo(answers)
    answers.post(
        POSTS_URL,
        status=403,
        json={
            "status": 403,
            "serviceErrorCode": 100,
            "code": "ACCESS_DENIED",
            "message": "Not enough permissions to access: partnerApiPostsExternal.CREATE.20251001",
        },
    )

    with pytest.raises(ProviderRequestError) as caught:
        person.publish(access_token="AQV-1", text="hi", media_urls=[])

    assert caught.value.error_code == "ACCESS_DENIED"
    assert not isinstance(caught.value, ProviderDefinitiveError)


def test_a_duplicate_post_is_a_refused_request(person, answers):
    answer_userinfo(answers)
    answers.post(
        POSTS_URL,
        status=422,
        json=li_error(422, "Content is a duplicate of urn:li:share:7123", 0),
    )

    with pytest.raises(ProviderRequestError) as caught:
        person.publish(access_token="AQV-1", text="again", media_urls=[])

    assert caught.value.error_code == "duplicate"


# --- profiles -------------------------------------------------------------------------------


def test_the_member_profile_comes_from_userinfo(person, answers):
    answer_userinfo(answers)

    profile = person.fetch_profile(access_token="AQV-1")

    assert profile.platform_user_id == "782bbtaQ"
    assert profile.username is None  # OpenID Connect has no vanity name
    assert profile.display_name == "Ada Lovelace"
    assert profile.avatar_url == "https://media.licdn.com/dms/image/ada.jpg"
    assert (profile.account_type, profile.follower_count) == ("person", 0)
    assert profile.metadata == {"author_urn": "urn:li:person:782bbtaQ"}
    (call,) = answers.calls
    assert call.request.headers["Authorization"] == "Bearer AQV-1"


def test_the_page_profile_is_the_administered_organization(company, answers):
    answer_acls(answers, "urn:li:organization:2414183", "urn:li:organization:108")
    answers.get(
        f"{REST}/organizations/108",
        json={
            "id": 108,
            "localizedName": "Acme Corp",
            "vanityName": "acme",
            "logoV2": {
                "original": "urn:li:digitalmediaAsset:C4D0BAQAcme",
                "cropped": "urn:li:digitalmediaAsset:C4D0BAQAcmeCrop",
            },
        },
    )
    answers.get(
        f"{REST}/networkSizes/urn%3Ali%3Aorganization%3A108?edgeType=COMPANY_FOLLOWED_BY_MEMBER",
        json={"firstDegreeSize": 4242},
    )
    answers.get(
        f"{REST}/images/urn%3Ali%3Aimage%3AC4D0BAQAcme",
        json={"id": "urn:li:image:C4D0BAQAcme", "downloadUrl": "https://media.licdn.com/acme"},
    )

    profile = company.fetch_profile(access_token="AQV-1")

    assert profile.platform_user_id == "108"  # of two Pages, the lowest id
    assert (profile.username, profile.display_name) == ("acme", "Acme Corp")
    assert profile.avatar_url == "https://media.licdn.com/acme"
    assert (profile.account_type, profile.follower_count) == ("organization", 4242)
    assert profile.metadata == {"author_urn": "urn:li:organization:108"}
    acls = answers.calls[0].request
    assert parse_qs(urlsplit(acls.url).query) == {
        "q": ["roleAssignee"],
        "role": ["ADMINISTRATOR"],
        "state": ["APPROVED"],
    }
    for call in answers.calls:
        assert call.request.headers["LinkedIn-Version"] == "202510"
        assert call.request.headers["X-Restli-Protocol-Version"] == "2.0.0"
        assert call.request.headers["Authorization"] == "Bearer AQV-1"


def test_a_logo_that_cannot_be_resolved_leaves_the_avatar_out(company, answers):
    answer_acls(answers, "urn:li:organization:5")
    answers.get(
        f"{REST}/organizations/5",
        json={
            "id": 5,
            "localizedName": "Five",
            "logoV2": {"original": "urn:li:digitalmediaAsset:X"},
        },
    )
    answers.get(f"{REST}/networkSizes/urn%3Ali%3Aorganization%3A5", json={"firstDegreeSize": 1})
    answers.get(f"{REST}/images/urn%3Ali%3Aimage%3AX", status=404, json=li_error(404, "Not found"))

    profile = company.fetch_profile(access_token="AQV-1")

    assert (profile.avatar_url, profile.username, profile.follower_count) == (None, None, 1)


def test_a_member_who_administers_no_page_is_refused(company, answers):
    answer_acls(answers)

    with pytest.raises(ProviderRequestError, match="administers no LinkedIn Page"):
        company.fetch_profile(access_token="AQV-1")


# --- publish --------------------------------------------------------------------------------


def test_a_member_text_post(person, answers):
    answer_userinfo(answers)
    answers.post(POSTS_URL, status=201, body=b"", headers={"x-restli-id": "urn:li:share:6844"})

    result = person.publish(
        access_token="AQV-1", text="Hello (world) #launch", media_urls=[], idempotency_key="pt"
    )

    assert result.platform_post_id == "urn:li:share:6844"
    post = answers.calls[1].request
    assert post.headers["LinkedIn-Version"] == "202510"
    assert post.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert post.headers["Authorization"] == "Bearer AQV-1"
    assert json.loads(post.body) == {
        "author": "urn:li:person:782bbtaQ",
        "commentary": r"Hello \(world\) \#launch",
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }


def test_a_page_post_with_an_image(company, answers):
    answers.get("https://cdn.example.com/p.png", body=b"png-bytes", content_type="image/png")
    answer_acls(answers, "urn:li:organization:108")
    answers.post(
        IMAGES_URL,
        json={
            "value": {
                "uploadUrlExpiresAt": 1650567510704,
                "uploadUrl": "https://www.linkedin.com/dms-uploads/up-1",
                "image": "urn:li:image:C4E10AQ1",
            }
        },
    )
    answers.put("https://www.linkedin.com/dms-uploads/up-1", status=201)
    answers.post(POSTS_URL, status=201, headers={"x-restli-id": "urn:li:share:1"})

    result = company.publish(
        access_token="AQV-1", text="Launch", media_urls=["https://cdn.example.com/p.png"]
    )

    assert result.platform_post_id == "urn:li:share:1"
    download, _acls, initialize, upload, post = (call.request for call in answers.calls)
    assert "Authorization" not in download.headers
    assert json.loads(initialize.body) == {
        "initializeUploadRequest": {"owner": "urn:li:organization:108"}
    }
    assert initialize.headers["LinkedIn-Version"] == "202510"
    assert (upload.method, upload.body) == ("PUT", b"png-bytes")
    assert upload.headers["Authorization"] == "Bearer AQV-1"
    sent = json.loads(post.body)
    assert sent["author"] == "urn:li:organization:108"
    assert sent["content"] == {"media": {"id": "urn:li:image:C4E10AQ1"}}


def test_several_images_make_a_multi_image_post(person, answers):
    for name in ("a", "b"):
        answers.get(f"https://cdn.example.com/{name}.jpg", body=b"j", content_type="image/jpeg")
    answer_userinfo(answers)
    for n in (1, 2):
        answers.post(
            IMAGES_URL,
            json={
                "value": {
                    "uploadUrl": f"https://www.linkedin.com/dms-uploads/up-{n}",
                    "image": f"urn:li:image:I{n}",
                }
            },
        )
        answers.put(f"https://www.linkedin.com/dms-uploads/up-{n}", status=201)
    answers.post(POSTS_URL, status=201, headers={"x-restli-id": "urn:li:share:2"})

    person.publish(
        access_token="AQV-1",
        text="",
        media_urls=["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"],
    )

    sent = json.loads(answers.calls[-1].request.body)
    assert sent["commentary"] == ""
    assert sent["content"] == {
        "multiImage": {"images": [{"id": "urn:li:image:I1"}, {"id": "urn:li:image:I2"}]}
    }


@pytest.mark.parametrize(
    ("text", "media_urls"),
    [("", []), (" ", []), ("many", [f"https://cdn.example.com/{n}.jpg" for n in range(21)])],
)
def test_a_post_linkedin_would_refuse_is_refused_before_calling_it(
    linkedin, answers, text, media_urls
):
    with pytest.raises(ProviderRequestError):
        linkedin.publish(access_token="AQV-1", text=text, media_urls=media_urls)

    assert len(answers.calls) == 0


def test_a_video_is_refused_before_calling_linkedin(linkedin, answers):
    answers.get("https://cdn.example.com/clip.mp4", body=b"v", content_type="video/mp4")

    with pytest.raises(ProviderRequestError, match="video is not supported"):
        linkedin.publish(
            access_token="AQV-1", text="clip", media_urls=["https://cdn.example.com/clip.mp4"]
        )

    assert all("linkedin.com" not in call.request.url for call in answers.calls)


def test_commentary_escapes_the_little_text_reserved_characters():
    assert escape_commentary(r"a|b{c}d@e[f]g(h)i<j>k#l\m*n_o~p") == (
        r"a\|b\{c\}d\@e\[f\]g\(h\)i\<j\>k\#l\\m\*n\_o\~p"
    )
    assert escape_commentary("plain text, with punctuation!") == "plain text, with punctuation!"


# --- revoke ---------------------------------------------------------------------------------


def test_revoke_posts_the_access_token_with_the_client_credentials(linkedin, answers):
    answers.post(REVOKE_URL, status=200, body=b"")

    linkedin.revoke(access_token="AQV-1", refresh_token="AQX-1")

    (call,) = answers.calls
    assert form(call) == {
        "token": "AQV-1",
        "client_id": "fake-client-id",
        "client_secret": "fake-client-secret",
    }


def test_a_revoke_linkedin_refuses_is_raised(person, answers):
    answers.post(REVOKE_URL, status=500, body=b"")

    with pytest.raises(ProviderTransientError):
        person.revoke(access_token="AQV-1", refresh_token="")


# --- against the fakes ----------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["linkedin_person", "linkedin_company"])
def test_connect_refresh_publish_and_revoke_against_the_linkedin_fake(fakes, platform):
    fake = fakes[platform]
    other = fakes["linkedin_company" if platform == "linkedin_person" else "linkedin_person"]
    linkedin = provider_for(platform)
    verifier, challenge = pkce_pair()

    url = linkedin.authorization_url(
        state="st-9", code_challenge=challenge, redirect_uri=REDIRECT_URI, options={}
    )
    answer = provider_http.request("GET", url, allow_redirects=False)
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert back["state"] == ["st-9"]

    tokens = linkedin.exchange_code(
        code=back["code"][0], redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    profile = linkedin.fetch_profile(access_token=tokens.access_token)
    upstream = fake.users["fakeuser"]
    assert profile.follower_count == upstream.followers
    if platform == "linkedin_company":
        assert (profile.username, profile.follower_count) == (upstream.handle, 1200)
        assert profile.avatar_url and profile.avatar_url.startswith("https://cdn.example.com/")
    else:
        assert profile.display_name == upstream.name and profile.username is None

    refreshed = linkedin.refresh(refresh_token=tokens.refresh_token)
    assert refreshed.access_token != tokens.access_token
    assert refreshed.refresh_token == tokens.refresh_token  # not rotated
    with pytest.raises(ProviderDefinitiveError):
        linkedin.fetch_profile(access_token=tokens.access_token)

    result = linkedin.publish(
        access_token=refreshed.access_token,
        text="Hello from socialhub (fake) #1",
        media_urls=list(fake.e2e_media_urls),
    )
    (published,) = fake.published
    assert published["urn"] == result.platform_post_id
    assert published["author"] == profile.metadata["author_urn"]
    assert published["commentary"] == r"Hello from socialhub \(fake\) \#1"
    assert len(published["images"]) == 1
    assert other.published == []
    with pytest.raises(ProviderRequestError) as duplicate:
        linkedin.publish(
            access_token=refreshed.access_token,
            text="Hello from socialhub (fake) #1",
            media_urls=[],
        )
    assert duplicate.value.error_code == "duplicate"

    linkedin.revoke(access_token=refreshed.access_token, refresh_token=refreshed.refresh_token)
    assert fake.revoked == [refreshed.access_token]
    with pytest.raises(ProviderDefinitiveError):
        linkedin.fetch_profile(access_token=refreshed.access_token)
    with pytest.raises(ProviderDefinitiveError):
        linkedin.refresh(refresh_token=refreshed.refresh_token)


def test_a_member_token_cannot_act_for_a_page(fakes):
    person, company = provider_for("linkedin_person"), provider_for("linkedin_company")
    _verifier, challenge = pkce_pair()
    url = person.authorization_url(
        state="s", code_challenge=challenge, redirect_uri=REDIRECT_URI, options={}
    )
    answer = provider_http.request("GET", url, allow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = person.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier="")

    with pytest.raises(ProviderRequestError) as caught:
        company.fetch_profile(access_token=tokens.access_token)

    assert caught.value.http_status == 403
