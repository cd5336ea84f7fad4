"""Revoking a disconnected account's tokens at the platform (best effort, retried).

The outbox row is claimed with a short lease (so a worker that dies mid-call leaves the
row for the sweep), the platform is called outside any transaction, and the row — the
last copy of the tokens — is deleted once the platform confirms, refuses for good, or
the attempts run out.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from accounts.crypto import TokenDecryptionError
from accounts.models import OAuthState, SocialAccount, TokenRevocation
from accounts.providers import (
    ProviderDefinitiveError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRequestError,
    ProviderTransientError,
    provider_for,
)
from socialhub.backoff import retry_delay_seconds
from socialhub.celery import enqueue_on_commit

logger = logging.getLogger("socialhub.social")

CLAIM_LEASE = timedelta(minutes=5)
# How often a revoke held back by a connect in flight looks again.
HOLD_RECHECK = timedelta(seconds=15)


@dataclass(frozen=True)
class RevocationOutcome:
    status: str  # revoked | unsupported | refused | abandoned | superseded | postponed | not_due
    # | retry
    retry_in: int | None = None


def _claim(revocation_id: int):
    now = timezone.now()
    with transaction.atomic():
        row = (
            TokenRevocation.objects.select_for_update(skip_locked=True)
            .defer("access_token", "refresh_token")
            .filter(pk=revocation_id, next_attempt_at__lte=now)
            .first()
        )
        if row is None:
            return None, None
        row.attempts += 1
        row.next_attempt_at = now + CLAIM_LEASE
        row.save(update_fields=["attempts", "next_attempt_at"])
    try:
        tokens = (
            TokenRevocation.objects.filter(pk=revocation_id)
            .values_list("access_token", "refresh_token")
            .first()
        )
    except TokenDecryptionError:
        tokens = "undecryptable"
    return row, tokens


def _connected_again(row: TokenRevocation) -> bool:
    """Whether the upstream account of ``row`` is connected here (again, or by someone else)."""
    return bool(row.platform_user_id) and (
        SocialAccount.objects.filter(platform=row.platform, platform_user_id=row.platform_user_id)
        .values("pk")
        .exists()
    )


def _connect_in_flight_until(row: TokenRevocation):
    """When the creator whose tokens these were is connecting the same platform (a state
    still live that was not used yet, or used after these tokens were given up), the latest
    moment such a connect can still end; else None. A connect that began completing before
    then had ended by the time of the disconnect."""
    if row.account_user_id is None:
        return None
    return (
        OAuthState.objects.filter(
            user_id=row.account_user_id, platform=row.platform, expires_at__gt=timezone.now()
        )
        .filter(Q(used_at__isnull=True) | Q(used_at__gte=row.created_at))
        .aggregate(until=Max("expires_at"))["until"]
    )


def token_revocation_process(*, revocation_id: int) -> RevocationOutcome:
    row, tokens = _claim(revocation_id)
    if row is None or tokens is None:
        return RevocationOutcome("not_due")
    if tokens == "undecryptable":
        logger.error("Token revocation %s: tokens do not decrypt; dropping them", row.pk)
        TokenRevocation.objects.filter(pk=row.pk).delete()
        return RevocationOutcome("abandoned")
    if _connected_again(row):
        # Platforms that revoke per user and client (not per grant) would end the live
        # grant with these tokens. They are dropped instead and left to expire.
        logger.info(
            "Token revocation %s: %s is connected again; tokens dropped, not revoked",
            row.pk,
            row.platform,
        )
        TokenRevocation.objects.filter(pk=row.pk).delete()
        return RevocationOutcome("superseded")
    held_until = _connect_in_flight_until(row)
    if held_until is not None:
        # The creator is connecting this platform (perhaps the same upstream account): its
        # new grant may be issued but not stored yet. Look again shortly, until that
        # connect has ended (most take seconds) or could no longer end.
        again_at = min(held_until, timezone.now() + HOLD_RECHECK)
        TokenRevocation.objects.filter(pk=row.pk).update(
            attempts=F("attempts") - 1, next_attempt_at=again_at
        )
        wait = max(1, math.ceil((again_at - timezone.now()).total_seconds()))
        logger.info("Token revocation %s: a connect is in flight; again in %ss", row.pk, wait)
        return RevocationOutcome("postponed", retry_in=wait)
    access_token, refresh_token = tokens
    try:
        provider = provider_for(row.platform)
        if not provider.can_revoke:
            TokenRevocation.objects.filter(pk=row.pk).delete()
            logger.info(
                "Token revocation %s: %s offers no revocation; the tokens are forgotten",
                row.pk,
                row.platform,
            )
            return RevocationOutcome("unsupported")
        provider.revoke(access_token=access_token, refresh_token=refresh_token)
    except (ProviderDefinitiveError, ProviderRequestError) as exc:
        # The grant is already dead, or the platform refuses for good: nothing to retry.
        logger.info("Token revocation %s: platform refused (%s); done", row.pk, exc)
        TokenRevocation.objects.filter(pk=row.pk).delete()
        return RevocationOutcome("refused")
    except (ProviderTransientError, ProviderNotConfigured) as exc:
        if row.attempts >= settings.TOKEN_REVOCATION_MAX_ATTEMPTS:
            logger.error(
                "Token revocation %s for %s abandoned after %s attempts: %s",
                row.pk,
                row.account_public_id,
                row.attempts,
                exc,
            )
            TokenRevocation.objects.filter(pk=row.pk).delete()
            return RevocationOutcome("abandoned")
        delay = retry_delay_seconds(row.attempts, retry_after=getattr(exc, "retry_after", None))
        TokenRevocation.objects.filter(pk=row.pk).update(
            last_error=str(exc)[:500], next_attempt_at=timezone.now() + timedelta(seconds=delay)
        )
        return RevocationOutcome("retry", retry_in=delay)
    except ProviderError as exc:  # pragma: no cover - every subclass is handled above
        logger.error("Token revocation %s: unexpected provider error %s", row.pk, exc)
        return RevocationOutcome("retry", retry_in=retry_delay_seconds(row.attempts))
    TokenRevocation.objects.filter(pk=row.pk).delete()
    logger.info("Token revocation %s: revoked at %s", row.pk, row.platform)
    return RevocationOutcome("revoked")


def token_revocation_enqueue(
    *,
    platform: str,
    access_token: str,
    refresh_token: str,
    account_public_id: str = "",
    platform_user_id: str = "",
    account_user_id=None,
) -> int:
    """Queue tokens we will not keep (e.g. from a refused connect) for upstream revocation;
    ``platform_user_id`` names the upstream account they belong to, ``account_user_id`` the
    creator who connected it."""
    from accounts.tasks.revocation import token_revocation_process_task  # imports this module

    with transaction.atomic():
        row = TokenRevocation.objects.create(
            platform=platform,
            account_public_id=account_public_id,
            platform_user_id=platform_user_id,
            account_user_id=account_user_id,
            access_token=access_token,
            refresh_token=refresh_token,
        )
        enqueue_on_commit(token_revocation_process_task, row.pk)
    return row.pk


def token_revocations_due(*, limit: int = 500) -> list[int]:
    """Outbox rows whose on-commit task never finished (process died, broker down)."""
    return list(
        TokenRevocation.objects.filter(next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
