"""The background runs the admin hands to a worker for large selections and workspaces."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import AuditEvent, SocialAccount
from accounts.tasks.offboarding import (
    social_accounts_disconnect_each_task,
    user_offboard_task,
    workspace_offboard_task,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_workspace_offboard_task_is_audited_as_the_staff_user(team):
    # given
    workspace, _ann, _bob, _accounts, kept = team
    staff = UserFactory()

    # when
    done = workspace_offboard_task(str(workspace.pk), str(staff.pk))

    # then
    assert done == 3
    assert list(SocialAccount.objects.all()) == [kept]
    actors = set(
        AuditEvent.objects.filter(
            action__in=["social_account.disconnected", "workspace.offboarded"]
        ).values_list("action", "actor_type", "actor_id")
    )
    assert actors == {
        ("social_account.disconnected", "user", staff.public_id),
        ("workspace.offboarded", "user", staff.public_id),
    }


def test_a_redelivered_task_finds_only_what_is_left(team):
    # given: the first delivery finished the workspace (a worker died before acknowledging)
    workspace, *_ = team
    staff = UserFactory()
    workspace_offboard_task(str(workspace.pk), str(staff.pk))

    # when
    again = workspace_offboard_task(str(workspace.pk), str(staff.pk))

    # then: nothing repeated
    assert again == 0
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 3


def test_tasks_keep_the_staff_id_when_the_user_is_gone_and_skip_a_gone_workspace(team):
    # given
    _workspace, _ann, _bob, accounts, _kept = team
    gone_staff = uuid.uuid4()

    # when
    disconnected = social_accounts_disconnect_each_task([str(accounts[0].pk)], str(gone_staff))
    nothing = workspace_offboard_task(str(uuid.uuid4()), str(gone_staff))

    # then
    assert (disconnected, nothing) == (1, 0)
    event = AuditEvent.objects.get(action="social_account.disconnected")
    assert (event.actor_type, event.actor_id, event.data["reason"]) == (
        "user",
        f"usr_{gone_staff}",
        "revoked_by_staff",
    )


def test_user_offboard_task_covers_every_workspace(team):
    # given
    _workspace, ann, _bob, _accounts, _kept = team
    staff = UserFactory()

    # when
    done = user_offboard_task(str(ann.pk), str(staff.pk))

    # then: ann's instagram and x in the team, and her tiktok at home
    assert done == 3
    assert not SocialAccount.objects.filter(user=ann).exists()
    assert AuditEvent.objects.get(action="user.offboarded").actor_id == staff.public_id
    assert user_offboard_task(str(uuid.uuid4()), str(staff.pk)) == 0
