"""Disconnecting many accounts at once: a list picked by staff, a workspace, or a user.

Each account goes through ``social_account_disconnect`` in its own transaction, so an
interrupted run keeps every account it finished and a re-run finds only the ones still there.
One account that fails is reported and the run goes on with the next. Accounts are read a
page at a time and callers can take the items as they come (``on_item``, ``keep=0``), so a
run's memory does not grow with the number of accounts; ``jobs`` runs several worker
processes.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import multiprocessing.util
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q

from accounts.models import SocialAccount, User, Workspace
from socialhub.api.errors import ApplicationError, ErrorCode
from socialhub.api.ids import format_public_id, parse_public_id

from .actors import Actor
from .audit import audit_event_record
from .disconnect import DisconnectReason, DisconnectReport, social_account_disconnect

logger = logging.getLogger("socialhub.social")

DISCONNECTED = "disconnected"
WOULD_DISCONNECT = "would_disconnect"
ALREADY_GONE = "already_gone"
FAILED = "failed"

_ERROR_MAX_LENGTH = 200
_PAGE = 500  # accounts read at a time
# What the snapshot reads: enough to name the account in a report, nothing secret.
_SNAPSHOT_FIELDS = ("id", "platform", "platform_username", "user_id", "workspace_id")


@dataclass(frozen=True)
class OffboardingItem:
    social_account_id: str  # sa_…
    platform: str
    handle: str | None
    outcome: str  # "disconnected" | "would_disconnect" (dry run) | "already_gone" | "failed"
    report: DisconnectReport | None  # the disconnect's (or dry run's) report
    error: str = ""
    released_leases: int = 0  # open billing leases ended with it (offboarding only)

    def as_dict(self) -> dict:
        report = self.report
        return {
            "socialAccountId": self.social_account_id,
            "platform": self.platform,
            "handle": self.handle,
            "outcome": self.outcome,
            "error": self.error,
            "userId": report.user_id if report else None,
            "workspaceId": report.workspace_id if report else None,
            "reason": report.reason if report else None,
            "canceledScheduledPosts": report.canceled_scheduled_posts if report else 0,
            "releasedLeases": self.released_leases,
            "purged": {
                "metrics": report.purged_metrics if report else 0,
                "metricsSnapshots": report.purged_metrics_snapshots if report else 0,
                "inboxItems": report.purged_inbox_items if report else 0,
            },
            "disconnectedAt": (
                report.disconnected_at.isoformat() if report and not report.dry_run else None
            ),
        }


OnItem = Callable[[OffboardingItem, int, int], object]


_COUNTED = (
    "canceled_scheduled_posts",
    "purged_metrics",
    "purged_metrics_snapshots",
    "purged_inbox_items",
)


class OffboardingSummary:
    """The run's counts, kept as each account finishes, and its items: every one, or with
    ``keep`` the first ``keep`` of them (and every failure), so a run's memory does not grow
    with the number of accounts when the caller takes the items as they come (``on_item``).
    """

    def __init__(self, *, dry_run: bool, keep: int | None = None) -> None:
        self.dry_run = dry_run
        self.keep = keep
        self.accounts = 0
        self._outcomes = dict.fromkeys((DISCONNECTED, WOULD_DISCONNECT, ALREADY_GONE, FAILED), 0)
        self._totals = dict.fromkeys(_COUNTED, 0)
        self.released_leases = 0
        self._kept: list[OffboardingItem] = []
        self._failures: list[OffboardingItem] = []

    def record(self, item: OffboardingItem) -> None:
        self.accounts += 1
        self._outcomes[item.outcome] += 1
        self.released_leases += item.released_leases
        if item.report is not None:
            for field in _COUNTED:
                self._totals[field] += getattr(item.report, field)
        if self.keep is None or len(self._kept) < self.keep:
            self._kept.append(item)
        elif item.outcome == FAILED:
            self._failures.append(item)

    @property
    def items(self) -> tuple[OffboardingItem, ...]:
        """The items kept, in the order they finished."""
        return tuple(self._kept)

    @property
    def failures(self) -> tuple[OffboardingItem, ...]:
        return tuple(item for item in self._kept if item.outcome == FAILED) + tuple(self._failures)

    @property
    def disconnected(self) -> int:
        """Accounts disconnected (or, in a dry run, that would be)."""
        return self._outcomes[WOULD_DISCONNECT if self.dry_run else DISCONNECTED]

    @property
    def failed(self) -> int:
        return self._outcomes[FAILED]

    @property
    def already_gone(self) -> int:
        return self._outcomes[ALREADY_GONE]

    @property
    def canceled_scheduled_posts(self) -> int:
        return self._totals["canceled_scheduled_posts"]

    @property
    def purged_metrics(self) -> int:
        return self._totals["purged_metrics"]

    @property
    def purged_metrics_snapshots(self) -> int:
        return self._totals["purged_metrics_snapshots"]

    @property
    def purged_inbox_items(self) -> int:
        return self._totals["purged_inbox_items"]

    def totals(self) -> dict:
        """The counts, camelCase (the summary audit event's data and the JSON totals)."""
        return {
            "accounts": self.accounts,
            "disconnected": self.disconnected,
            "alreadyGone": self.already_gone,
            "failed": self.failed,
            "canceledScheduledPosts": self.canceled_scheduled_posts,
            "releasedLeases": self.released_leases,
            "purged": {
                "metrics": self.purged_metrics,
                "metricsSnapshots": self.purged_metrics_snapshots,
                "inboxItems": self.purged_inbox_items,
            },
        }

    def as_dict(self) -> dict:
        return {
            "dryRun": self.dry_run,
            "totals": self.totals(),
            "items": [item.as_dict() for item in self.items],
        }


def _account_pk(value: uuid.UUID | str) -> uuid.UUID:
    """A primary key, from a UUID or a public ``sa_…`` id."""
    if isinstance(value, uuid.UUID):
        return value
    if value.startswith(f"{SocialAccount.ID_PREFIX}_"):
        return parse_public_id(SocialAccount.ID_PREFIX, value, field="socialAccountId")
    return uuid.UUID(value)


def _snapshot(queryset) -> list[SocialAccount]:
    return list(queryset.only(*_SNAPSHOT_FIELDS))


def _oldest_first(accounts) -> Iterator[SocialAccount]:
    """``accounts`` oldest first, read a page at a time (keyset on connected_at, id: the
    accounts a run has disconnected meanwhile shift nothing)."""
    ordered = accounts.only(*_SNAPSHOT_FIELDS, "connected_at").order_by("connected_at", "id")
    after = None
    while True:
        page = ordered
        if after is not None:
            page = page.filter(
                Q(connected_at__gt=after.connected_at)
                | Q(connected_at=after.connected_at, id__gt=after.id)
            )
        page = list(page[:_PAGE])
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1]


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return error[:_ERROR_MAX_LENGTH]


def _disconnect_one(
    account: SocialAccount | uuid.UUID,
    *,
    actor: Actor,
    reason: DisconnectReason,
    dry_run: bool,
    release_leases: bool,
) -> OffboardingItem:
    if isinstance(account, uuid.UUID):  # not there when the run started
        return OffboardingItem(
            social_account_id=format_public_id(SocialAccount.ID_PREFIX, account),
            platform="",
            handle=None,
            outcome=ALREADY_GONE,
            report=None,
        )
    named = {
        "social_account_id": account.public_id,
        "platform": account.platform,
        "handle": account.platform_username,
    }
    try:
        report = social_account_disconnect(
            account=account,
            actor=actor,
            reason=reason,
            dry_run=dry_run,
            release_leases=release_leases,
        )
    except Exception as exc:
        if isinstance(exc, ApplicationError) and exc.code is ErrorCode.NOT_FOUND:
            return OffboardingItem(**named, outcome=ALREADY_GONE, report=None)
        logger.exception("[social] Could not disconnect %s", account.public_id)
        return OffboardingItem(**named, outcome=FAILED, report=None, error=_short_error(exc))
    return OffboardingItem(
        **named,
        outcome=WOULD_DISCONNECT if dry_run else DISCONNECTED,
        report=report,
        released_leases=report.released_leases,
    )


def _disconnect_all(
    accounts: Iterable[SocialAccount | uuid.UUID],
    *,
    total: int,
    actor: Actor,
    reason: DisconnectReason,
    dry_run: bool,
    on_item: OnItem | None,
    release_leases: bool = False,
    jobs: int = 1,
    keep: int | None = None,
) -> OffboardingSummary:
    """One disconnect (one transaction) per account; never one transaction around them.

    With ``jobs`` > 1 that many worker processes take the accounts in order (see
    ``_in_processes``). ``on_item(item, done, total)`` is called as each account finishes.
    """
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    summary = OffboardingSummary(dry_run=dry_run, keep=keep)
    options = {
        "actor": actor,
        "reason": reason,
        "dry_run": dry_run,
        "release_leases": release_leases,
    }
    finished = (
        (_disconnect_one(account, **options) for account in accounts)
        if jobs == 1 or total < 2
        else _in_processes(accounts, jobs=min(jobs, total), options=options)
    )
    for done, item in enumerate(finished, start=1):
        summary.record(item)
        if on_item is not None:
            on_item(item, done, max(total, done))
    return summary


def _child_started() -> None:
    # Closed on the way out: a pool's worker processes end without running atexit hooks.
    multiprocessing.util.Finalize(None, connections.close_all, exitpriority=10)


def _in_processes(accounts: Iterable, *, jobs: int, options: dict) -> Iterator[OffboardingItem]:
    """Disconnect the accounts in ``jobs`` worker processes (forked, each with its own
    database connection), taking them in order; yields each item as it finishes.

    Processes rather than threads: a disconnect is mostly Python work between short
    statements, which threads would take turns at. A few accounts per process are in flight
    at a time, so memory does not grow with the run. An interrupt stops the run; an account
    being disconnected then is either committed or rolled back, never half done.
    """
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        raise RuntimeError("Disconnecting in several processes needs to run outside a transaction.")
    accounts = iter(accounts)
    first = list(itertools.islice(accounts, 2 * jobs))  # a read before the children exist
    accounts = itertools.chain(first, accounts)
    connections.close_all()  # the children open their own: no socket is shared
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_child_started,
    ) as pool:
        in_flight: set[Future] = set()
        try:
            while True:
                for account in itertools.islice(accounts, 2 * jobs - len(in_flight)):
                    in_flight.add(pool.submit(_disconnect_one, account, **options))
                if not in_flight:
                    return
                finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise


def social_accounts_disconnect_each(
    *,
    account_ids: Iterable[uuid.UUID | str],
    actor: Actor,
    reason: DisconnectReason | str,
    dry_run: bool = False,
    on_item: OnItem | None = None,
    jobs: int = 1,
    keep: int | None = None,
) -> OffboardingSummary:
    """Disconnect the accounts ``account_ids`` (primary keys or ``sa_…`` ids), in that order
    (``jobs`` at a time).

    An id whose account no longer exists is reported ``already_gone``.
    """
    reason = DisconnectReason(reason)
    pks = list(dict.fromkeys(_account_pk(value) for value in account_ids))
    found = {account.pk: account for account in _snapshot(SocialAccount.objects.filter(pk__in=pks))}
    accounts = [found.get(pk, pk) for pk in pks]
    return _disconnect_all(
        accounts,
        total=len(accounts),
        actor=actor,
        reason=reason,
        dry_run=dry_run,
        on_item=on_item,
        jobs=jobs,
        keep=keep,
    )


def _offboard(
    accounts,
    *,
    actor: Actor,
    dry_run: bool,
    on_item: OnItem | None,
    action: str,
    workspace_id: str,
    subject_id: str,
    jobs: int,
    keep: int | None,
) -> OffboardingSummary:
    """Disconnect ``accounts`` (oldest first) with reason ``offboarding``, ending their open
    leases; a real run ends with one ``action`` audit event carrying the run's totals."""
    summary = _disconnect_all(
        _oldest_first(accounts),
        total=accounts.count(),
        actor=actor,
        reason=DisconnectReason.OFFBOARDING,
        dry_run=dry_run,
        on_item=on_item,
        release_leases=True,
        jobs=jobs,
        keep=keep,
    )
    if not dry_run:
        with transaction.atomic():
            audit_event_record(
                actor=actor,
                action=action,
                workspace_id=workspace_id,
                subject_ids=[subject_id],
                data=summary.totals(),
            )
    return summary


def workspace_offboard(
    *,
    workspace: Workspace,
    actor: Actor,
    dry_run: bool = False,
    on_item: OnItem | None = None,
    jobs: int = 1,
    keep: int | None = None,
) -> OffboardingSummary:
    """Disconnect every account of ``workspace`` (oldest first, ``jobs`` at a time) with
    reason ``offboarding``."""
    return _offboard(
        SocialAccount.objects.filter(workspace_id=workspace.pk),
        actor=actor,
        dry_run=dry_run,
        on_item=on_item,
        action="workspace.offboarded",
        workspace_id=workspace.public_id,
        subject_id=workspace.public_id,
        jobs=jobs,
        keep=keep,
    )


def user_offboard(
    *,
    user: User,
    actor: Actor,
    dry_run: bool = False,
    on_item: OnItem | None = None,
    jobs: int = 1,
    keep: int | None = None,
) -> OffboardingSummary:
    """Disconnect every account ``user`` connected, in any workspace (``jobs`` at a time),
    reason ``offboarding``."""
    return _offboard(
        SocialAccount.objects.filter(user_id=user.pk),
        actor=actor,
        dry_run=dry_run,
        on_item=on_item,
        action="user.offboarded",
        workspace_id="",
        subject_id=user.public_id,
        jobs=jobs,
        keep=keep,
    )
