"""Syncing an account's profile and counters from the platform.

The profile is read outside any transaction; then one short transaction locks the account,
updates handle, display name and avatar, saves ``SocialMetrics`` through the model (its
receiver recomputes the creator's ``total_followers``) and upserts today's
``MetricsSnapshot``. Errors never change the account's status: deciding that a grant is
dead is the token refresh's job.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.crypto import TokenDecryptionError
from accounts.models import MetricsSnapshot, SocialAccount, SocialMetrics
from accounts.providers import (
    Profile,
    ProviderDefinitiveError,
    ProviderError,
    ProviderTransientError,
    provider_for,
)
from socialhub.backoff import retry_delay_seconds

from .connect import social_account_apply_profile

logger = logging.getLogger("socialhub.social")

RETRY_BASE_SECONDS = 60
PROFILE_FIELDS = ("platform_username", "display_name", "avatar_url", "account_type", "metadata")


@dataclass(frozen=True)
class MetricsSyncOutcome:
    status: str  # synced | skipped | failed | retry
    retry_in: int | None = None


def _store_profile(social_account_id, *, profile: Profile) -> bool:
    """Write what the platform said; ``False`` when the account is gone, or the profile is
    another upstream account's."""
    now = timezone.now()
    with transaction.atomic():
        account = (
            SocialAccount.objects.select_for_update()
            .defer("access_token", "refresh_token")
            .filter(pk=social_account_id)
            .first()
        )
        if account is None or account.platform_user_id != profile.platform_user_id:
            return False
        before = [getattr(account, name) for name in PROFILE_FIELDS]
        social_account_apply_profile(account, profile)
        if [getattr(account, name) for name in PROFILE_FIELDS] != before:
            account.save(update_fields=[*PROFILE_FIELDS, "updated_at"])
        counters = {
            "follower_count": profile.follower_count,
            "following_count": profile.following_count,
            "post_count": profile.post_count,
        }
        # Saved through the model: its receiver recomputes total_followers.
        SocialMetrics.objects.update_or_create(
            social_account=account, defaults={**counters, "synced_at": now}
        )
        MetricsSnapshot.objects.bulk_create(
            [MetricsSnapshot(social_account=account, day=timezone.localdate(now), **counters)],
            update_conflicts=True,
            unique_fields=["social_account", "day"],
            update_fields=list(counters),
        )
    return True


def social_account_metrics_sync(
    *, social_account_id: uuid.UUID | str, attempt: int = 1
) -> MetricsSyncOutcome:
    """Read one active account's profile and counters from the platform and store them.
    ``attempt`` (1 for the first) sets the backoff a ``retry`` outcome asks for."""
    try:
        row = (
            SocialAccount.objects.filter(pk=social_account_id, status=SocialAccount.Status.ACTIVE)
            .values_list("platform", "access_token", "token_expires_at")
            .first()
        )
    except TokenDecryptionError:
        logger.error("Metrics sync of %s: stored tokens do not decrypt", social_account_id)
        return MetricsSyncOutcome("failed")
    if row is None:
        return MetricsSyncOutcome("skipped")
    platform, access_token, expires_at = row
    if not access_token or (expires_at is not None and expires_at <= timezone.now()):
        return MetricsSyncOutcome("skipped")  # the token refresh renews it (or expires it)

    try:
        profile = provider_for(platform).fetch_profile(access_token=access_token)
    except ProviderTransientError as exc:
        retry_in = retry_delay_seconds(
            attempt, base=RETRY_BASE_SECONDS, retry_after=exc.retry_after
        )
        logger.warning(
            "Metrics sync of %s %s failed for now (%s); retry in %ss",
            platform,
            social_account_id,
            exc,
            retry_in,
        )
        return MetricsSyncOutcome("retry", retry_in=retry_in)
    except ProviderDefinitiveError as exc:
        logger.warning("Metrics sync of %s %s refused: %s", platform, social_account_id, exc)
        return MetricsSyncOutcome("failed")
    except ProviderError as exc:
        logger.error("Metrics sync of %s %s rejected: %s", platform, social_account_id, exc)
        return MetricsSyncOutcome("failed")

    if not _store_profile(social_account_id, profile=profile):
        return MetricsSyncOutcome("skipped")
    return MetricsSyncOutcome("synced")


def social_accounts_metrics_sync_due(*, limit: int = 500) -> list[uuid.UUID]:
    """Active accounts with a usable access token whose counters are missing or older than
    ``METRICS_SYNC_STALE_AFTER``, stalest first, in one query."""
    now = timezone.now()
    return list(
        SocialAccount.objects.filter(status=SocialAccount.Status.ACTIVE)
        .filter(Q(token_expires_at__isnull=True) | Q(token_expires_at__gt=now))
        .filter(
            Q(metrics__isnull=True)
            | Q(metrics__synced_at__lt=now - settings.METRICS_SYNC_STALE_AFTER)
        )
        .order_by(F("metrics__synced_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[:limit]
    )
