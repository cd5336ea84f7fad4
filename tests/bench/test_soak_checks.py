"""The soak's invariant checker (bench/soak_checks.py): it passes on a consistent state and
names the invariant each kind of damage breaks."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from accounts.models import CreatorProfile, InboxItem, SocialAccount, User
from accounts.services.actors import Actor
from accounts.services.disconnect import social_account_disconnect
from accounts.services.sandbox import sandbox_grant_issue
from bench import soak_checks
from bench.soak_checks import Counts
from bench.soak_traffic import Seen
from scheduling.models import PostTarget, ScheduledPost
from tests.factories import (
    PostTargetFactory,
    UserFactory,
    personal_workspace,
    sandbox_connected_account,
)

pytestmark = pytest.mark.django_db


@dataclass
class World:
    user: User
    kept: SocialAccount
    baseline: Counts


@pytest.fixture
def world(django_capture_on_commit_callbacks) -> World:
    """A creator with two sandbox accounts, a queued post on one and published history on
    the other, which is then disconnected (its revocation runs)."""
    user = UserFactory()
    kept = sandbox_connected_account(user, "x", handle="soak_kept", followers=300)
    gone = sandbox_connected_account(user, "bluesky", handle="soak_gone", followers=200)
    PostTargetFactory(social_account=kept)
    published = ScheduledPost.objects.create(
        workspace=personal_workspace(user),
        author=user,
        scheduled_at=timezone.now() - dt.timedelta(hours=1),
        status=ScheduledPost.Status.PUBLISHED,
    )
    PostTargetFactory(
        post=published,
        social_account=gone,
        status=PostTarget.Status.PUBLISHED,
        published_at=timezone.now(),
    )
    baseline = soak_checks.counts()
    with django_capture_on_commit_callbacks(execute=True):
        social_account_disconnect(
            account=gone, actor=Actor.for_user(user), reason="revoked_by_user"
        )
    return World(user=user, kept=kept, baseline=baseline)


def failed(world: World, *, tokens: list[str] | None = None, **seen) -> set[str]:
    """The names of the checks that fail, the clients having seen one disconnect (the
    fixture's) unless ``seen`` says otherwise."""
    checks = soak_checks.run_checks(
        baseline=world.baseline,
        seen=Seen(**{"disconnects": 1, **seen}),
        tokens=soak_checks.known_tokens() if tokens is None else tokens,
    )
    return {check.name for check in checks if not check.passed}


def test_a_consistent_state_passes_every_check(world):
    assert failed(world) == set()
    assert PostTarget.objects.filter(social_account__isnull=True).exists()  # history kept


def test_a_wrong_follower_total_fails(world):
    CreatorProfile.objects.filter(user=world.user).update(total_followers=F("total_followers") + 1)

    assert failed(world) == {"creator totals = sum of followers"}


def test_a_queued_target_of_a_missing_account_fails(world):
    post = ScheduledPost.objects.create(
        workspace=world.kept.workspace,
        author=world.user,
        scheduled_at=timezone.now() + dt.timedelta(hours=1),
    )
    PostTarget.objects.create(post=post, social_account=None, account_platform="x")

    assert failed(world, posts_created=1) == {"no open target without its account"}


def test_a_post_whose_status_contradicts_its_targets_fails(world):
    ScheduledPost.objects.filter(targets__social_account=world.kept).update(
        status=ScheduledPost.Status.CANCELED
    )

    assert failed(world) == {"post status follows its targets"}


def test_a_row_pointing_at_a_missing_account_fails(world):
    # Foreign keys are checked at commit, which this test's transaction never reaches.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {InboxItem._meta.db_table} "
            "(platform_item_id, author_handle, text, received_at, social_account_id) "
            "VALUES ('orphan', '', '', now(), %s)",
            [uuid.uuid4()],
        )
    try:
        assert failed(world) == {"no orphan rows"}
    finally:
        InboxItem.objects.filter(platform_item_id="orphan").delete()


def test_a_token_stored_in_the_clear_fails(world):
    plaintext = world.kept.access_token
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SocialAccount._meta.db_table} SET access_token = %s WHERE id = %s",
            [plaintext, world.kept.pk],
        )

    assert failed(world, tokens=[plaintext]) == {
        "token columns encrypted",
        "no plaintext token in the data or logs",
    }


def test_a_live_grant_of_an_account_connected_nowhere_fails(world):
    sandbox_grant_issue(platform="x", handle="never_connected")

    assert failed(world) == {"disconnected grants revoked upstream"}


def test_an_outbox_row_left_behind_fails(world):
    social_account_disconnect(
        account=world.kept, actor=Actor.for_user(world.user), reason="revoked_by_user"
    )  # committed never, so its revocation task is never enqueued

    assert failed(world, disconnects=2) == {
        "revocation outbox drained",
        "disconnected grants revoked upstream",
    }


def test_disconnects_the_clients_were_not_told_of_fail(world):
    assert failed(world, disconnects=0) == {"disconnect audits = 200s seen"}


@pytest.mark.parametrize(
    ("seen", "check"),
    [
        ({"server_errors": 1}, "no 5xx and no failed request"),
        ({"transport_errors": 1}, "no 5xx and no failed request"),
        ({"client_errors": 1}, "no 5xx and no failed request"),
        ({"replay_mismatches": 1}, "idempotent replays repeat the first answer"),
        ({"posts_created": 1}, "posts created = 201s seen"),
    ],
)
def test_what_the_clients_saw_is_checked(world, seen, check):
    assert failed(world, **seen) == {check}
