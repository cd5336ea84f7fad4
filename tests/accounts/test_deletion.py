"""Deleting a workspace or a user (staff, in the admin): refused while social accounts are
connected; otherwise everything that belongs to it goes, and the audit trail says so."""

from __future__ import annotations

import pytest

from accounts.models import ApiKey, AuditEvent, Membership, Platform, User, Workspace
from accounts.services.actors import Actor
from accounts.services.users import user_delete
from accounts.services.workspaces import workspace_delete
from socialhub.api.errors import ApplicationError, ErrorCode
from tests.factories import (
    UserFactory,
    account_in,
    add_member,
    api_key_for,
    personal_workspace,
    shared_workspace,
)
from tests.helpers import database_state

pytestmark = pytest.mark.django_db

STAFF = Actor.system("test")


def test_a_workspace_with_a_connected_account_is_not_deleted():
    # given
    owner = UserFactory()
    team = shared_workspace(owner)
    account_in(team, owner, Platform.X)
    before = database_state()

    # when
    with pytest.raises(ApplicationError) as refused:
        workspace_delete(workspace=team, actor=STAFF)

    # then
    assert refused.value.code is ErrorCode.CONFLICT
    assert database_state() == before


def test_deleting_a_workspace_counts_what_went_in_the_audit_trail():
    # given: a team with two members and a key, its accounts gone
    owner = UserFactory()
    team = shared_workspace(owner, name="Gone agency")
    add_member(team, UserFactory())
    api_key_for(team)
    team_id, team_pk = team.public_id, team.pk

    # when
    workspace_delete(workspace=team, actor=STAFF)

    # then
    assert not Workspace.objects.filter(pk=team_pk).exists()
    assert not ApiKey.objects.filter(workspace_id=team_pk).exists()
    event = AuditEvent.objects.get(action="workspace.deleted")
    assert event.subject_ids == [team_id]
    assert event.data == {
        "name": "Gone agency",
        "members": 2,
        "apiKeys": 1,
        "webhookEndpoints": 0,
        "scheduledPosts": 0,
        "leases": 0,
    }


def test_deleting_a_user_takes_their_personal_workspace_and_leaves_shared_ones():
    # given: a user with a personal workspace and a seat in someone else's team
    user, owner = UserFactory(), UserFactory()
    own = personal_workspace(user)
    team = shared_workspace(owner)
    add_member(team, user)
    user_id, user_pk, own_id, own_pk = user.public_id, user.pk, own.public_id, own.pk

    # when
    user_delete(user=user, actor=STAFF)

    # then
    assert not User.objects.filter(pk=user_pk).exists()
    assert not Workspace.objects.filter(pk=own_pk).exists()
    assert Workspace.objects.filter(pk=team.pk).exists()
    assert list(Membership.objects.filter(workspace=team).values_list("user", flat=True)) == [
        owner.pk
    ]
    events = {
        (action, tuple(ids))
        for action, ids in AuditEvent.objects.values_list("action", "subject_ids")
    }
    assert {("user.deleted", (user_id,)), ("workspace.deleted", (own_id,))} <= events


def test_a_user_with_a_connected_account_is_not_deleted():
    # given: the account is in a shared workspace
    user = UserFactory()
    account_in(shared_workspace(UserFactory()), user, Platform.X)
    before = database_state()

    # when
    with pytest.raises(ApplicationError) as refused:
        user_delete(user=user, actor=STAFF)

    # then
    assert refused.value.code is ErrorCode.CONFLICT
    assert database_state() == before
    assert User.objects.filter(pk=user.pk).exists()
