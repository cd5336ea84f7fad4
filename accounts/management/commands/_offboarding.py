"""What the disconnect and offboard commands share: the prompt, the progress line, the
summary table and the exit codes: 0 done, 1 refused or aborted, 2 a usage error (argparse's
own), 3 some account failed."""

from __future__ import annotations

import json
import logging
import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.services.offboarding import OffboardingItem, OffboardingSummary

EXIT_FAILED = 3
BAR_WIDTH = 30


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


def _purged(item: OffboardingItem) -> str:
    report = item.report
    if report is None:
        return "-"
    return f"{report.purged_metrics}/{report.purged_metrics_snapshots}/{report.purged_inbox_items}"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def summary_lines(summary: OffboardingSummary) -> list[str]:
    """Per account: id, platform, handle, outcome, canceled, purged; then the totals."""
    lines: list[str] = []
    if summary.items:
        rows = [("ACCOUNT", "PLATFORM", "HANDLE", "OUTCOME", "CANCELED", "PURGED M/S/I")]
        rows += [
            (
                item.social_account_id,
                item.platform or "-",
                item.handle or "-",
                item.outcome,
                str(item.report.canceled_scheduled_posts) if item.report else "-",
                _purged(item),
            )
            for item in summary.items
        ]
        lines += _table(rows)
        lines.append("")
        lines += [
            f"  {item.social_account_id}: {item.error}" for item in summary.items if item.error
        ]
    verb = "would be disconnected" if summary.dry_run else "disconnected"
    lines.append(
        f"{len(summary.items)} account(s): {summary.disconnected} {verb}, "
        f"{summary.already_gone} already gone, {summary.failed} failed."
    )
    lines.append(
        f"Canceled post targets: {summary.canceled_scheduled_posts}; purged metrics: "
        f"{summary.purged_metrics}, snapshots: {summary.purged_metrics_snapshots}, "
        f"inbox items: {summary.purged_inbox_items}; released leases: "
        f"{summary.released_leases}."
    )
    if summary.dry_run:
        lines.append("Dry run: nothing was changed.")
    return lines


def finish(command: BaseCommand, summary: OffboardingSummary, *, as_json: bool) -> None:
    """Print the summary (table or JSON) and fail with exit code 3 if any account failed."""
    if as_json:
        command.stdout.write(json.dumps(summary.as_dict(), indent=2))
    else:
        for line in summary_lines(summary):
            command.stdout.write(line)
    if summary.failed:
        raise CommandError(
            f"{summary.failed} account(s) could not be disconnected; run the command again "
            "to retry them.",
            returncode=EXIT_FAILED,
        )


def run(command: BaseCommand, offboard, *, question: str, options: dict) -> None:
    """Preview (unless ``--yes``), confirm, run with progress, summarise.

    ``offboard(dry_run=..., on_item=...)`` is one call of an offboarding service.
    """
    dry_run, as_json = options["dry_run"], options["json"]
    if not dry_run and not options["yes"]:
        preview = offboard(dry_run=True, on_item=None)
        command.stderr.write(preview_line(preview), style_func=_plain)
        confirm(command, question)
    with Progress(command, verbosity=options["verbosity"]) as progress:
        summary = offboard(dry_run=dry_run, on_item=progress)
    finish(command, summary, as_json=as_json)
