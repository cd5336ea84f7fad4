"""The operator commands: disconnect_account, offboard_workspace, offboard_user and
recompute_followers; and an offboarding killed part-way, then run again."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from accounts.models import (
    AuditEvent,
    CreatorProfile,
    InboxItem,
    MetricsSnapshot,
    Platform,
    SocialAccount,
    SocialMetrics,
    TokenRevocation,
)
from accounts.services import offboarding as offboarding_module
from accounts.services.disconnect import social_account_disconnect
from scheduling.models import PostTarget, ScheduledPost
from tests.accounts.test_offboarding import FailingStatement, audit_insert_of, next_page_read
from tests.celery_worker import broker_url, database_url
from tests.factories import UserFactory, account_in, personal_workspace, shared_workspace
from tests.helpers import database_state, followers_of

pytestmark = pytest.mark.django_db

UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


class Run:
    """What one ``call_command`` printed, and the exit code it would have had."""

    def __init__(self, name: str, *args) -> None:
        self.stdout, self.stderr = io.StringIO(), io.StringIO()
        self.error: CommandError | None = None
        try:
            call_command(name, *args, stdout=self.stdout, stderr=self.stderr)
        except CommandError as exc:
            self.error = exc

    @property
    def exit_code(self) -> int:
        return self.error.returncode if self.error else 0

    @property
    def out(self) -> str:
        return self.stdout.getvalue()

    @property
    def err(self) -> str:
        return self.stderr.getvalue()

    @property
    def message(self) -> str:
        return str(self.error) if self.error else ""


@pytest.fixture
def answer(monkeypatch):
    """Make the confirmation prompt read ``text`` (an exception: stdin closed)."""

    def install(text: str | BaseException):
        def fake_input(*_args):
            if isinstance(text, BaseException):
                raise text
            return text

        monkeypatch.setattr("builtins.input", fake_input)

    return install


# --- offboard_workspace -----------------------------------------------------------------


def test_offboard_workspace_dry_run_changes_nothing_and_shows_the_plan(team):
    # given
    workspace, _ann, _bob, accounts, _kept = team
    before = database_state()

    # when
    run = Run("offboard_workspace", workspace.public_id, "--dry-run")

    # then
    assert run.exit_code == 0
    assert database_state() == before
    for account in accounts:
        assert account.public_id in run.out
    assert run.out.count("would_disconnect") == 3
    assert "3 account(s): 3 would be disconnected, 0 already gone, 0 failed." in run.out
    assert "Dry run: nothing was changed." in run.out


@pytest.mark.parametrize("reply", ["n", "", "no", "yes please"])
def test_offboard_workspace_without_yes_aborts_unless_confirmed(team, answer, reply):
    # given
    workspace, *_ = team
    answer(reply)
    before = database_state()

    # when
    run = Run("offboard_workspace", workspace.public_id)

    # then: the plan and the question were shown, nothing changed
    assert run.exit_code == 1
    assert "Aborted; nothing was changed." in run.message
    assert database_state() == before
    assert "3 accounts: 3 queued post target(s) to cancel" in run.err
    assert f"Offboard workspace “{workspace.name}” ({workspace.public_id})? [y/N]" in run.err


def test_offboard_workspace_with_stdin_closed_and_no_yes_aborts(team, answer):
    # given
    workspace, *_ = team
    answer(EOFError())
    before = database_state()

    # when
    run = Run("offboard_workspace", workspace.public_id)

    # then
    assert run.exit_code == 1
    assert database_state() == before


def test_offboard_workspace_runs_when_confirmed(team, answer):
    # given
    workspace, ann, *_ = team
    answer("y")

    # when
    run = Run("offboard_workspace", workspace.public_id)

    # then
    assert run.exit_code == 0
    assert not SocialAccount.objects.filter(workspace=workspace).exists()
    assert followers_of(ann) == 50


def test_offboard_workspace_yes_runs_with_progress_and_a_summary_table(team):
    # given
    workspace, ann, bob, accounts, _kept = team

    # when
    run = Run("offboard_workspace", workspace.public_id, "--yes")

    # then
    assert run.exit_code == 0, run.message
    assert not SocialAccount.objects.filter(workspace=workspace).exists()
    assert (followers_of(ann), followers_of(bob)) == (50, 0)
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 3
    assert set(
        AuditEvent.objects.filter(action="social_account.disconnected").values_list(
            "actor_type", "actor_id"
        )
    ) == {("system", "offboard_workspace")}
    # progress, one line per account on a non-terminal stderr
    progress = [line for line in run.err.splitlines() if line.startswith("[")]
    assert progress == [
        f"[{n}/3] {a.public_id} {a.platform} {a.platform_username} disconnected"
        for n, a in enumerate(accounts, start=1)
    ]
    # the table: a row per account with what was canceled and purged, then the totals
    lines = run.out.splitlines()
    assert lines[0].split() == [
        "ACCOUNT",
        "PLATFORM",
        "HANDLE",
        "OUTCOME",
        "CANCELED",
        "PURGED",
        "M/S/I",
    ]
    assert lines[1].split() == [
        accounts[0].public_id,
        "instagram",
        accounts[0].platform_username,
        "disconnected",
        "2",
        "1/3/1",
    ]
    assert "3 account(s): 3 disconnected, 0 already gone, 0 failed." in run.out
    assert (
        "Canceled post targets: 3; purged metrics: 3, snapshots: 4, inbox items: 4; "
        "released leases: 0."
    ) in run.out


def test_offboard_workspace_json_is_one_parseable_document(team):
    # given
    workspace, *_ = team

    # when
    run = Run("offboard_workspace", workspace.public_id, "--yes", "--json")

    # then
    document = json.loads(run.out)
    assert document["dryRun"] is False
    assert document["totals"] == {
        "accounts": 3,
        "disconnected": 3,
        "alreadyGone": 0,
        "failed": 0,
        "canceledScheduledPosts": 3,
        "releasedLeases": 0,
        "purged": {"metrics": 3, "metricsSnapshots": 4, "inboxItems": 4},
    }
    assert [item["outcome"] for item in document["items"]] == ["disconnected"] * 3
    assert "[3/3]" in run.err


def test_offboard_workspace_dry_run_json_reports_the_same_totals(team):
    # given
    workspace, *_ = team

    # when
    preview = Run("offboard_workspace", workspace.public_id, "--dry-run", "--json")
    done = Run("offboard_workspace", workspace.public_id, "--yes", "--json")

    # then
    assert json.loads(preview.out)["dryRun"] is True
    assert json.loads(preview.out)["totals"] == json.loads(done.out)["totals"]


def test_offboard_workspace_exits_3_when_an_account_failed(team, monkeypatch):
    # given
    workspace, _ann, _bob, accounts, _kept = team

    def disconnect_or_fail(*, account, **kwargs):
        if account.pk == accounts[0].pk:
            raise RuntimeError("upstream exploded")
        return social_account_disconnect(account=account, **kwargs)

    monkeypatch.setattr(offboarding_module, "social_account_disconnect", disconnect_or_fail)

    # when
    run = Run("offboard_workspace", workspace.public_id, "--yes", "--json")

    # then: the others are done, the summary is still printed, the exit code says so
    assert run.exit_code == 3
    assert "1 account(s) could not be disconnected" in run.message
    document = json.loads(run.out)
    assert (document["totals"]["disconnected"], document["totals"]["failed"]) == (2, 1)
    assert document["items"][0]["error"] == "RuntimeError: upstream exploded"
    assert list(SocialAccount.objects.filter(workspace=workspace)) == [accounts[0]]
    assert "failed: RuntimeError: upstream exploded" in run.err


def test_offboard_workspace_interrupted_exits_130_and_a_rerun_does_the_rest(team, monkeypatch):
    # given: Ctrl-C arrives while the second account is being disconnected
    workspace, _ann, _bob, accounts, _kept = team

    def interrupted_at_the_second(*, account, **kwargs):
        if account.pk == accounts[1].pk:
            raise KeyboardInterrupt
        return social_account_disconnect(account=account, **kwargs)

    monkeypatch.setattr(offboarding_module, "social_account_disconnect", interrupted_at_the_second)

    # when
    interrupted = Run("offboard_workspace", workspace.public_id, "--yes")
    monkeypatch.undo()
    rerun = Run("offboard_workspace", workspace.public_id, "--yes", "--json")

    # then: one done, the rest untouched and named in the message; the rerun finishes
    assert interrupted.exit_code == 130
    assert "Interrupted after 1 account(s)" in interrupted.message
    assert rerun.exit_code == 0
    assert json.loads(rerun.out)["totals"]["disconnected"] == 2
    assert not SocialAccount.objects.filter(workspace=workspace).exists()


def _offboard_command(team, which: str) -> tuple[tuple[str, str], list, str]:
    """The command line, the accounts it covers (oldest first) and its summary action."""
    workspace, ann, _bob, accounts, kept = team
    if which == "offboard_workspace":
        return (which, workspace.public_id), accounts, "workspace.offboarded"
    return (which, ann.email), [*accounts[:2], kept], "user.offboarded"


@pytest.mark.parametrize("which", ["offboard_workspace", "offboard_user"])
@pytest.mark.parametrize(
    ("step", "done_first", "exit_message"),
    [
        ("disconnect", 2, "1 account(s) could not be disconnected"),
        ("page read", 2, "Stopped after 2 account(s) on a database error (OperationalError)"),
        ("summary", 3, "Stopped after 3 account(s) on a database error (OperationalError)"),
    ],
)
def test_a_database_fault_mid_run_exits_3_and_a_rerun_does_the_rest(
    team, monkeypatch, which, step, done_first, exit_message
):
    # given: three accounts to do, two a page
    command, accounts, summary_action = _offboard_command(team, which)
    monkeypatch.setattr(offboarding_module, "_PAGE", 2)
    fault = {
        # the second account's last write, after its delete: that account rolls back
        "disconnect": FailingStatement(audit_insert_of("social_account.disconnected"), nth=2),
        "page read": FailingStatement(next_page_read),
        "summary": FailingStatement(audit_insert_of(summary_action)),
    }[step]

    # when
    with connection.execute_wrapper(fault):
        first = Run(*command, "--yes", "--json")

    # then: not "refused, nothing changed" (1) but "run it again" (3), and each account is
    # done or untouched
    assert first.exit_code == 3
    assert exit_message in first.message
    assert "run the command again" in first.message
    assert SocialAccount.objects.filter(pk__in=[a.pk for a in accounts]).count() == 3 - done_first
    # a run that stopped claims no summary; one that went on names its failure in it
    summaries = AuditEvent.objects.filter(action=summary_action)
    assert [event.data["failed"] for event in summaries] == ([1] if step == "disconnect" else [])

    # when
    rerun = Run(*command, "--yes", "--json")

    # then: it finished the job, each account disconnected once
    assert rerun.exit_code == 0, rerun.message
    assert json.loads(rerun.out)["totals"]["disconnected"] == 3 - done_first
    assert not SocialAccount.objects.filter(pk__in=[a.pk for a in accounts]).exists()
    disconnected = Counter(
        event.subject_ids[0]
        for event in AuditEvent.objects.filter(action="social_account.disconnected")
    )
    assert disconnected == Counter({account.public_id: 1 for account in accounts})


@pytest.mark.django_db(transaction=True)  # each account commits, and enqueues after that
def test_offboarding_while_the_broker_is_down_reports_what_was_done_and_keeps_the_revocations(
    team, broker_down, caplog
):
    # given
    workspace, _ann, _bob, accounts, _kept = team

    # when: every account's revoke task finds no broker after its disconnect committed
    run = Run("offboard_workspace", workspace.public_id, "--yes", "--json")

    # then: reported as done, because it is; the tokens wait in the outbox for the sweep
    assert run.exit_code == 0, run.message
    assert json.loads(run.out)["totals"]["disconnected"] == 3
    assert not SocialAccount.objects.filter(workspace=workspace).exists()
    assert sorted(TokenRevocation.objects.values_list("account_public_id", flat=True)) == sorted(
        account.public_id for account in accounts
    )
    assert caplog.text.count("Broker unavailable") == 3


@pytest.mark.parametrize(
    ("workspace_id", "message"),
    [
        (f"ws_{UNKNOWN_UUID}", f"Workspace ws_{UNKNOWN_UUID} not found."),
        ("ws_nope", "Malformed workspace id 'ws_nope': expected ws_<uuid>."),
        (f"sa_{UNKNOWN_UUID}", "Malformed workspace id"),
    ],
)
def test_offboard_workspace_refuses_an_unknown_or_malformed_id(team, workspace_id, message):
    # given
    before = database_state()

    # when
    run = Run("offboard_workspace", workspace_id, "--yes")

    # then
    assert run.exit_code == 1
    assert message in run.message
    assert database_state() == before


def test_progress_is_a_redrawn_bar_on_a_terminal(team):
    # given: stderr is a terminal
    workspace, *_ = team

    stderr = Terminal()

    # when
    call_command(
        "offboard_workspace", workspace.public_id, "--yes", stdout=io.StringIO(), stderr=stderr
    )

    # then
    frames = stderr.getvalue().split("\r")[1:]
    assert [frame.split("]")[1].strip() for frame in frames] == ["1/3", "2/3", "3/3"]
    assert frames[-1] == "[" + "#" * 30 + "] 3/3\n"
    assert frames[0].startswith("[" + "#" * 10 + " " * 20 + "]")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_bar_holds_back_info_log_lines_but_not_failures(team, monkeypatch, caplog):
    # given: stderr is a terminal, and the second account's disconnect fails
    workspace, _ann, _bob, accounts, _kept = team
    real = offboarding_module.social_account_disconnect

    def failing_on_the_second(*, account, **kwargs):
        if account.pk == accounts[1].pk:
            raise RuntimeError("platform exploded")
        return real(account=account, **kwargs)

    monkeypatch.setattr(offboarding_module, "social_account_disconnect", failing_on_the_second)

    # when
    with caplog.at_level(logging.INFO), pytest.raises(CommandError):
        call_command(
            "offboard_workspace",
            workspace.public_id,
            "--yes",
            stdout=io.StringIO(),
            stderr=Terminal(),
        )
    during = [(record.levelname, record.getMessage()) for record in caplog.records]
    caplog.clear()
    logging.getLogger("socialhub.social").info("after the run")

    # then: no per-account INFO line while the bar was drawn, the failure logged, and the
    # log unfiltered again afterwards
    assert [level for level, _ in during] == ["ERROR"]
    assert accounts[1].public_id in during[0][1]
    assert [record.getMessage() for record in caplog.records] == ["after the run"]


@pytest.mark.parametrize(("verbosity", "lines"), [("0", 0), ("1", 3), ("2", 3)])
def test_verbosity_sets_the_progress_lines_off_a_terminal(team, verbosity, lines):
    # given
    workspace, *_ = team

    # when
    run = Run("offboard_workspace", workspace.public_id, "--yes", "--verbosity", verbosity)

    # then
    assert run.exit_code == 0
    assert len([line for line in run.err.splitlines() if line.startswith("[")]) == lines


def _manage(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """``manage.py`` in a process of its own, on the test database (real exit codes)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=Path(settings.BASE_DIR),
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db(transaction=True)  # the process reads what this test wrote
def test_exit_codes_from_the_command_line(team):
    # given
    workspace, *_ = team

    # when
    usage = _manage("offboard_workspace")
    unknown = _manage("offboard_workspace", f"ws_{UNKNOWN_UUID}", "--yes")
    declined = _manage("offboard_workspace", workspace.public_id, stdin="n\n")

    # then: 2 is argparse's usage error, 1 a refusal, and a piped answer ends its line
    assert usage.returncode == 2 and "the following arguments are required" in usage.stderr
    assert unknown.returncode == 1 and "not found" in unknown.stderr
    assert declined.returncode == 1
    assert "[y/N] \nCommandError: Aborted; nothing was changed." in declined.stderr
    assert SocialAccount.objects.filter(workspace=workspace).count() == 3


@pytest.mark.django_db(transaction=True)  # the process reads what this test wrote
def test_offboard_workspace_in_worker_processes_from_the_command_line(team):
    # given
    workspace, _ann, _bob, accounts, kept = team

    # when
    bad_jobs = _manage("offboard_workspace", workspace.public_id, "--yes", "--jobs", "0")
    done = _manage("offboard_workspace", workspace.public_id, "--yes", "--jobs", "2", "--json")

    # then: a bad count is a usage error; two workers disconnect everything, JSON intact
    assert bad_jobs.returncode == 2 and "--jobs: must be a whole number" in bad_jobs.stderr
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["totals"]["disconnected"] == 3
    assert sorted(item["socialAccountId"] for item in document["items"]) == sorted(
        account.public_id for account in accounts
    )
    assert list(SocialAccount.objects.values_list("id", flat=True)) == [kept.pk]


def test_verbosity_0_prints_no_progress_and_no_info_lines(team, caplog):
    # given
    workspace, *_ = team

    # when
    with caplog.at_level(logging.INFO):
        run = Run("offboard_workspace", workspace.public_id, "--yes", "--json", "-v", "0")

    # then: stdout is the JSON document, stderr is empty, nothing below a warning logged
    assert run.exit_code == 0
    assert json.loads(run.out)["totals"]["disconnected"] == 3
    assert run.err == ""
    assert not [record for record in caplog.records if record.levelno < logging.WARNING]


# --- offboard_user ----------------------------------------------------------------------


def test_offboard_user_disconnects_their_accounts_in_every_workspace(team):
    # given
    _workspace, ann, bob, accounts, kept = team

    # when
    run = Run("offboard_user", ann.email.upper(), "--yes", "--json")

    # then
    assert run.exit_code == 0, run.message
    document = json.loads(run.out)
    assert {item["socialAccountId"] for item in document["items"]} == {
        accounts[0].public_id,
        accounts[1].public_id,
        kept.public_id,
    }
    assert list(SocialAccount.objects.all()) == [accounts[2]]
    assert (followers_of(ann), followers_of(bob)) == (0, 300)
    (event,) = AuditEvent.objects.filter(action="user.offboarded")
    assert (event.actor_id, event.subject_ids) == ("offboard_user", [ann.public_id])


def test_offboard_user_dry_run_and_refusal_change_nothing(team, answer):
    # given
    _workspace, ann, *_ = team
    before = database_state()
    answer("n")

    # when
    dry = Run("offboard_user", ann.email, "--dry-run")
    refused = Run("offboard_user", ann.email)

    # then
    assert dry.exit_code == 0
    assert dry.out.count("would_disconnect") == 3
    assert refused.exit_code == 1
    assert f"Offboard user {ann.email} ({ann.public_id})? [y/N]" in refused.err
    assert database_state() == before


def test_offboard_user_refuses_an_unknown_email(team):
    # when
    run = Run("offboard_user", "nobody@example.com", "--yes")

    # then
    assert run.exit_code == 1
    assert "No user with email 'nobody@example.com'." in run.message


# --- disconnect_account -----------------------------------------------------------------


def test_disconnect_account_dry_run_shows_the_report_and_changes_nothing(team):
    # given
    _workspace, _ann, _bob, accounts, _kept = team
    before = database_state()

    # when
    run = Run("disconnect_account", accounts[0].public_id, "--dry-run", "--json")

    # then
    assert run.exit_code == 0
    assert database_state() == before
    (item,) = json.loads(run.out)["items"]
    assert item["outcome"] == "would_disconnect"
    assert item["reason"] == "revoked_by_staff"
    assert item["canceledScheduledPosts"] == 2
    assert item["purged"] == {"metrics": 1, "metricsSnapshots": 3, "inboxItems": 1}


def test_disconnect_account_asks_first_and_aborts_on_no(team, answer):
    # given
    _workspace, _ann, _bob, accounts, _kept = team
    answer("n")
    before = database_state()

    # when
    run = Run("disconnect_account", accounts[0].public_id)

    # then
    assert run.exit_code == 1
    assert database_state() == before
    assert "1 account: 2 queued post target(s) to cancel" in run.err
    assert f"Disconnect instagram account {accounts[0].platform_username}? [y/N]" in run.err


def test_disconnect_account_yes_disconnects_as_staff(team):
    # given
    _workspace, ann, _bob, accounts, _kept = team

    # when
    run = Run("disconnect_account", accounts[0].public_id, "--yes")

    # then
    assert run.exit_code == 0, run.message
    assert not SocialAccount.objects.filter(pk=accounts[0].pk).exists()
    assert followers_of(ann) == 200 + 50
    (event,) = AuditEvent.objects.filter(action="social_account.disconnected")
    assert (event.actor_type, event.actor_id) == ("system", "disconnect_account")
    assert event.data["reason"] == "revoked_by_staff"
    assert "1 account(s): 1 disconnected" in run.out


@pytest.mark.parametrize(
    ("account_id", "message"),
    [
        (f"sa_{UNKNOWN_UUID}", f"Social account sa_{UNKNOWN_UUID} not found."),
        ("sa_123", "Malformed social account id 'sa_123': expected sa_<uuid>."),
        (UNKNOWN_UUID, "Malformed social account id"),
    ],
)
def test_disconnect_account_refuses_an_unknown_or_malformed_id(team, account_id, message):
    # when
    run = Run("disconnect_account", account_id, "--yes")

    # then
    assert run.exit_code == 1
    assert message in run.message


# --- recompute_followers ----------------------------------------------------------------


def test_recompute_followers_all_repairs_every_total_and_lists_the_wrong_ones(team):
    # given: two totals that drifted, the rest right
    _workspace, ann, bob, *_ = team
    CreatorProfile.objects.filter(user__in=[ann, bob]).update(total_followers=7)
    profiles = CreatorProfile.objects.count()

    # when
    run = Run("recompute_followers", "--all")

    # then
    assert run.exit_code == 0
    first, *corrections = run.out.strip().splitlines()
    assert first == f"Checked {profiles} creator profile(s): 2 total(s) corrected."
    assert sorted(corrections) == sorted([f"  {ann.email}: 7 -> 1250", f"  {bob.email}: 7 -> 300"])
    assert (followers_of(ann), followers_of(bob)) == (1000 + 200 + 50, 300)


def test_recompute_followers_with_nothing_wrong_changes_nothing(team):
    # given
    before = database_state()

    # when
    run = Run("recompute_followers", "--all")

    # then
    assert run.exit_code == 0
    assert run.out.endswith(": 0 total(s) corrected.\n")
    assert database_state() == before


def test_recompute_followers_for_named_users_leaves_the_others(team):
    # given
    _workspace, ann, bob, *_ = team
    CreatorProfile.objects.update(total_followers=7)

    # when: named by email, in any case
    run = Run("recompute_followers", ann.email.upper())

    # then
    assert run.exit_code == 0
    assert run.out.splitlines() == [
        "Checked 1 creator profile(s): 1 total(s) corrected.",
        f"  {ann.email}: 7 -> 1250",
    ]
    assert (followers_of(ann), followers_of(bob)) == (1250, 7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@example.com"], "No user with email nobody@example.com; nothing changed."),
        ([], "Name creators by email, or pass --all (not both)."),
        (["--all", "someone@example.com"], "Name creators by email, or pass --all (not both)."),
    ],
)
def test_recompute_followers_refuses_bad_input(team, args, message):
    # given
    CreatorProfile.objects.update(total_followers=7)
    before = database_state()

    # when
    run = Run("recompute_followers", *args)

    # then
    assert run.exit_code == 1
    assert message in run.message
    assert database_state() == before


# --- an interrupted offboarding ---------------------------------------------------------

ACCOUNTS_PER_CREATOR = 10
LOCKED_INDEX = 9  # the run blocks on this account: nine are done when it is killed


def _big_team(name: str):
    """A workspace with 30 accounts with history (three creators, ten platforms each);
    each creator keeps one more account (70 followers) in their personal workspace."""
    creators = [UserFactory() for _ in range(3)]
    workspace = shared_workspace(creators[0], name)
    accounts = []
    for creator in creators:
        for platform in list(Platform.values)[:ACCOUNTS_PER_CREATOR]:
            accounts.append(
                account_in(workspace, creator, platform, followers=100, snapshots=3, inbox=2)
            )
        account_in(personal_workspace(creator), creator, Platform.BLUESKY, followers=70)
    accounts.sort(key=lambda account: (account.connected_at, account.pk))
    return workspace, creators, accounts


def _end_state(workspace, creators, accounts) -> dict:
    """Counts of what remains for one workspace, comparable across workspaces."""
    public_ids = [account.public_id for account in accounts]
    mine = {"social_account__user__in": creators}
    disconnects = Counter(
        event.subject_ids[0]
        for event in AuditEvent.objects.filter(
            action="social_account.disconnected", workspace_id=workspace.public_id
        )
    )
    return {
        "accounts_in_workspace": SocialAccount.objects.filter(workspace=workspace).count(),
        "accounts_elsewhere": SocialAccount.objects.filter(user__in=creators).count(),
        "metrics": SocialMetrics.objects.filter(**mine).count(),
        "snapshots": MetricsSnapshot.objects.filter(**mine).count(),
        "inbox": InboxItem.objects.filter(**mine).count(),
        "targets": Counter(
            PostTarget.objects.filter(post__workspace=workspace).values_list(
                "status", "canceled_reason", "social_account"
            )
        ),
        "posts": Counter(
            ScheduledPost.objects.filter(workspace=workspace).values_list("status", flat=True)
        ),
        "revocations": TokenRevocation.objects.filter(account_public_id__in=public_ids).count(),
        "disconnects_per_account": Counter(disconnects.values()),
        "disconnected_accounts": set(disconnects) == set(public_ids),
        "followers": sorted(followers_of(creator) for creator in creators),
    }


def _offboard_process(workspace) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        # Revocations go to a broker nobody consumes (flushed by the test), not to the
        # platform: this test is about the database.
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_BROKER_URL": broker_url(),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "offboard_workspace", workspace.public_id, "--yes"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"the command exited before {what}: {process.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _disconnects_in(workspace) -> int:
    return AuditEvent.objects.filter(
        action="social_account.disconnected", workspace_id=workspace.public_id
    ).count()


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.fixture
def broker():
    redis.Redis.from_url(broker_url()).flushdb()
    yield
    redis.Redis.from_url(broker_url()).flushdb()


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_offboarding_resumes_to_the_same_end_state(broker):
    # given: two identical workspaces of 30 accounts
    interrupted, interrupted_creators, interrupted_accounts = _big_team("interrupted")
    reference, reference_creators, reference_accounts = _big_team("reference")

    # when: the run is killed (SIGKILL) while it waits for a row another session holds
    # locked, after nine accounts were committed and in the middle of the tenth
    with transaction.atomic():
        SocialAccount.objects.select_for_update().get(pk=interrupted_accounts[LOCKED_INDEX].pk)
        first = _offboard_process(interrupted)
        try:
            _wait_for(
                lambda: _disconnects_in(interrupted) == LOCKED_INDEX and _waiting_on_a_lock(),
                first,
                "the run to block on the locked account",
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    assert SocialAccount.objects.filter(workspace=interrupted).count() == 30 - LOCKED_INDEX
    assert not AuditEvent.objects.filter(action="workspace.offboarded").exists()

    # ... and run again to completion, next to an uninterrupted run on the twin workspace
    second = _offboard_process(interrupted)
    uninterrupted = _offboard_process(reference)
    second_out, second_err = second.communicate(timeout=120)
    reference_out, reference_err = uninterrupted.communicate(timeout=120)

    # then: the re-run did only what was left, and both ended in the same state
    assert second.returncode == 0, second_err
    assert uninterrupted.returncode == 0, reference_err
    assert f"{30 - LOCKED_INDEX} account(s): {30 - LOCKED_INDEX} disconnected" in second_out
    assert "30 account(s): 30 disconnected, 0 already gone, 0 failed." in reference_out
    end = _end_state(interrupted, interrupted_creators, interrupted_accounts)
    assert end == _end_state(reference, reference_creators, reference_accounts)
    assert end["accounts_in_workspace"] == 0
    assert end["accounts_elsewhere"] == 3
    assert end["disconnects_per_account"] == Counter({1: 30})  # nothing repeated
    assert end["disconnected_accounts"]  # nothing lost
    assert end["revocations"] == 30
    assert end["followers"] == [70, 70, 70]
    assert end["targets"] == Counter(
        {
            (PostTarget.Status.CANCELED, "account_disconnected", None): 30,
            (PostTarget.Status.PUBLISHED, "", None): 30,
        }
    )
    summaries = AuditEvent.objects.filter(action="workspace.offboarded")
    assert sorted(event.data["disconnected"] for event in summaries) == [30 - LOCKED_INDEX, 30]
