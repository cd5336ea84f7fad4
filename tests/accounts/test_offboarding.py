"""Offboarding: many disconnects, one transaction each, one report and one summary event."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import (
    AuditEvent,
    CreatorProfile,
    InboxItem,
    Lease,
    MetricsSnapshot,
    Platform,
    SocialAccount,
    SocialMetrics,
    TokenRevocation,
)
from accounts.services import offboarding as offboarding_module
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from accounts.services.offboarding import (
    social_accounts_disconnect_each,
    user_offboard,
    workspace_offboard,
)
from scheduling.models import PostTarget
from tests.accounts.test_disconnect import DISCONNECT_QUERIES
from tests.factories import LeaseFactory, UserFactory, account_in, shared_workspace
from tests.helpers import database_state, followers_of

pytestmark = pytest.mark.django_db

OPERATOR = Actor.system("offboard_workspace")
# Around the disconnects: the count and one page of the accounts to do (up to 500), and the
# summary event (savepoint, insert, release inside the test's transaction).
SNAPSHOT_QUERIES = 2
SUMMARY_EVENT_QUERIES = 3
# Per account, inside its disconnect's transaction: the UPDATE ending its open leases.
LEASE_RELEASE_QUERIES = 1
PLATFORMS = list(Platform.values)


def disconnect_audit():
    return AuditEvent.objects.filter(action="social_account.disconnected")


def test_workspace_offboard_disconnects_every_account_and_reports_totals(team):
    # given
    workspace, ann, bob, accounts, kept = team
    queued = list(
        PostTarget.objects.filter(
            social_account__in=accounts, status=PostTarget.Status.QUEUED
        ).values_list("id", flat=True)
    )

    # when
    summary = workspace_offboard(workspace=workspace, actor=OPERATOR)

    # then: every account of the workspace is gone, the other workspace's stays
    assert [item.social_account_id for item in summary.items] == [a.public_id for a in accounts]
    assert {item.outcome for item in summary.items} == {"disconnected"}
    assert list(SocialAccount.objects.values_list("id", flat=True)) == [kept.pk]
    assert (summary.disconnected, summary.failed, summary.already_gone) == (3, 0, 0)
    assert summary.canceled_scheduled_posts == 3 == len(queued)
    assert summary.purged_metrics == 3
    assert summary.purged_metrics_snapshots == 4
    assert summary.purged_inbox_items == 4
    # queued targets are canceled, not lost
    assert set(
        PostTarget.objects.filter(id__in=queued).values_list("status", "canceled_reason")
    ) == {(PostTarget.Status.CANCELED, "account_disconnected")}
    # totals follow the remaining accounts
    assert followers_of(ann) == 50
    assert followers_of(bob) == 0


def test_workspace_offboard_writes_an_audit_row_per_account_and_one_summary(team):
    # given
    workspace, _ann, _bob, accounts, _kept = team

    # when
    workspace_offboard(workspace=workspace, actor=OPERATOR)

    # then
    rows = list(disconnect_audit().order_by("created_at"))
    assert [row.subject_ids[0] for row in rows] == [a.public_id for a in accounts]
    assert {(row.actor_type, row.actor_id, row.data["reason"]) for row in rows} == {
        ("system", "offboard_workspace", DisconnectReason.OFFBOARDING.value)
    }
    (summary_event,) = AuditEvent.objects.filter(action="workspace.offboarded")
    assert summary_event.workspace_id == workspace.public_id
    assert summary_event.subject_ids == [workspace.public_id]
    assert (summary_event.actor_type, summary_event.actor_id) == ("system", "offboard_workspace")
    assert summary_event.data == {
        "accounts": 3,
        "disconnected": 3,
        "alreadyGone": 0,
        "failed": 0,
        "canceledScheduledPosts": 3,
        "releasedLeases": 0,
        "purged": {"metrics": 3, "metricsSnapshots": 4, "inboxItems": 4},
    }


def test_dry_run_changes_nothing_and_reports_what_the_real_run_does(team):
    # given
    workspace, *_ = team
    before = database_state()

    # when
    preview = workspace_offboard(workspace=workspace, actor=OPERATOR, dry_run=True)

    # then
    assert database_state() == before
    assert preview.dry_run
    assert {item.outcome for item in preview.items} == {"would_disconnect"}
    assert not AuditEvent.objects.filter(action="workspace.offboarded").exists()

    done = workspace_offboard(workspace=workspace, actor=OPERATOR)
    assert preview.as_dict()["totals"] == done.as_dict()["totals"]
    assert [i.social_account_id for i in preview.items] == [i.social_account_id for i in done.items]


def test_one_failing_account_is_reported_and_the_others_are_still_done(team, monkeypatch, caplog):
    # given: the platform's second account blows up mid-disconnect
    workspace, ann, _bob, accounts, _kept = team
    broken = accounts[1]

    def disconnect_or_fail(*, account, **kwargs):
        if account.pk == broken.pk:
            raise RuntimeError("database went away\nwith a long story")
        return social_account_disconnect(account=account, **kwargs)

    monkeypatch.setattr(offboarding_module, "social_account_disconnect", disconnect_or_fail)

    # when
    summary = workspace_offboard(workspace=workspace, actor=OPERATOR)

    # then
    assert [item.outcome for item in summary.items] == ["disconnected", "failed", "disconnected"]
    failed = summary.items[1]
    assert failed.error == "RuntimeError: database went away"
    assert failed.report is None
    assert (failed.platform, failed.handle) == (broken.platform, broken.platform_username)
    assert (summary.disconnected, summary.failed) == (2, 1)
    assert set(SocialAccount.objects.filter(workspace=workspace)) == {broken}
    assert followers_of(ann) == 200 + 50
    assert "Could not disconnect " + broken.public_id in caplog.text
    assert "Traceback" in caplog.text
    (summary_event,) = AuditEvent.objects.filter(action="workspace.offboarded")
    assert summary_event.data["failed"] == 1


def test_an_account_disconnected_meanwhile_is_already_gone(team):
    # given: while the run works on the first account, someone disconnects the third
    workspace, _ann, _bob, accounts, _kept = team
    progress = []

    def on_item(item, done, total):
        progress.append((item.social_account_id, item.outcome, done, total))
        if done == 1:
            social_account_disconnect(
                account=accounts[2], actor=Actor.system("tests"), reason="revoked_by_user"
            )

    # when
    summary = workspace_offboard(workspace=workspace, actor=OPERATOR, on_item=on_item)

    # then
    assert progress == [
        (accounts[0].public_id, "disconnected", 1, 3),
        (accounts[1].public_id, "disconnected", 2, 3),
        (accounts[2].public_id, "already_gone", 3, 3),
    ]
    gone = summary.items[2]
    assert (gone.platform, gone.handle, gone.report) == (
        Platform.YOUTUBE,
        accounts[2].platform_username,
        None,
    )
    assert (summary.disconnected, summary.already_gone, summary.failed) == (2, 1, 0)
    assert disconnect_audit().count() == 3  # the other caller's one, not repeated
    assert not SocialAccount.objects.filter(workspace=workspace).exists()


def test_user_offboard_covers_the_users_accounts_in_every_workspace(team):
    # given
    _workspace, ann, bob, accounts, kept = team

    # when
    summary = user_offboard(user=ann, actor=Actor.system("offboard_user"))

    # then: ann's three accounts (two workspaces) are gone, bob's stays
    assert {item.social_account_id for item in summary.items} == {
        accounts[0].public_id,
        accounts[1].public_id,
        kept.public_id,
    }
    assert summary.disconnected == 3
    assert list(SocialAccount.objects.values_list("id", flat=True)) == [accounts[2].pk]
    assert followers_of(ann) == 0
    assert followers_of(bob) == 300
    assert {row.data["reason"] for row in disconnect_audit()} == {"offboarding"}
    (summary_event,) = AuditEvent.objects.filter(action="user.offboarded")
    assert summary_event.subject_ids == [ann.public_id]
    assert summary_event.data["disconnected"] == 3


def test_disconnect_each_follows_the_given_order_and_names_unknown_ids(team):
    # given: public ids and primary keys, one unknown, one repeated
    workspace, _ann, _bob, accounts, kept = team
    unknown = "sa_00000000-0000-4000-8000-000000000000"

    # when
    summary = social_accounts_disconnect_each(
        account_ids=[kept.public_id, accounts[2].pk, unknown, kept.pk],
        actor=Actor.system("tests"),
        reason=DisconnectReason.REVOKED_BY_STAFF,
    )

    # then
    assert [(i.social_account_id, i.outcome) for i in summary.items] == [
        (kept.public_id, "disconnected"),
        (accounts[2].public_id, "disconnected"),
        (unknown, "already_gone"),
    ]
    assert {row.data["reason"] for row in disconnect_audit()} == {"revoked_by_staff"}
    assert SocialAccount.objects.filter(workspace=workspace).count() == 2
    assert not AuditEvent.objects.filter(action__endswith=".offboarded").exists()


def test_summary_as_dict_is_json_ready(team):
    # given
    workspace, *_ = team

    # when
    summary = workspace_offboard(workspace=workspace, actor=OPERATOR)
    document = json.loads(json.dumps(summary.as_dict()))

    # then
    assert document["dryRun"] is False
    assert document["totals"]["disconnected"] == 3
    first = document["items"][0]
    assert first["outcome"] == "disconnected"
    assert first["reason"] == "offboarding"
    assert first["workspaceId"] == workspace.public_id
    assert first["canceledScheduledPosts"] == 2
    assert first["purged"] == {"metrics": 1, "metricsSnapshots": 3, "inboxItems": 1}
    assert dt.datetime.fromisoformat(first["disconnectedAt"])


def test_a_rerun_finds_nothing_left_and_repeats_nothing(team):
    # given
    workspace, *_ = team
    workspace_offboard(workspace=workspace, actor=OPERATOR)

    # when
    again = workspace_offboard(workspace=workspace, actor=OPERATOR)

    # then
    assert again.items == ()
    assert disconnect_audit().count() == 3


def _offboard_statements(workspace) -> int:
    with CaptureQueriesContext(connection) as captured:
        workspace_offboard(workspace=workspace, actor=OPERATOR)
    return len(captured.captured_queries)


def test_statement_count_per_account_is_constant_whatever_the_history():
    # given: three workspaces, with one small account, two small ones, two large ones
    owner = UserFactory()
    creators = [UserFactory() for _ in range(2)]
    one, two_small, two_large = (shared_workspace(owner, name) for name in "abc")
    account_in(one, creators[0], Platform.X, snapshots=1)
    for creator in creators:
        account_in(two_small, creator, Platform.INSTAGRAM, snapshots=1, inbox=1)
        account_in(two_large, creator, Platform.YOUTUBE, queued=40, snapshots=500, inbox=100)

    # when
    one_account = _offboard_statements(one)
    two_small_accounts = _offboard_statements(two_small)
    two_large_accounts = _offboard_statements(two_large)

    # then: each account adds the same statements, however much history it has
    assert two_small_accounts == two_large_accounts
    per_account = two_small_accounts - one_account
    # the disconnect's own statements and the lease release, nothing more
    assert per_account == DISCONNECT_QUERIES + LEASE_RELEASE_QUERIES
    assert one_account == (
        SNAPSHOT_QUERIES + DISCONNECT_QUERIES + LEASE_RELEASE_QUERIES + SUMMARY_EVENT_QUERIES
    )


def test_offboarding_ends_the_open_leases_with_the_disconnect(team):
    # given: an open lease on ann's instagram, a released one on her x, and an open lease on
    # her tiktok outside the workspace
    workspace, _ann, _bob, accounts, kept = team
    instagram, x, _youtube = accounts
    open_lease = LeaseFactory(social_account=instagram)
    earlier = LeaseFactory(social_account=x, released_at=timezone.now() - dt.timedelta(days=3))
    elsewhere = LeaseFactory(social_account=kept)
    released_before = earlier.released_at

    # when: a dry run, then the run
    preview = workspace_offboard(workspace=workspace, actor=OPERATOR, dry_run=True)
    still_open = Lease.objects.get(pk=open_lease.pk).released_at
    summary = workspace_offboard(workspace=workspace, actor=OPERATOR)

    # then: the dry run counted it and changed nothing; the run ended it, only it, at the
    # moment of the disconnect
    assert (preview.released_leases, still_open) == (1, None)
    assert summary.released_leases == 1
    assert [item.released_leases for item in summary.items] == [1, 0, 0]
    open_lease.refresh_from_db()
    assert open_lease.released_at == summary.items[0].report.disconnected_at
    assert Lease.objects.get(pk=earlier.pk).released_at == released_before
    assert Lease.objects.get(pk=elsewhere.pk).released_at is None
    event = AuditEvent.objects.get(action="workspace.offboarded")
    assert event.data["releasedLeases"] == 1


def test_a_staff_disconnect_leaves_the_lease_open(team):
    # given
    _workspace, _ann, _bob, accounts, _kept = team
    lease = LeaseFactory(social_account=accounts[0])

    # when
    summary = social_accounts_disconnect_each(
        account_ids=[accounts[0].pk], actor=OPERATOR, reason=DisconnectReason.REVOKED_BY_STAFF
    )

    # then: as with the API's plain disconnect, billing settles the lease
    assert (summary.disconnected, summary.released_leases) == (1, 0)
    lease.refresh_from_db()
    assert lease.released_at is None


# Large runs: pages, items kept, worker processes -------------------------------------------


def test_accounts_are_read_a_page_at_a_time_oldest_first(team, monkeypatch):
    # given: pages of two, three accounts to do
    workspace, _ann, _bob, accounts, _kept = team
    monkeypatch.setattr(offboarding_module, "_PAGE", 2)

    # when
    summary = workspace_offboard(workspace=workspace, actor=OPERATOR)

    # then: all of them, in order, none twice
    assert [item.social_account_id for item in summary.items] == [a.public_id for a in accounts]
    assert not SocialAccount.objects.filter(workspace=workspace).exists()


def test_a_summary_that_keeps_no_items_still_counts_everything_and_keeps_failures(
    team, monkeypatch
):
    # given: the second account fails
    workspace, _ann, _bob, accounts, _kept = team
    real = offboarding_module.social_account_disconnect

    def failing_second(*, account, **kwargs):
        if account.pk == accounts[1].pk:
            raise RuntimeError("platform exploded")
        return real(account=account, **kwargs)

    monkeypatch.setattr(offboarding_module, "social_account_disconnect", failing_second)
    seen = []

    # when
    summary = workspace_offboard(
        workspace=workspace,
        actor=OPERATOR,
        keep=0,
        on_item=lambda item, done, total: seen.append((item.social_account_id, done, total)),
    )

    # then: no items held, every count right, the failure named
    assert summary.items == ()
    assert (summary.accounts, summary.disconnected, summary.failed) == (3, 2, 1)
    assert summary.canceled_scheduled_posts == 2  # the failed one's target stays queued
    assert [item.social_account_id for item in summary.failures] == [accounts[1].public_id]
    assert seen == [(account.public_id, done, 3) for done, account in enumerate(accounts, 1)]


@pytest.mark.django_db(transaction=True)
def test_worker_processes_disconnect_every_account_once():
    # given: a workspace of seven accounts with history, and one account elsewhere
    owner = UserFactory()
    creators = [UserFactory() for _ in range(3)]
    workspace = shared_workspace(owner)
    accounts = [
        account_in(workspace, creator, platform, followers=100, queued=2, snapshots=3, inbox=1)
        for creator in creators
        for platform in PLATFORMS[:2]
    ] + [account_in(workspace, owner, Platform.X, queued=1)]
    elsewhere = account_in(shared_workspace(owner, "Other"), creators[0], Platform.YOUTUBE)
    done = []

    # when: three worker processes
    summary = workspace_offboard(
        workspace=workspace,
        actor=OPERATOR,
        jobs=3,
        on_item=lambda item, count, total: done.append((count, total)),
    )

    # then: every account disconnected exactly once, the counts add up
    assert sorted(item.social_account_id for item in summary.items) == sorted(
        a.public_id for a in accounts
    )
    assert {item.outcome for item in summary.items} == {"disconnected"}
    assert done == [(count, 7) for count in range(1, 8)]
    assert list(SocialAccount.objects.values_list("id", flat=True)) == [elsewhere.pk]
    assert summary.canceled_scheduled_posts == 13
    assert summary.purged_metrics_snapshots == 6 * 3 + 2
    assert sorted(row.subject_ids[0] for row in disconnect_audit()) == sorted(
        a.public_id for a in accounts
    )
    assert AuditEvent.objects.get(action="workspace.offboarded").data["disconnected"] == 7
    assert [followers_of(creator) for creator in creators] == [100, 0, 0]
    assert not PostTarget.objects.filter(
        status=PostTarget.Status.QUEUED, post__workspace=workspace
    ).exists()


def test_worker_processes_refuse_to_run_inside_a_transaction(team):
    # given: the test's own transaction is open
    workspace, *_ = team
    before = database_state()

    # when
    with pytest.raises(RuntimeError, match="outside a transaction"):
        workspace_offboard(workspace=workspace, actor=OPERATOR, jobs=2)

    # then
    assert database_state() == before


# A database fault at each step of a run ------------------------------------------------------


class FailingStatement:
    """For ``connection.execute_wrapper``: the ``nth`` statement that ``matches(sql, params)``
    fails as a dropped database connection would, without running."""

    def __init__(self, matches, *, nth: int = 1) -> None:
        self.matches, self.nth, self.seen = matches, nth, 0

    def __call__(self, execute, sql, params, many, context):
        if self.matches(sql, params or ()):
            self.seen += 1
            if self.seen == self.nth:
                raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


def next_page_read(sql, params) -> bool:
    return 'FROM "accounts_socialaccount"' in sql and '"connected_at" >' in sql


def audit_insert_of(action: str):
    return lambda sql, params: (
        sql.startswith('INSERT INTO "accounts_auditevent"') and (action in params)
    )


def lease_release(sql, params) -> bool:
    return sql.startswith('UPDATE "accounts_lease" SET "released_at"')


# where the fault strikes, and which accounts (by position, oldest first) the run has done
OFFBOARDING_FAULTS = {
    # reading the second page (two accounts a page here): the run stops
    "page read": (lambda: FailingStatement(next_page_read), {0, 1}),
    # the second account's disconnect fails at its last write, after the delete: it is
    # reported and the run goes on
    "disconnect": (
        lambda: FailingStatement(audit_insert_of("social_account.disconnected"), nth=2),
        {0, 2},
    ),
    # the first account's lease release: the same
    "lease release": (lambda: FailingStatement(lease_release), {1, 2}),
    # the run's summary event: every account is done, the run stops
    "summary": (lambda: FailingStatement(audit_insert_of("workspace.offboarded")), {0, 1, 2}),
}


def _account_history(accounts) -> dict:
    """Per account: its queued targets, open leases, cached rows and what its owner had."""
    return {
        account.pk: {
            "queued": set(
                PostTarget.objects.filter(
                    social_account=account, status=PostTarget.Status.QUEUED
                ).values_list("pk", flat=True)
            ),
            "leases": set(
                Lease.objects.filter(social_account=account, released_at=None).values_list(
                    "pk", flat=True
                )
            ),
            "snapshots": MetricsSnapshot.objects.filter(social_account=account).count(),
            "inbox": InboxItem.objects.filter(social_account=account).count(),
        }
        for account in accounts
    }


def assert_each_done_or_untouched(accounts, history) -> set[int]:
    """Every account is either wholly disconnected or wholly as it was; returns the
    positions of the disconnected ones."""
    done = set()
    for position, account in enumerate(accounts):
        had = history[account.pk]
        targets = PostTarget.objects.filter(pk__in=had["queued"])
        leases = Lease.objects.filter(pk__in=had["leases"])
        audits = disconnect_audit().filter(subject_ids__0=account.public_id).count()
        revocations = TokenRevocation.objects.filter(account_public_id=account.public_id)
        if SocialAccount.objects.filter(pk=account.pk).exists():
            assert set(targets.values_list("status", "social_account")) <= {
                (PostTarget.Status.QUEUED, account.pk)
            }
            assert targets.count() == len(had["queued"])
            assert set(leases.values_list("released_at", "social_account")) <= {(None, account.pk)}
            assert (
                MetricsSnapshot.objects.filter(social_account=account).count() == (had["snapshots"])
            )
            assert InboxItem.objects.filter(social_account=account).count() == had["inbox"]
            assert SocialMetrics.objects.filter(social_account=account).exists()
            assert (audits, revocations.count()) == (0, 0)
        else:
            assert set(targets.values_list("status", "canceled_reason", "social_account")) <= {
                (PostTarget.Status.CANCELED, "account_disconnected", None)
            }
            assert not leases.filter(released_at=None).exists()
            assert not MetricsSnapshot.objects.filter(social_account_id=account.pk).exists()
            assert not InboxItem.objects.filter(social_account_id=account.pk).exists()
            assert (audits, revocations.count()) == (1, 1)
            done.add(position)
    for profile in CreatorProfile.objects.all():
        assert profile.total_followers == sum(
            SocialMetrics.objects.filter(social_account__user=profile.user).values_list(
                "follower_count", flat=True
            )
        )
    return done


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", list(OFFBOARDING_FAULTS))
def test_a_database_fault_at_any_step_leaves_each_account_done_or_untouched(
    team, monkeypatch, idle_broker, step
):
    # given: the team's three accounts, each with an open lease; pages of two
    workspace, _ann, _bob, accounts, _kept = team
    for account in accounts:
        LeaseFactory(social_account=account)
    history = _account_history(accounts)
    monkeypatch.setattr(offboarding_module, "_PAGE", 2)
    make_fault, expected_done = OFFBOARDING_FAULTS[step]
    fault = make_fault()

    # when
    with connection.execute_wrapper(fault):
        try:
            first = workspace_offboard(workspace=workspace, actor=OPERATOR)
        except OperationalError:
            first = None

    # then: the fault struck, and each account is wholly done or wholly untouched
    assert fault.seen >= fault.nth
    assert assert_each_done_or_untouched(accounts, history) == expected_done
    if first is None:  # the run stopped: no summary claims otherwise
        assert not AuditEvent.objects.filter(action="workspace.offboarded").exists()
    else:  # the run went on, and its summary names the failure
        assert (first.disconnected, first.failed) == (2, 1)
        [failure] = first.failures
        assert failure.error == "OperationalError: server closed the connection unexpectedly"
        event = AuditEvent.objects.get(action="workspace.offboarded")
        assert (event.data["disconnected"], event.data["failed"]) == (2, 1)

    # when: run again
    again = workspace_offboard(workspace=workspace, actor=OPERATOR)

    # then: it did exactly what was left, and every account is done once
    assert again.disconnected == 3 - len(expected_done)
    assert (again.failed, again.already_gone) == (0, 0)
    assert assert_each_done_or_untouched(accounts, history) == {0, 1, 2}
    assert not SocialAccount.objects.filter(workspace=workspace).exists()
    assert AuditEvent.objects.filter(action="workspace.offboarded").count() == (
        1 if first is None else 2
    )
