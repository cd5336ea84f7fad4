"""The demo data of the first-run command: what a new user logs in to."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Lease, Membership, SocialAccount, User, Workspace
from socialhub import demo
from tests.helpers import assert_success, bearer_client

pytestmark = pytest.mark.django_db


def _login(client, email, password):
    return assert_success(
        client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")
    )


def test_seed_creates_the_creator_the_agency_and_the_leased_account(api_client):
    summary = demo.demo_data_seed()

    assert summary.created is True
    tokens = _login(api_client, summary.email, summary.password)
    _login(api_client, summary.teammate_email, summary.teammate_password)
    _login(api_client, summary.staff_email, summary.staff_password)
    creator = User.objects.get(email=summary.email)
    client = bearer_client(creator)
    assert tokens["accessToken"]

    listed = assert_success(client.get("/api/v1/creators/social"))
    assert sorted(row["platform"] for row in listed) == ["instagram", "x", "youtube"]
    assert assert_success(client.get("/api/v1/creators/profile"))["totalFollowers"] == (
        12_400 + 3_150 + 48_900
    )

    workspaces = assert_success(client.get("/api/v1/workspaces"))
    agency = next(row for row in workspaces if row["name"] == demo.AGENCY_NAME)
    assert agency["role"] == "owner"
    team = assert_success(client.get(f"/api/v1/social-accounts?workspace={agency['id']}"))
    (leased,) = team["socialAccounts"]["tiktok_business"]
    assert leased["platformUsername"] == "agency_tiktok"
    assert Lease.objects.get(account_public_id=leased["id"]).released_at is None


def test_the_owner_releases_the_teammates_leased_account():
    demo.demo_data_seed()
    creator = User.objects.get(email=demo.DEMO_EMAIL)
    leased = SocialAccount.objects.get(platform_username="agency_tiktok")

    report = assert_success(
        bearer_client(creator).delete(f"/api/v1/leased-accounts/{leased.public_id}")
    )

    assert report["disconnectedReason"] == "lease_released"
    assert report["releasedLeases"] == 1
    assert Lease.objects.get(account_public_id=leased.public_id).released_at is not None


def test_a_second_seed_changes_nothing():
    demo.demo_data_seed()
    counts = (User.objects.count(), Workspace.objects.count(), Membership.objects.count())

    again = demo.demo_data_seed()

    assert again.created is False
    assert (User.objects.count(), Workspace.objects.count(), Membership.objects.count()) == counts


def test_the_command_refuses_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError):
        call_command("seed_demo")
    assert not User.objects.filter(email=demo.DEMO_EMAIL).exists()
