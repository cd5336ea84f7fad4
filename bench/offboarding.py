"""Offboarding throughput: ``manage.py offboard_workspace --yes --json`` on workspaces of
growing size, in its own process, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings

from accounts.models import SocialAccount
from socialhub.api.ids import format_public_id

from .measure import TreeMemory
from .seed import History, seed_workspace, vacuum

# Per account: a few queued posts, three months of daily snapshots, a page of inbox items and
# an open billing lease.
HISTORY = History(queued=5, snapshots=90, inbox=10, leases=1)
ACCOUNTS_PER_CREATOR = 10
ROOT = Path(__file__).resolve().parent.parent


def _command_env() -> dict:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    env["TOKEN_ENCRYPTION_KEYS"] = ",".join(settings.TOKEN_ENCRYPTION_KEYS)
    env.setdefault("LOG_LEVEL", "WARNING")
    return env


def _offboard(workspace_id, jobs: int) -> tuple[float, float, float, dict]:
    """Run the command; its wall time (process start to exit), the peak resident memory of
    the command and its worker processes together, the command's own peak, its summary."""
    command = [
        sys.executable,
        "manage.py",
        "offboard_workspace",
        format_public_id("ws", workspace_id),
        "--yes",
        "--json",
        "--jobs",
        str(jobs),
        "-v",
        "0",
    ]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env=_command_env(), stdout=stdout, stderr=stderr
        )
        with TreeMemory(process.pid) as memory:
            # wait4 reaps the process and returns its own resource usage: ru_maxrss is its
            # peak resident set in KiB.
            _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise RuntimeError(
                f"offboard_workspace exited {process.returncode}: {stderr.read().decode()}"
            )
        return seconds, memory.peak_mib, usage.ru_maxrss / 1024, json.loads(stdout.read())


# (accounts, jobs): the workspace of 1 000 one account at a time and with two worker
# processes (one per core here), and two more sizes to show memory does not follow the size.
RUNS = [(1_000, 1), (250, 2), (1_000, 2), (4_000, 2)]


def run(runs=RUNS, log=print) -> list[dict]:
    rows = []
    for size, jobs in runs:
        seeded = seed_workspace(
            f"offboard-{size}-{jobs}",
            creators=-(-size // ACCOUNTS_PER_CREATOR),
            accounts_per_creator=ACCOUNTS_PER_CREATOR,
            history=HISTORY,
        )
        vacuum()
        accounts = len(seeded.account_ids)
        seconds, peak_mib, command_peak_mib, summary = _offboard(seeded.workspace_id, jobs)
        left = SocialAccount.objects.filter(workspace_id=seeded.workspace_id).count()
        totals = summary["totals"]
        if left or totals["disconnected"] != accounts or len(summary["items"]) != accounts:
            raise RuntimeError(f"offboarding left {left} of {accounts} accounts: {totals}")
        row = {
            "accounts": accounts,
            "jobs": jobs,
            "seconds": seconds,
            "accounts_per_s": accounts / seconds,
            "peak_rss_mib": peak_mib,
            "command_peak_rss_mib": command_peak_mib,
            "canceled_targets": totals["canceledScheduledPosts"],
            "purged_snapshots": totals["purged"]["metricsSnapshots"],
            "purged_inbox_items": totals["purged"]["inboxItems"],
            "released_leases": totals["releasedLeases"],
        }
        log(
            f"  offboard {accounts:>5} accounts, --jobs {jobs}: {seconds:6.2f} s "
            f"{row['accounts_per_s']:6.1f} accounts/s, peak {peak_mib:.0f} MiB "
            f"(command {command_peak_mib:.0f} MiB)"
        )
        rows.append(row)
    return rows
