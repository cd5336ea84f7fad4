"""The disconnect: the one operation every entry point (REST, admin, commands) calls.

In one transaction: lock the account row, wait for platform calls in flight with its token
(a post being published), settle the posts its queued targets leave with
nothing to publish and cancel and detach those targets in one UPDATE, move the tokens into
the revocation outbox (ciphertext copied in SQL, never decrypted), delete
the account (the database cascade purges metrics, snapshots and inbox; published targets
keep their snapshot through SET_NULL), let the metrics signal recompute total_followers,
write the audit event and queue the ``account.disconnected`` webhook deliveries. After
commit, the upstream revoke and the deliveries are enqueued. The statement count
is the same for an account with no history and one with a million rows of it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum

from django.db import connection, transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import (
    InboxItem,
    Lease,
    MetricsSnapshot,
    SocialAccount,
    SocialMetrics,
    TokenRevocation,
    User,
    Workspace,
)
from accounts.tasks.revocation import token_revocation_process_task
from scheduling.models import PostTarget
from scheduling.services import post_targets_cancel_for_disconnect
from socialhub.api.errors import not_found
from socialhub.api.ids import format_public_id
from socialhub.celery import enqueue_on_commit

from .actors import Actor
from .audit import audit_event_record
from .platform_calls import social_account_platform_calls_wait
from .webhooks import WebhookEvent, webhook_event_emit

logger = logging.getLogger("socialhub.social")


class DisconnectReason(StrEnum):
    REVOKED_BY_USER = "revoked_by_user"
    REVOKED_BY_PARTNER = "revoked_by_partner"
    REVOKED_BY_STAFF = "revoked_by_staff"
    OFFBOARDING = "offboarding"
    LEASE_RELEASED = "lease_released"


@dataclass(frozen=True)
class DisconnectReport:
    social_account_id: str
    platform: str
    handle: str | None
    user_id: str
    workspace_id: str
    reason: str
    canceled_scheduled_posts: int
    purged_metrics: int
    purged_metrics_snapshots: int
    purged_inbox_items: int
    disconnected_at: datetime
    dry_run: bool
    released_leases: int = 0  # open billing leases ended with it (offboarding only)

    def as_dict(self) -> dict:
        return asdict(self)


def _count_of(queryset) -> Coalesce:
    counted = queryset.order_by().values("social_account_id").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _preview_counts(account_id) -> dict | None:
    """What a disconnect would cancel and purge, in one read."""
    return (
        SocialAccount.objects.filter(pk=account_id)
        .annotate(
            queued_targets=_count_of(
                PostTarget.objects.filter(
                    social_account_id=OuterRef("pk"), status=PostTarget.Status.QUEUED
                )
            ),
            metrics_rows=_count_of(SocialMetrics.objects.filter(social_account_id=OuterRef("pk"))),
            snapshot_rows=_count_of(
                MetricsSnapshot.objects.filter(social_account_id=OuterRef("pk"))
            ),
            inbox_rows=_count_of(InboxItem.objects.filter(social_account_id=OuterRef("pk"))),
        )
        .values(
            "platform",
            "platform_username",
            "user_id",
            "workspace_id",
            "queued_targets",
            "metrics_rows",
            "snapshot_rows",
            "inbox_rows",
        )
        .first()
    )


def _queue_token_revocation(account_id) -> int | None:
    """Copy the encrypted tokens into the outbox in SQL; returns the outbox row id."""
    revocations = TokenRevocation._meta.db_table
    accounts = SocialAccount._meta.db_table
    now = TokenRevocation._meta.get_field("created_at").get_db_prep_value(
        timezone.now(), connection
    )
    with connection.cursor() as cursor:
        cursor.execute(  # table names come from model metadata, values are parameters
            f"""
            INSERT INTO {revocations}
                (platform, account_public_id, platform_user_id, account_user_id, access_token,
                 refresh_token, attempts, last_error, created_at, next_attempt_at)
            SELECT platform, %s, platform_user_id, user_id, access_token, refresh_token, 0, '',
                   %s, %s
            FROM {accounts}
            WHERE id = %s AND (access_token <> '' OR refresh_token <> '')
            RETURNING id
            """,  # noqa: S608
            [
                format_public_id(SocialAccount.ID_PREFIX, account_id),
                now,
                now,
                SocialAccount._meta.pk.get_db_prep_value(account_id, connection),
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _open_leases(account: SocialAccount):
    # By the id the lease keeps: its foreign key is cleared when the account row goes.
    return Lease.objects.filter(account_public_id=account.public_id, released_at__isnull=True)


def social_account_disconnect(
    *,
    account: SocialAccount,
    actor: Actor,
    reason: DisconnectReason | str,
    dry_run: bool = False,
    release_leases: bool = False,
) -> DisconnectReport:
    """Disconnect ``account`` (already scoped to the caller by a selector).

    With ``release_leases`` the account's open billing leases end in the same transaction
    (offboarding: a customer who leaves stops being billed); otherwise they stay open for
    billing to settle. A concurrent second disconnect finds the row gone once the first
    commits: 404.
    """
    reason = DisconnectReason(reason)
    now = timezone.now()

    if dry_run:
        preview = _preview_counts(account.pk)
        if preview is None:
            raise not_found("social_account.not_found", "Social account not found.")
        return DisconnectReport(
            social_account_id=account.public_id,
            platform=preview["platform"],
            handle=preview["platform_username"],
            user_id=format_public_id(User.ID_PREFIX, preview["user_id"]),
            workspace_id=format_public_id(Workspace.ID_PREFIX, preview["workspace_id"]),
            reason=reason.value,
            canceled_scheduled_posts=preview["queued_targets"],
            purged_metrics=preview["metrics_rows"],
            purged_metrics_snapshots=preview["snapshot_rows"],
            purged_inbox_items=preview["inbox_rows"],
            disconnected_at=now,
            dry_run=True,
            released_leases=_open_leases(account).count() if release_leases else 0,
        )

    with transaction.atomic():
        locked = (
            SocialAccount.objects.select_for_update(of=("self",))
            .defer("access_token", "refresh_token", "metadata")
            .filter(pk=account.pk)
            .first()
        )
        if locked is None:
            raise not_found("social_account.not_found", "Social account not found.")
        social_account_platform_calls_wait(account_id=locked.pk)

        canceled = post_targets_cancel_for_disconnect(
            social_account_id=locked.pk, reason="account_disconnected"
        )
        revocation_id = _queue_token_revocation(locked.pk)
        released = _open_leases(account).update(released_at=now) if release_leases else 0
        _total, deleted = locked.delete()
        report = DisconnectReport(
            social_account_id=account.public_id,
            platform=locked.platform,
            handle=locked.platform_username,
            user_id=format_public_id(User.ID_PREFIX, locked.user_id),
            workspace_id=format_public_id(Workspace.ID_PREFIX, locked.workspace_id),
            reason=reason.value,
            canceled_scheduled_posts=canceled,
            purged_metrics=deleted.get(SocialMetrics._meta.label, 0),
            purged_metrics_snapshots=deleted.get(MetricsSnapshot._meta.label, 0),
            purged_inbox_items=deleted.get(InboxItem._meta.label, 0),
            disconnected_at=now,
            dry_run=False,
            released_leases=released,
        )
        audit_event_record(
            actor=actor,
            action="social_account.disconnected",
            workspace_id=report.workspace_id,
            subject_ids=[report.social_account_id, report.user_id],
            data={
                "platform": report.platform,
                "handle": report.handle,
                "reason": report.reason,
                "canceledScheduledPosts": report.canceled_scheduled_posts,
                "purged": {
                    "metrics": report.purged_metrics,
                    "metricsSnapshots": report.purged_metrics_snapshots,
                    "inboxItems": report.purged_inbox_items,
                },
            },
        )
        webhook_event_emit(
            workspace_id=locked.workspace_id,
            event=WebhookEvent.ACCOUNT_DISCONNECTED,
            data={
                "socialAccountId": report.social_account_id,
                "platform": report.platform,
                "handle": report.handle,
                "userId": report.user_id,
                "reason": report.reason,
                "canceledScheduledPosts": report.canceled_scheduled_posts,
                "purged": {
                    "metrics": report.purged_metrics,
                    "metricsSnapshots": report.purged_metrics_snapshots,
                    "inboxItems": report.purged_inbox_items,
                },
                "disconnectedAt": report.disconnected_at,
            },
        )
        if revocation_id is not None:
            # Robust: the outbox row is there for the sweep if the broker cannot take it.
            enqueue_on_commit(token_revocation_process_task, revocation_id)
        # Logged on commit: a caller's outer transaction may still roll the disconnect back.
        transaction.on_commit(
            lambda: logger.info(
                "[social] Disconnected %s for user %s", report.platform, report.user_id
            )
        )
    return report
