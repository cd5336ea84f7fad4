"""The creator and partner flows over real HTTP against pytest-django's live server.

The provider adapter reaches the sandbox through the server's own socket here (a plain
``requests.Session``), so the token exchange, the profile read and the after-commit revoke
all cross the network stack like they would against a real platform.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from accounts.models import SandboxCredential, SocialAccount, TokenRevocation
from accounts.providers import http as provider_http
from tests.helpers import assert_error, assert_success

REDIRECT_URI = "https://app.example.com/oauth/callback"
PASSWORD = "a long and unusual passphrase 42"
TIMEOUT = 10


@pytest.fixture
def live_sandbox(live_server, settings):
    """Provider calls go over HTTP to the live server's /sandbox/."""
    settings.SANDBOX_BASE_URL = live_server.url + "/sandbox"
    previous = provider_http.http_session()
    session = requests.Session()
    provider_http.set_http_session(session)
    yield live_server
    provider_http.set_http_session(previous)
    session.close()


def api(base: str, path: str) -> str:
    return f"{base}/api/v1/{path}"


def register_and_login(base: str, email: str) -> requests.Session:
    """A session that sends the creator's bearer token."""
    registered = requests.post(
        api(base, "auth/register"),
        json={"email": email, "password": PASSWORD, "name": "Ann Lee"},
        timeout=TIMEOUT,
    )
    assert assert_success(registered, 201)["email"] == email
    login = requests.post(
        api(base, "auth/login"), json={"email": email, "password": PASSWORD}, timeout=TIMEOUT
    )
    tokens = assert_success(login)
    creator = requests.Session()
    creator.headers["Authorization"] = f"Bearer {tokens['accessToken']}"
    return creator


def connect_over_http(
    base: str, creator: requests.Session, platform: str, handle: str, workspace: str | None = None
) -> dict:
    body = {"platform": platform, "redirectUri": REDIRECT_URI}
    if workspace is not None:
        body["workspace"] = workspace
    start = creator.post(api(base, "creators/social/connect/start"), json=body, timeout=TIMEOUT)
    authorization_url = assert_success(start)["authorizationUrl"]
    assert authorization_url.startswith(base + "/sandbox/oauth/authorize?")

    consent = requests.get(
        f"{authorization_url}&sandbox_user={handle}&sandbox_followers=2500",
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert consent.status_code == 302, consent.text
    location = consent.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    back = parse_qs(urlsplit(location).query)

    connected = creator.post(
        api(base, "creators/social/connect"),
        json={"platform": platform, "code": back["code"][0], "state": back["state"][0]},
        timeout=TIMEOUT,
    )
    return assert_success(connected)


@pytest.mark.django_db(transaction=True)
def test_register_connect_list_disconnect_over_http(live_sandbox):
    base = live_sandbox.url
    creator = register_and_login(base, "ann@example.com")

    connected = connect_over_http(base, creator, "instagram", "ann_live")

    assert connected["id"].startswith("sa_")
    assert connected["platformUsername"] == "ann_live"
    assert connected["reconnected"] is False
    account = SocialAccount.objects.get(platform_username="ann_live")
    rows = assert_success(creator.get(api(base, "creators/social"), timeout=TIMEOUT))
    assert rows == [
        {
            "platform": "instagram",
            "platformUsername": "ann_live",
            "verified": True,
            "connectedAt": connected["connectedAt"],
        }
    ]
    profile = assert_success(creator.get(api(base, "creators/profile"), timeout=TIMEOUT))
    assert profile["totalFollowers"] == 2500

    disconnected = creator.post(
        api(base, "creators/social/disconnect"), json={"platform": "instagram"}, timeout=TIMEOUT
    )

    assert disconnected.status_code == 200
    assert disconnected.json() == {"success": True}
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert assert_success(creator.get(api(base, "creators/social"), timeout=TIMEOUT)) == []
    profile = assert_success(creator.get(api(base, "creators/profile"), timeout=TIMEOUT))
    assert profile["totalFollowers"] == 0
    # The revoke ran after commit in the server and reached the sandbox over HTTP.
    live_tokens = SandboxCredential.objects.filter(
        account__handle="ann_live", kind__in=["access", "refresh"]
    )
    assert live_tokens.exists()
    assert not live_tokens.filter(revoked_at__isnull=True).exists()
    assert not TokenRevocation.objects.exists()
    assert_error(
        creator.post(
            api(base, "creators/social/disconnect"),
            json={"platform": "instagram"},
            timeout=TIMEOUT,
        ),
        404,
        "NOT_FOUND",
    )


@pytest.mark.django_db(transaction=True)
def test_reconnect_and_conflict_over_http(live_sandbox):
    base = live_sandbox.url
    creator = register_and_login(base, "bo@example.com")
    first = connect_over_http(base, creator, "x", "bo_live")

    again = connect_over_http(base, creator, "x", "bo_live")

    assert again["reconnected"] is True
    assert again["id"] == first["id"]
    start = creator.post(
        api(base, "creators/social/connect/start"),
        json={"platform": "x", "redirectUri": REDIRECT_URI},
        timeout=TIMEOUT,
    )
    consent = requests.get(
        assert_success(start)["authorizationUrl"] + "&sandbox_user=someone_else",
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    back = parse_qs(urlsplit(consent.headers["Location"]).query)
    conflict = creator.post(
        api(base, "creators/social/connect"),
        json={"platform": "x", "code": back["code"][0], "state": back["state"][0]},
        timeout=TIMEOUT,
    )
    error = assert_error(conflict, 409, "CONFLICT")
    assert error["i18nKey"] == "creator.social.already_connected"
    assert SocialAccount.objects.get(platform="x").platform_username == "bo_live"


@pytest.mark.django_db(transaction=True)
def test_the_clients_correlation_id_is_echoed(live_server):
    sent = f"client-{uuid.uuid4()}"

    response = requests.get(
        api(live_server.url, "creators/social"),
        headers={"X-Correlation-ID": sent},
        timeout=TIMEOUT,
    )

    error = assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert response.headers["X-Correlation-ID"] == sent
    assert error["correlationId"] == sent


@pytest.mark.django_db(transaction=True)
def test_x_request_id_is_used_when_no_correlation_id_is_sent(live_server):
    response = requests.get(
        api(live_server.url, "no-such-endpoint"),
        headers={"X-Request-ID": "req-0042"},
        timeout=TIMEOUT,
    )

    error = assert_error(response, 404, "NOT_FOUND")
    assert error["correlationId"] == "req-0042"


@pytest.mark.django_db(transaction=True)
def test_an_unusable_correlation_id_is_replaced(live_server):
    response = requests.get(
        api(live_server.url, "creators/social"),
        headers={"X-Correlation-ID": "x" * 300},
        timeout=TIMEOUT,
    )

    error = assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert str(uuid.UUID(error["correlationId"])) == error["correlationId"]


@pytest.mark.django_db(transaction=True)
def test_partner_integration_over_http(live_sandbox):
    """An agency owner issues a key; the partner lists, reads, dry-runs and disconnects a
    teammate's account with a retried request, then loses access when the key is revoked."""
    base = live_sandbox.url
    owner = register_and_login(base, "owner@example.com")
    teammate = register_and_login(base, "mate@example.com")
    agency = assert_success(
        owner.post(api(base, "workspaces"), json={"name": "Agency"}, timeout=TIMEOUT), 201
    )
    added = owner.post(
        api(base, f"workspaces/{agency['id']}/members"),
        json={"email": "mate@example.com", "role": "member"},
        timeout=TIMEOUT,
    )
    assert assert_success(added, 201)["role"] == "member"
    created = owner.post(
        api(base, f"workspaces/{agency['id']}/api-keys"),
        json={"name": "crm", "scopes": ["social:read", "social:write"]},
        timeout=TIMEOUT,
    )
    issued = assert_success(created, 201)
    partner = requests.Session()
    partner.headers["Authorization"] = f"Bearer {issued['key']}"
    connected = connect_over_http(base, teammate, "x", "mate_live", workspace=agency["id"])

    listed = assert_success(partner.get(api(base, "social-accounts"), timeout=TIMEOUT))
    assert [row["id"] for row in listed["socialAccounts"]["x"]] == [connected["id"]]
    assert all(rows == [] for platform, rows in listed["socialAccounts"].items() if platform != "x")
    read = assert_success(
        partner.get(api(base, f"social-accounts/{connected['id']}"), timeout=TIMEOUT)
    )
    assert read["socialAccount"]["workspaceId"] == agency["id"]
    assert read["usage"] == []
    url = api(base, f"social-accounts/{connected['id']}")
    dry = assert_success(partner.delete(url + "?dryRun=true", timeout=TIMEOUT))
    assert dry["dryRun"] is True
    assert SocialAccount.objects.filter(platform_username="mate_live").exists()

    first = partner.delete(url, headers={"Idempotency-Key": "offboard-1"}, timeout=TIMEOUT)
    retried = partner.delete(url, headers={"Idempotency-Key": "offboard-1"}, timeout=TIMEOUT)

    report = assert_success(first)
    assert report["disconnectedReason"] == "revoked_by_partner"
    assert report["purged"] == {"metrics": 1, "metricsSnapshots": 0, "inboxItems": 0}
    assert "Idempotent-Replayed" not in first.headers
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert assert_success(retried) == report
    assert not SocialAccount.objects.filter(platform_username="mate_live").exists()
    assert_error(partner.delete(url, timeout=TIMEOUT), 404, "NOT_FOUND")
    live_tokens = SandboxCredential.objects.filter(account__handle="mate_live")
    assert not live_tokens.filter(revoked_at__isnull=True, kind__in=["access", "refresh"]).exists()

    revoked = owner.delete(
        api(base, f"workspaces/{agency['id']}/api-keys/{issued['id']}"), timeout=TIMEOUT
    )
    assert assert_success(revoked)["revokedAt"]
    assert_error(
        partner.get(api(base, "social-accounts"), timeout=TIMEOUT), 401, "AUTH_UNAUTHORIZED"
    )
