"""Connecting an account into a shared workspace: connect/start takes ``workspace``."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import Membership, SocialAccount
from tests.factories import UserFactory, add_member, personal_workspace, shared_workspace
from tests.helpers import (
    CONNECT_URL,
    REDIRECT_URI,
    START_URL,
    assert_error,
    assert_success,
    bearer_client,
    complete,
    follow_authorization_url,
)
from tests.helpers import Authorization as Auth

pytestmark = pytest.mark.django_db


def _connect_into(client, workspace_id: str, platform: str = "instagram", handle: str = "ann"):
    start = client.post(
        START_URL,
        {"platform": platform, "redirectUri": REDIRECT_URI, "workspace": workspace_id},
        format="json",
    )
    data = assert_success(start)
    code, state = follow_authorization_url(data["authorizationUrl"], handle=handle, followers=50)
    return complete(client, Auth(platform, code, state, data["authorizationUrl"], b""))


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_a_member_of_any_role_connects_into_the_shared_workspace(role):
    owner = UserFactory()
    agency = shared_workspace(owner)
    creator = owner if role == "owner" else UserFactory()
    if creator is not owner:
        add_member(agency, creator, role)

    connected = assert_success(_connect_into(bearer_client(creator), agency.public_id))

    account = SocialAccount.objects.get(pk=connected["id"].removeprefix("sa_"))
    assert account.workspace_id == agency.pk
    assert account.user_id == creator.pk
    listed = assert_success(
        bearer_client(owner).get(f"/api/v1/social-accounts?workspace={agency.public_id}")
    )
    assert [row["id"] for row in listed["socialAccounts"]["instagram"]] == [connected["id"]]


def test_without_workspace_the_account_lands_in_the_personal_workspace(user, user_client):
    start = assert_success(
        user_client.post(START_URL, {"platform": "x", "redirectUri": REDIRECT_URI}, format="json")
    )
    code, state = follow_authorization_url(start["authorizationUrl"], handle="bo", followers=1)
    connected = assert_success(
        user_client.post(
            CONNECT_URL, {"platform": "x", "code": code, "state": state}, format="json"
        )
    )

    account = SocialAccount.objects.get(pk=connected["id"].removeprefix("sa_"))
    assert account.workspace_id == personal_workspace(user).pk


def test_a_workspace_the_user_is_not_in_is_404_and_issues_no_state(user, user_client):
    stranger_space = shared_workspace(UserFactory())

    response = user_client.post(
        START_URL,
        {"platform": "x", "redirectUri": REDIRECT_URI, "workspace": stranger_space.public_id},
        format="json",
    )

    assert_error(response, 404, "NOT_FOUND", "workspace.not_found")
    assert not user.oauthstate_set.exists()


@pytest.mark.parametrize(
    "value", ["ws_nope", f"sa_{uuid.uuid4()}", 42, None, f"ws_{str(uuid.uuid4()).upper()}"]
)
def test_a_malformed_workspace_is_400_naming_it(user_client, value):
    response = user_client.post(
        START_URL, {"platform": "x", "redirectUri": REDIRECT_URI, "workspace": value}, format="json"
    )

    error = assert_error(response, 400, "VALIDATION")
    assert [item["field"] for item in error["details"]] == ["workspace"]


def test_reconnecting_keeps_the_account_in_its_workspace(user, user_client):
    agency = shared_workspace(UserFactory())
    add_member(agency, user, Membership.Role.MEMBER)
    first = assert_success(_connect_into(user_client, agency.public_id, handle="cy"))

    # The same upstream account again, this time without naming a workspace.
    start = assert_success(
        user_client.post(
            START_URL, {"platform": "instagram", "redirectUri": REDIRECT_URI}, format="json"
        )
    )
    code, state = follow_authorization_url(start["authorizationUrl"], handle="cy", followers=9)
    again = assert_success(
        user_client.post(
            CONNECT_URL, {"platform": "instagram", "code": code, "state": state}, format="json"
        )
    )

    assert again["reconnected"] is True
    assert again["id"] == first["id"]
    assert SocialAccount.objects.get(pk=first["id"].removeprefix("sa_")).workspace_id == agency.pk
