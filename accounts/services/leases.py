"""Leased accounts: releasing the billing lease and disconnecting in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import Lease, SocialAccount
from socialhub.api.errors import not_found

from .actors import Actor
from .disconnect import DisconnectReason, DisconnectReport, social_account_disconnect


@dataclass(frozen=True)
class LeaseReleaseReport:
    disconnect: DisconnectReport
    released_leases: int


def _not_leased():
    return not_found("leased_account.not_found", "No leased account with this id.")


def leased_account_release(
    *, account: SocialAccount, actor: Actor, dry_run: bool = False
) -> LeaseReleaseReport:
    """End the account's open leases and disconnect it (reason ``lease_released``).

    404 when the account has no open lease. A plain disconnect leaves the lease open (it
    outlives the account, keyed by the account's public id) for billing to settle.
    """
    open_leases = Lease.objects.filter(social_account_id=account.pk, released_at__isnull=True)
    if dry_run:
        leases = open_leases.count()
        if leases == 0:
            raise _not_leased()
        report = social_account_disconnect(
            account=account, actor=actor, reason=DisconnectReason.LEASE_RELEASED, dry_run=True
        )
        return LeaseReleaseReport(disconnect=report, released_leases=leases)

    with transaction.atomic():
        # Lock the account first, as the disconnect does, so both paths take locks in the
        # same order.
        locked = (
            SocialAccount.objects.select_for_update(of=("self",))
            .filter(pk=account.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if locked is None:
            raise not_found("social_account.not_found", "Social account not found.")
        released = open_leases.update(released_at=timezone.now())
        if released == 0:
            raise _not_leased()
        report = social_account_disconnect(
            account=account, actor=actor, reason=DisconnectReason.LEASE_RELEASED
        )
    return LeaseReleaseReport(disconnect=report, released_leases=released)
