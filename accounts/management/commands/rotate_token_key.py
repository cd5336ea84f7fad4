"""Re-encrypt every stored secret under the first of TOKEN_ENCRYPTION_KEYS.

Rotation: put the new key first (``TOKEN_ENCRYPTION_KEYS=<new>,<old>``), restart the
service, run this command, then drop the old key. Exit codes: 0 done (the older keys can
be dropped), 1 refused, 3 some values open with no configured key, 130 interrupted (run it
again: what is done is skipped).
"""

from __future__ import annotations

import argparse
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services.key_rotation import (
    DEFAULT_BATCH_SIZE,
    ColumnRotation,
    token_key_rotate,
)

EXIT_UNREADABLE = 3
EXIT_INTERRUPTED = 130


def _batch_size(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 1 <= size <= 10_000:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 10000")
    return size


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored token and secret with the first key of "
        "TOKEN_ENCRYPTION_KEYS, in batches; safe to interrupt and run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=_batch_size,
            default=DEFAULT_BATCH_SIZE,
            metavar="N",
            help=f"Rows read and written per transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be re-encrypted and what no key opens; change nothing.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the report as JSON on stdout."
        )

    def handle(self, *args, batch_size, dry_run, **options):
        keys = settings.TOKEN_ENCRYPTION_KEYS
        if not keys:
            raise CommandError("TOKEN_ENCRYPTION_KEYS is empty.")
        quiet = options["verbosity"] == 0
        if not quiet:
            self.stderr.write(
                f"{'Checking' if dry_run else 'Re-encrypting'} stored secrets under the first "
                f"of {len(keys)} key(s), {batch_size} rows at a time."
            )

        def progress(rotation: ColumnRotation) -> None:
            if not quiet:
                self.stderr.write(
                    f"  {rotation.column}: {rotation.seen}/{rotation.stored} read, "
                    f"{rotation.reencrypted} re-encrypted"
                )

        try:
            report = token_key_rotate(batch_size=batch_size, dry_run=dry_run, on_batch=progress)
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted: the batches written are kept; run the command again to finish.",
                returncode=EXIT_INTERRUPTED,
            ) from None
        self._print(report, dry_run=dry_run, as_json=options["json"])
        unreadable = sum(rotation.unreadable for rotation in report)
        if unreadable:
            raise CommandError(
                f"{unreadable} stored value(s) open with no configured key.",
                returncode=EXIT_UNREADABLE,
            )

    def _print(self, report: list[ColumnRotation], *, dry_run: bool, as_json: bool) -> None:
        unreadable = sum(r.unreadable for r in report)
        pending = sum(r.to_reencrypt for r in report) if dry_run else 0
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "dryRun": dry_run,
                        "columns": [
                            {
                                "column": r.column,
                                "stored": r.seen,
                                "reencrypted": r.reencrypted,
                                "toReencrypt": r.to_reencrypt if dry_run else 0,
                                "alreadyCurrent": r.current,
                                "unreadable": r.unreadable,
                                "unreadableIds": r.unreadable_ids,
                            }
                            for r in report
                        ],
                        "oldKeysCanBeDropped": unreadable == 0 and (not dry_run or pending == 0),
                    }
                )
            )
            return
        width = max((len(r.column) for r in report), default=6)
        self.stdout.write(
            f"{'column':<{width}}  {'stored':>7}  "
            f"{'to re-encrypt' if dry_run else 're-encrypted':>13}  {'current':>7}  "
            f"{'unreadable':>10}"
        )
        for r in report:
            done = r.to_reencrypt if dry_run else r.reencrypted
            self.stdout.write(
                f"{r.column:<{width}}  {r.seen:>7}  {done:>13}  {r.current:>7}  {r.unreadable:>10}"
            )
            if r.unreadable_ids:
                self.stdout.write(f"  no key opens the value of: {', '.join(r.unreadable_ids)}")
        if unreadable:
            self.stdout.write(
                f"{unreadable} value(s) open with no configured key: they were left as they "
                "are. Keep the key that encrypted them, or clear those rows."
            )
        elif dry_run and pending:
            self.stdout.write(
                f"{pending} value(s) still need the first key: run without --dry-run."
            )
        else:
            self.stdout.write(
                "Every stored secret opens with the first key: the other keys can be dropped."
            )
