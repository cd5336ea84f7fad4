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


def _offboard(workspace_id) -> tuple[float, int, dict]:
    """Run the command; its wall time (process start to exit), peak RSS (KiB), summary."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "offboard_workspace",
                format_public_id("ws", workspace_id),
                "--yes",
                "--json",
                "-v",
                "0",
            ],
            cwd=ROOT,
            env=_command_env(),
            stdout=stdout,
            stderr=stderr,
        )
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
        return seconds, usage.ru_maxrss, json.loads(stdout.read())


def run(sizes: list[int], log=print) -> list[dict]:
    rows = []
    for size in sizes:
        creators = -(-size // ACCOUNTS_PER_CREATOR)
        seeded = seed_workspace(
            f"offboard-{size}",
            creators=creators,
            accounts_per_creator=ACCOUNTS_PER_CREATOR,
            history=HISTORY,
        )
        vacuum()
        accounts = len(seeded.account_ids)
        seconds, peak_kib, summary = _offboard(seeded.workspace_id)
        left = SocialAccount.objects.filter(workspace_id=seeded.workspace_id).count()
        totals = summary["totals"]
        if left or totals["disconnected"] != accounts:
            raise RuntimeError(f"offboarding left {left} of {accounts} accounts: {totals}")
        row = {
            "accounts": accounts,
            "seconds": seconds,
            "accounts_per_s": accounts / seconds,
            "peak_rss_mib": peak_kib / 1024,
            "canceled_targets": totals["canceledScheduledPosts"],
            "purged_snapshots": totals["purged"]["metricsSnapshots"],
            "released_leases": totals["releasedLeases"],
        }
        log(
            f"  offboard {accounts:>5} accounts: {seconds:6.2f} s "
            f"{row['accounts_per_s']:6.1f} accounts/s peak {row['peak_rss_mib']:.0f} MiB"
        )
        rows.append(row)
    return rows
