"""What the disconnect and offboard commands share: the prompt, the progress line, the
summary table and the exit codes: 0 done, 1 refused or aborted, 2 a usage error (argparse's
own), 3 some account failed or the run stopped on a database error, 130 interrupted (Ctrl-C)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Iterable, Iterator

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from accounts.services.offboarding import (
    DISCONNECTED,
    WOULD_DISCONNECT,
    OffboardingItem,
    OffboardingSummary,
)

EXIT_FAILED = 3
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C
BAR_WIDTH = 30

logger = logging.getLogger("socialhub.social")


def _plain(text: str) -> str:
    return text


def add_run_arguments(parser, *, noun: str) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help=f"Report what disconnecting {noun} would cancel and purge; change nothing.",
    )
    parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
    parser.add_argument(
        "--json",
        action="store_true",
        help="Print the summary as one JSON document on stdout (progress stays on stderr).",
    )


MAX_JOBS = 16


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if not 1 <= jobs <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_JOBS}")
    return jobs


def add_jobs_argument(parser) -> None:
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help=(
            "Disconnect N accounts at a time, each still in its own transaction (default 1; "
            "2 to 4 make large runs faster, at the cost of more load on the database)."
        ),
    )


def confirm(command: BaseCommand, question: str) -> None:
    """Ask on stderr (stdout stays parseable); anything but y/yes, or no answer, aborts."""
    command.stderr.write(f"{question} [y/N] ", style_func=_plain, ending="")
    command.stderr.flush()
    try:
        answer = input()
    except (EOFError, OSError):  # stdin closed, or none to read from
        answer = None
    if answer is None or not sys.stdin.isatty():
        command.stderr.write("", style_func=_plain)  # a typed answer already ended the line
    answer = answer or ""
    if answer.strip().lower() not in {"y", "yes"}:
        raise CommandError("Aborted; nothing was changed.")


def preview_line(summary: OffboardingSummary) -> str:
    accounts = summary.disconnected
    leases = (
        f"; {summary.released_leases} open lease(s) to release" if summary.released_leases else ""
    )
    return (
        f"{accounts} account{'s' if accounts != 1 else ''}: "
        f"{summary.canceled_scheduled_posts} queued post target(s) to cancel; "
        f"{summary.purged_metrics} metrics, {summary.purged_metrics_snapshots} snapshots and "
        f"{summary.purged_inbox_items} inbox items to purge{leases}."
    )


class Progress:
    """``on_item`` for the services, as a context manager.

    On a terminal: a bar redrawn with ``\\r``, with the per-account INFO log lines held back
    while it is drawn (they would break it; warnings and errors still show, and the audit
    trail and the summary name every account). Otherwise (logs, pipes, ``-v 2``): one line
    per account next to the log. ``-v 0``: no progress and no INFO log lines.
    """

    def __init__(self, command: BaseCommand, *, verbosity: int = 1) -> None:
        self.stderr = command.stderr
        self.quiet = verbosity == 0
        self.redraw = not self.quiet and verbosity < 2 and self.stderr.isatty()
        self.drawn = False
        self._held_back: list[logging.Handler] = []

    def __enter__(self) -> Progress:
        if self.redraw or self.quiet:
            self._held_back = list(logging.getLogger().handlers)
            for handler in self._held_back:
                handler.addFilter(_warnings_only)
        return self

    def __exit__(self, *exc_info) -> None:
        for handler in self._held_back:
            handler.removeFilter(_warnings_only)
        if self.drawn:
            self.stderr.write("", style_func=_plain)

    def __call__(self, item: OffboardingItem, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.redraw:
            filled = BAR_WIDTH * done // total if total else BAR_WIDTH
            bar = "#" * filled + " " * (BAR_WIDTH - filled)
            self.stderr.write(f"\r[{bar}] {done}/{total}", style_func=_plain, ending="")
            self.drawn = True
        else:
            label = f"{item.platform} {item.handle}" if item.handle else item.platform
            line = f"[{done}/{total}] {item.social_account_id} {label} {item.outcome}"
            if item.error:
                line += f": {item.error}"
            self.stderr.write(line, style_func=_plain)
        self.stderr.flush()


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


class Spool:
    """The run's items, written to a temporary file as each account finishes and read back
    for the summary: the command's memory does not grow with the number of accounts."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - see __exit__

    def add(self, item: OffboardingItem) -> None:
        self.file.write(json.dumps(item.as_dict(), separators=(",", ":")) + "\n")

    def __iter__(self) -> Iterator[dict]:
        self.file.seek(0)
        for line in self.file:
            yield json.loads(line)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.file.close()


def _row(item: dict) -> tuple[str, ...]:
    done = item["outcome"] in (DISCONNECTED, WOULD_DISCONNECT)
    purged = item["purged"]
    return (
        item["socialAccountId"],
        item["platform"] or "-",
        item["handle"] or "-",
        item["outcome"],
        str(item["canceledScheduledPosts"]) if done else "-",
        f"{purged['metrics']}/{purged['metricsSnapshots']}/{purged['inboxItems']}" if done else "-",
    )


_HEADER = ("ACCOUNT", "PLATFORM", "HANDLE", "OUTCOME", "CANCELED", "PURGED M/S/I")


def summary_lines(summary: OffboardingSummary, items: Iterable[dict] | None = None):
    """Per account: id, platform, handle, outcome, canceled, purged; then the totals.

    ``items`` (re-iterable: the table is read twice, for its widths and its rows) defaults
    to the summary's own.
    """
    if items is None:
        items = [item.as_dict() for item in summary.items]
    widths = [len(cell) for cell in _HEADER]
    for item in items:
        widths = [max(width, len(cell)) for width, cell in zip(widths, _row(item), strict=True)]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))

    if summary.accounts:
        yield line(_HEADER).rstrip()
        for item in items:
            yield line(_row(item)).rstrip()
        yield ""
        for item in items:
            if item["error"]:
                yield f"  {item['socialAccountId']}: {item['error']}"
    verb = "would be disconnected" if summary.dry_run else "disconnected"
    yield (
        f"{summary.accounts} account(s): {summary.disconnected} {verb}, "
        f"{summary.already_gone} already gone, {summary.failed} failed."
    )
    yield (
        f"Canceled post targets: {summary.canceled_scheduled_posts}; purged metrics: "
        f"{summary.purged_metrics}, snapshots: {summary.purged_metrics_snapshots}, "
        f"inbox items: {summary.purged_inbox_items}; released leases: "
        f"{summary.released_leases}."
    )
    if summary.dry_run:
        yield "Dry run: nothing was changed."


def _json_lines(summary: OffboardingSummary, items: Iterable[dict]) -> Iterator[str]:
    """The summary as one JSON document, written item by item."""
    totals = json.dumps(summary.totals(), indent=2).replace("\n", "\n  ")
    yield "{"
    yield f'  "dryRun": {json.dumps(summary.dry_run)},'
    yield f'  "totals": {totals},'
    yield '  "items": ['
    previous = None
    for item in items:
        if previous is not None:
            yield f"    {previous},"
        previous = json.dumps(item)
    if previous is not None:
        yield f"    {previous}"
    yield "  ]"
    yield "}"


def finish(
    command: BaseCommand,
    summary: OffboardingSummary,
    *,
    as_json: bool,
    items: Iterable[dict] | None = None,
) -> None:
    """Print the summary (table or JSON) and fail with exit code 3 if any account failed.

    ``items``: the run's items as dicts (a ``Spool``), else the summary's own.
    """
    if items is None:
        items = [item.as_dict() for item in summary.items]
    lines = _json_lines(summary, items) if as_json else summary_lines(summary, items)
    for line in lines:
        command.stdout.write(line)
    if summary.failed:
        raise CommandError(
            f"{summary.failed} account(s) could not be disconnected; run the command again "
            "to retry them.",
            returncode=EXIT_FAILED,
        )


def run(command: BaseCommand, offboard, *, question: str, options: dict) -> None:
    """Preview (unless ``--yes``), confirm, run with progress, summarise.

    ``offboard(dry_run=..., on_item=..., jobs=..., keep=...)`` is one call of an
    offboarding service. Its items go to a spool as they come, not into memory.
    """
    dry_run, as_json, jobs = options["dry_run"], options["json"], options["jobs"]
    if not dry_run and not options["yes"]:
        preview = offboard(dry_run=True, on_item=None, jobs=jobs, keep=0)
        command.stderr.write(preview_line(preview), style_func=_plain)
        confirm(command, question)
    finished = 0
    with Spool() as spool:
        with Progress(command, verbosity=options["verbosity"]) as progress:

            def on_item(item: OffboardingItem, done: int, total: int) -> None:
                nonlocal finished
                finished = done
                spool.add(item)
                progress(item, done, total)

            try:
                summary = offboard(dry_run=dry_run, on_item=on_item, jobs=jobs, keep=0)
            except KeyboardInterrupt:
                raise CommandError(
                    f"Interrupted after {finished} account(s). Any account being disconnected "
                    "at that moment was either committed or rolled back; run the command "
                    "again to do the rest.",
                    returncode=EXIT_INTERRUPTED,
                ) from None
            except DatabaseError as exc:
                # Reading the next accounts or writing the run's summary failed: the accounts
                # done so far stay done, so this is not "nothing changed" (exit 1).
                logger.exception("[social] Offboarding stopped on a database error")
                raise CommandError(
                    f"Stopped after {finished} account(s) on a database error "
                    f"({type(exc).__name__}). Every account finished so far is disconnected, "
                    "any account in progress was committed or rolled back; run the command "
                    "again to do the rest.",
                    returncode=EXIT_FAILED,
                ) from None
        finish(command, summary, as_json=as_json, items=spool)
