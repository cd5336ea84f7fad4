"""Every platform connected through the service's API against its local fake: connect
start, the consent screen, the code exchange and profile, a token refresh, a published
post, then a disconnect whose revoke reaches the platform."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import OAuthState, SocialAccount, TokenRevocation
from accounts.providers import adapter_classes
from accounts.providers import http as provider_http
from accounts.providers.base import pkce_pair
from accounts.services.refresh import social_account_token_refresh
from scheduling.models import PostTarget
from scheduling.services import post_target_publish, post_targets_claim_due
from tests.factories import PostTargetFactory, ScheduledPostFactory
from tests.fake_platforms import CLIENT_SECRET
from tests.helpers import CONNECT_URL, START_URL, assert_error, assert_success

pytestmark = pytest.mark.django_db

REDIRECT_URI = "https://app.example.com/oauth/callback"
PLATFORMS = settings.SOCIAL_PLATFORMS
# Platforms that offer no way to revoke a token (the account is forgotten here all the same).
WITHOUT_REVOCATION = {"instagram", "threads", "pinterest"}
# LinkedIn shows a member's name, not a handle, under the scopes it grants apps.
WITHOUT_HANDLE = {"linkedin_person"}


def connect_through(client, fake, platform: str) -> dict:
    start = assert_success(
        client.post(START_URL, {"platform": platform, "redirectUri": REDIRECT_URI}, format="json")
    )
    url = start["authorizationUrl"]
    assert url.startswith("http://platforms.test/"), url  # the platform's host, overridden
    # The browser: the fake's consent screen approves and sends it back to our redirect URI.
    answer = provider_http.request("GET", url, allow_redirects=False)
    assert answer.status_code in (302, 303), answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
    query = parse_qs(back.query)
    assert query["state"] == [start["state"]]
    body = {"platform": platform, "code": query["code"][0], "state": query["state"][0]}
    return assert_success(client.post(CONNECT_URL, body, format="json"))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_connect_refresh_publish_and_disconnect_against_the_platform(
    platform, fakes, user, user_client, django_capture_on_commit_callbacks
):
    fake = fakes[platform]
    # Connect: the account is stored with what the platform's profile says.
    data = connect_through(user_client, fake, platform)
    account = SocialAccount.objects.get(user=user, platform=platform)
    upstream = fake.users["fakeuser"]
    assert data["platform"] == platform
    if platform in WITHOUT_HANDLE:
        assert account.platform_username is None
        assert account.display_name == upstream.name
    else:
        assert account.platform_username == upstream.handle
    assert account.metrics.follower_count == upstream.followers
    assert account.access_token and account.status == SocialAccount.Status.ACTIVE
    user.creator_profile.refresh_from_db()
    assert user.creator_profile.total_followers == upstream.followers

    # Refresh: a new access token from the platform, where the platform refreshes.
    if account.refresh_token:
        old_token = account.access_token
        SocialAccount.objects.filter(pk=account.pk).update(
            token_expires_at=timezone.now() + dt.timedelta(seconds=30)
        )
        assert social_account_token_refresh(social_account_id=account.pk).status == "refreshed"
        account.refresh_from_db()
        assert account.access_token != old_token
        assert account.status == SocialAccount.Status.ACTIVE

    # Publish: a due post goes out with the fresh token.
    post = ScheduledPostFactory(
        author=user,
        workspace=account.workspace,
        text=f"Hello from socialhub on {platform}",
        media_urls=list(fake.e2e_media_urls),
        scheduled_at=timezone.now() - dt.timedelta(seconds=5),
    )
    target = PostTargetFactory(post=post, social_account=account)
    assert post_targets_claim_due(limit=10) == [target.pk]
    outcome = post_target_publish(target_id=target.pk)
    target.refresh_from_db()
    assert (outcome.status, target.status) == ("published", PostTarget.Status.PUBLISHED), (
        target.error
    )
    assert len(fake.published) == 1
    assert target.platform_post_id and target.platform_post_id in str(fake.published[0])

    # Disconnect: the revoke task (run at commit) ends the grant at the platform.
    account_id, tokens = account.public_id, {account.access_token, account.refresh_token}
    revoked_before = len(fake.revoked)
    with django_capture_on_commit_callbacks(execute=True):
        assert_success(
            user_client.post(
                "/api/v1/creators/social/disconnect", {"platform": platform}, format="json"
            )
        )
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert not TokenRevocation.objects.filter(account_public_id=account_id).exists()
    if platform in WITHOUT_REVOCATION:
        assert fake.revoked[revoked_before:] == []
    else:
        # Bluesky's stored credential wraps the platform's token with its key.
        upstream_token = getattr(fake, "upstream_token", lambda token: token)
        assert set(fake.revoked[revoked_before:]) & {upstream_token(t) for t in tokens if t}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_platform_without_credentials_is_a_clear_400_at_connect_start(
    platform, settings, user_client
):
    settings.SOCIALHUB_SANDBOX = False
    settings.PROVIDER_CREDENTIALS = {p: {"client_id": "", "client_secret": ""} for p in PLATFORMS}

    answer = user_client.post(
        START_URL, {"platform": platform, "redirectUri": REDIRECT_URI}, format="json"
    )

    error = assert_error(answer, 400, "VALIDATION")
    assert platform in error["message"]
    assert error["details"] == [{"field": "platform", "message": "not configured"}]
    assert not OAuthState.objects.exists()


def test_a_refused_code_is_a_400_and_stores_nothing(fakes, user, user_client):
    start = assert_success(
        user_client.post(START_URL, {"platform": "x", "redirectUri": REDIRECT_URI}, format="json")
    )
    body = {"platform": "x", "code": "not-a-code-the-platform-issued", "state": start["state"]}

    answer = user_client.post(CONNECT_URL, body, format="json")

    assert_error(answer, 400, "VALIDATION")
    assert not SocialAccount.objects.exists()


def test_the_platform_down_at_the_exchange_is_a_503(fakes, user, user_client):
    from tests.fake_platforms.base import Answer

    start = assert_success(
        user_client.post(
            START_URL, {"platform": "youtube", "redirectUri": REDIRECT_URI}, format="json"
        )
    )
    answer = provider_http.request("GET", start["authorizationUrl"], allow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    fakes["youtube"].inject(r"/token", Answer(503, "down for maintenance"))

    answer = user_client.post(
        CONNECT_URL, {"platform": "youtube", "code": code, "state": start["state"]}, format="json"
    )

    assert_error(answer, 503, "UNAVAILABLE")
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_outbox_forgets_tokens_a_platform_cannot_revoke(platform, fakes):
    from accounts.services.revocation import token_revocation_process

    row = TokenRevocation.objects.create(
        platform=platform, account_public_id="sa_gone", access_token="at-x", refresh_token="rt-x"
    )
    outcome = token_revocation_process(revocation_id=row.pk)

    assert adapter_classes()[platform].can_revoke is (platform not in WITHOUT_REVOCATION)
    if platform in WITHOUT_REVOCATION:
        assert outcome.status == "unsupported"
        assert fakes[platform].calls == []
    else:
        assert outcome.status != "unsupported"
    assert outcome.status in {"unsupported", "revoked", "refused"}
    assert not TokenRevocation.objects.filter(pk=row.pk).exists()


# Uploads before the post --------------------------------------------------------------------

# Platforms whose media is uploaded (and processed) before the post that publishes it.
PREPARING = ["x", "linkedin_person", "linkedin_company", "bluesky", "instagram", "threads"]


def granted_token(platform: str) -> str:
    """An access token from the platform's fake, through the adapter's own OAuth flow."""
    adapter = adapter_classes()[platform]()
    verifier, challenge = pkce_pair()
    url = adapter.authorization_url(
        state="st",
        code_challenge=challenge,
        code_verifier=verifier,
        redirect_uri=REDIRECT_URI,
        options={},
    )
    back = provider_http.request("GET", url, allow_redirects=False).headers["Location"]
    code = parse_qs(urlsplit(back).query)["code"][0]
    return adapter.exchange_code(
        code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier
    ).access_token


@pytest.mark.parametrize("platform", PREPARING)
def test_media_is_prepared_without_publishing_and_the_post_then_uses_it(platform, fakes):
    fake, adapter = fakes[platform], adapter_classes()[platform]()
    token = granted_token(platform)
    media = ["https://cdn.example.com/photo.jpg"]

    prepared = adapter.prepare_publish(access_token=token, text="Soon", media_urls=media)

    assert prepared and fake.published == []  # uploaded, nothing out yet
    calls_before, fetched_before = len(fake.calls), len(fakes["cdn"].calls)
    result = adapter.publish(access_token=token, text="Soon", media_urls=media, prepared=prepared)
    assert len(fake.published) == 1 and result.platform_post_id
    assert len(fakes["cdn"].calls) == fetched_before  # the media is not fetched again
    assert len(fake.calls) - calls_before <= 2  # the post itself, not the uploads again


@pytest.mark.parametrize("platform", PLATFORMS)
def test_no_token_or_client_secret_is_stored_or_logged_in_plaintext(
    platform, fakes, user, user_client, caplog
):
    from tests.test_security import _column_values, _text_columns

    caplog.set_level(logging.DEBUG)
    fake = fakes[platform]
    connect_through(user_client, fake, platform)
    account = SocialAccount.objects.get(user=user, platform=platform)
    if account.refresh_token:
        SocialAccount.objects.filter(pk=account.pk).update(
            token_expires_at=timezone.now() + dt.timedelta(seconds=30)
        )
        social_account_token_refresh(social_account_id=account.pk)
    post = ScheduledPostFactory(
        author=user,
        workspace=account.workspace,
        text="Scan me",
        media_urls=list(fake.e2e_media_urls),
        scheduled_at=timezone.now() - dt.timedelta(seconds=5),
    )
    target = PostTargetFactory(post=post, social_account=account)
    post_targets_claim_due(limit=10)
    assert post_target_publish(target_id=target.pk).status == "published"

    secrets = {CLIENT_SECRET} | {
        token
        for grant in list(fake.grants.values()) + list(fake.by_refresh.values())
        for token in (grant.access_token, grant.refresh_token)
    }
    assert len(secrets) >= 2  # the client secret and at least the live access token
    values = [
        (f"{table}.{column}", value)
        for table, names in _text_columns().items()
        for column, value in _column_values(table, names)
    ]
    stored = [where for where, value in values if any(secret in value for secret in secrets)]
    # Control: the scan reads the stored (encrypted) token and the handle.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT access_token FROM {SocialAccount._meta.db_table} WHERE id = %s", [account.pk]
        )
        (ciphertext,) = cursor.fetchone()
    assert ciphertext in {value for _where, value in values}
    logged = [
        r.getMessage()[:80] for r in caplog.records if any(s in r.getMessage() for s in secrets)
    ]
    assert stored == []
    assert logged == []
