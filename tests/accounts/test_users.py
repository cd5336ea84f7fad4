"""However a user comes into being, it has a personal workspace it owns and a profile."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import CreatorProfile, Membership, User, Workspace
from accounts.services.users import user_personal_space_ensure
from tests.helpers import assert_success, bearer_client, connect, profile_total

pytestmark = pytest.mark.django_db


def personal_workspaces(user) -> list[Workspace]:
    return list(
        Workspace.objects.filter(
            is_personal=True, memberships__user=user, memberships__role=Membership.Role.OWNER
        )
    )


def test_createsuperuser_gets_a_workspace_and_can_connect(monkeypatch):
    # given: staff created from the command line, not through the API
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "harbor-lantern-orbit-9")
    call_command(
        "createsuperuser", email="root@example.com", name="Root", interactive=False, verbosity=0
    )
    root = User.objects.get(email="root@example.com")
    client = bearer_client(root)

    # when: it connects an account like any creator
    data = assert_success(connect(client, "x", handle="root_x", followers=77))

    # then
    assert data["platform"] == "x"
    assert len(personal_workspaces(root)) == 1
    assert profile_total(client) == 77


def test_personal_space_is_created_once():
    user = User.objects.create_user(email="plain@example.com", password="x" * 12, name="Plain")

    user_personal_space_ensure(user=user)
    user_personal_space_ensure(user=user)

    assert len(personal_workspaces(user)) == 1
    assert CreatorProfile.objects.filter(user=user).count() == 1
