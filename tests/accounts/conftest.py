"""Fixtures of the offboarding, command and admin tests."""

from __future__ import annotations

import pytest

from accounts.models import Platform
from tests.factories import (
    UserFactory,
    account_in,
    add_member,
    personal_workspace,
    shared_workspace,
)


@pytest.fixture
def team():
    """A shared workspace with two creators: ann (instagram 1000, x 200, queued posts) and
    bob (youtube 300); ann also keeps a tiktok account (50) in her personal workspace."""
    ann, bob = UserFactory(), UserFactory()
    workspace = shared_workspace(ann)
    add_member(workspace, bob)
    accounts = [
        account_in(workspace, ann, Platform.INSTAGRAM, followers=1000, queued=2, snapshots=3),
        account_in(workspace, ann, Platform.X, followers=200, queued=1, snapshots=1, inbox=2),
        account_in(workspace, bob, Platform.YOUTUBE, followers=300, queued=0, snapshots=0),
    ]
    kept = account_in(personal_workspace(ann), ann, Platform.TIKTOK_BUSINESS, followers=50)
    return workspace, ann, bob, accounts, kept
