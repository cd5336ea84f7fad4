"""Disconnecting many accounts at once: a list picked by staff, a workspace, or a user.

Each account goes through ``social_account_disconnect`` in its own transaction, so an
interrupted run keeps every account it finished and a re-run finds only the ones still there.
One account that fails is reported and the run goes on with the next.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction

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


@dataclass(frozen=True)
class OffboardingSummary:
    dry_run: bool
    items: tuple[OffboardingItem, ...]

    def _count(self, outcome: str) -> int:
        return sum(1 for item in self.items if item.outcome == outcome)

    def _total(self, field: str) -> int:
        return sum(getattr(item.report, field) for item in self.items if item.report is not None)

    @property
    def disconnected(self) -> int:
        """Accounts disconnected (or, in a dry run, that would be)."""
        return self._count(WOULD_DISCONNECT if self.dry_run else DISCONNECTED)

    @property
    def failed(self) -> int:
        return self._count(FAILED)

    @property
    def already_gone(self) -> int:
        return self._count(ALREADY_GONE)

    @property
    def canceled_scheduled_posts(self) -> int:
        return self._total("canceled_scheduled_posts")

    @property
    def released_leases(self) -> int:
        return sum(item.released_leases for item in self.items)

    @property
    def purged_metrics(self) -> int:
        return self._total("purged_metrics")

    @property
    def purged_metrics_snapshots(self) -> int:
        return self._total("purged_metrics_snapshots")

    @property
    def purged_inbox_items(self) -> int:
        return self._total("purged_inbox_items")

    def totals(self) -> dict:
        """The counts, camelCase (the summary audit event's data and the JSON totals)."""
        return {
            "accounts": len(self.items),
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
    accounts: list[SocialAccount | uuid.UUID],
    *,
    actor: Actor,
    reason: DisconnectReason,
    dry_run: bool,
    on_item: OnItem | None,
    release_leases: bool = False,
) -> OffboardingSummary:
    """One disconnect (one transaction) per account; never one transaction around them."""
    items: list[OffboardingItem] = []
    total = len(accounts)
    for done, account in enumerate(accounts, start=1):
        item = _disconnect_one(
            account, actor=actor, reason=reason, dry_run=dry_run, release_leases=release_leases
        )
        items.append(item)
        if on_item is not None:
            on_item(item, done, total)
    return OffboardingSummary(dry_run=dry_run, items=tuple(items))


def social_accounts_disconnect_each(
    *,
    account_ids: Iterable[uuid.UUID | str],
    actor: Actor,
    reason: DisconnectReason | str,
    dry_run: bool = False,
    on_item: OnItem | None = None,
) -> OffboardingSummary:
    """Disconnect the accounts ``account_ids`` (primary keys or ``sa_…`` ids), in that order.

    An id whose account no longer exists is reported ``already_gone``.
    """
    reason = DisconnectReason(reason)
    pks = list(dict.fromkeys(_account_pk(value) for value in account_ids))
    found = {account.pk: account for account in _snapshot(SocialAccount.objects.filter(pk__in=pks))}
    accounts = [found.get(pk, pk) for pk in pks]
    return _disconnect_all(accounts, actor=actor, reason=reason, dry_run=dry_run, on_item=on_item)


def _offboard(
    accounts,
    *,
    actor: Actor,
    dry_run: bool,
    on_item: OnItem | None,
    action: str,
    workspace_id: str,
    subject_id: str,
) -> OffboardingSummary:
    """Disconnect ``accounts`` (oldest first) with reason ``offboarding``, ending their open
    leases; a real run ends with one ``action`` audit event carrying the run's totals."""
    summary = _disconnect_all(
        _snapshot(accounts.order_by("connected_at", "id")),
        actor=actor,
        reason=DisconnectReason.OFFBOARDING,
        dry_run=dry_run,
        on_item=on_item,
        release_leases=True,
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
) -> OffboardingSummary:
    """Disconnect every account of ``workspace`` (oldest first) with reason ``offboarding``."""
    return _offboard(
        SocialAccount.objects.filter(workspace_id=workspace.pk),
        actor=actor,
        dry_run=dry_run,
        on_item=on_item,
        action="workspace.offboarded",
        workspace_id=workspace.public_id,
        subject_id=workspace.public_id,
    )


def user_offboard(
    *,
    user: User,
    actor: Actor,
    dry_run: bool = False,
    on_item: OnItem | None = None,
) -> OffboardingSummary:
    """Disconnect every account ``user`` connected, in any workspace, reason ``offboarding``."""
    return _offboard(
        SocialAccount.objects.filter(user_id=user.pk),
        actor=actor,
        dry_run=dry_run,
        on_item=on_item,
        action="user.offboarded",
        workspace_id="",
        subject_id=user.public_id,
    )
