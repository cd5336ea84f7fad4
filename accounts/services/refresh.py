"""Keeping access tokens fresh with the platform's refresh grant.

An account is claimed with a conditional UPDATE (two workers never refresh one account at
once: with rotating refresh tokens the loser would kill the grant), the platform is called
outside any transaction, and the answer is stored in one short transaction. Only a
definitive answer (``invalid_grant`` and friends, or a 401) makes the account
``token_expired``; timeouts, 5xx and 429 are retried and never counted as a dead token.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.crypto import TokenDecryptionError
from accounts.models import SocialAccount, User, Workspace
from accounts.providers import (
    ProviderDefinitiveError,
    ProviderError,
    ProviderTransientError,
    TokenSet,
    provider_for,
)
from socialhub.api.ids import format_public_id
from socialhub.backoff import retry_delay_seconds

from .actors import Actor
from .audit import audit_event_record
from .connect import social_account_apply_tokens
from .revocation import token_revocation_enqueue
from .webhooks import WebhookEvent, webhook_event_emit

logger = logging.getLogger("socialhub.social")

# Longer than one refresh call can take (connect + read timeout), so a worker still waiting
# for the platform keeps its claim; retries wait at least this long plus a margin.
CLAIM_LEASE = timedelta(minutes=2)
RETRY_BASE_SECONDS = 180
REFRESH_ACTOR = Actor.system("token-refresh")


@dataclass(frozen=True)
class RefreshOutcome:
    status: str  # refreshed | token_expired | retry | failed | skipped
    retry_in: int | None = None


def _error_text(exc: ProviderError) -> str:
    """What the platform said, with its OAuth error code, fitted to the column."""
    message = str(exc)
    if exc.error_code and exc.error_code not in message:
        message = f"{exc.error_code}: {message}"
    return message[:500]


def _claim(social_account_id: uuid.UUID | str, now: datetime) -> bool:
    """Take the account for one refresh attempt; ``False`` when another attempt holds it
    (or held it within the lease), or the account is gone or not active."""
    claimed = (
        SocialAccount.objects.filter(pk=social_account_id, status=SocialAccount.Status.ACTIVE)
        .filter(
            Q(last_refresh_attempt_at__isnull=True)
            | Q(last_refresh_attempt_at__lte=now - CLAIM_LEASE)
        )
        .update(last_refresh_attempt_at=now)
    )
    return claimed == 1


def _record_failure(
    social_account_id: uuid.UUID | str, *, error: str, http_status: int | None
) -> None:
    """Record a failed attempt; the status is left alone."""
    now = timezone.now()
    SocialAccount.objects.filter(pk=social_account_id).update(
        last_refresh_error=error[:500],
        last_refresh_http_status=http_status,
        last_refresh_attempt_at=now,
        updated_at=now,
    )


def _lock(social_account_id) -> SocialAccount | None:
    """The account row, locked until the end of the transaction (``None`` once gone)."""
    return (
        SocialAccount.objects.select_for_update()
        .defer("access_token")
        .filter(pk=social_account_id)
        .first()
    )


def _mark_token_expired(
    social_account_id,
    *,
    used_refresh_token: str,
    reason: str,
    error: str,
    http_status: int | None,
) -> RefreshOutcome:
    """The account becomes ``token_expired``, with the audit event and the webhook, in one
    transaction."""
    now = timezone.now()
    with transaction.atomic():
        account = _lock(social_account_id)
        if (
            account is None  # disconnected meanwhile
            or account.refresh_token != used_refresh_token  # re-authorised: a new grant
            or account.status != SocialAccount.Status.ACTIVE
        ):
            return RefreshOutcome("skipped")
        account.status = SocialAccount.Status.TOKEN_EXPIRED
        account.status_reason = reason[:255]
        account.last_refresh_error = error[:500]
        account.last_refresh_http_status = http_status
        account.last_refresh_attempt_at = now
        account.save(
            update_fields=[
                "status",
                "status_reason",
                "last_refresh_error",
                "last_refresh_http_status",
                "last_refresh_attempt_at",
                "updated_at",
            ]
        )
        workspace_id = format_public_id(Workspace.ID_PREFIX, account.workspace_id)
        audit_event_record(
            actor=REFRESH_ACTOR,
            action="social_account.token_expired",
            workspace_id=workspace_id,
            subject_ids=[account.public_id, format_public_id(User.ID_PREFIX, account.user_id)],
            data={
                "platform": account.platform,
                "handle": account.platform_username,
                "reason": account.status_reason,
                "httpStatus": http_status,
            },
        )
        webhook_event_emit(
            workspace_id=account.workspace_id,
            event=WebhookEvent.ACCOUNT_TOKEN_EXPIRED,
            data={
                "socialAccountId": account.public_id,
                "platform": account.platform,
                "handle": account.platform_username,
                "reason": account.status_reason,
                "httpStatus": http_status,
            },
        )
        public_id, platform = account.public_id, account.platform
        transaction.on_commit(
            lambda: logger.warning(
                "[social] Token of %s %s expired: %s", platform, public_id, reason
            )
        )
    return RefreshOutcome("token_expired")


def _store_tokens(
    social_account_id,
    *,
    platform: str,
    platform_user_id: str,
    account_user_id,
    used_refresh_token: str,
    tokens: TokenSet,
) -> RefreshOutcome:
    public_id = format_public_id(SocialAccount.ID_PREFIX, social_account_id)
    with transaction.atomic():
        account = _lock(social_account_id)
        if account is None:
            # Disconnected while we were at the platform: nobody will keep these tokens.
            token_revocation_enqueue(
                platform=platform,
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                account_public_id=public_id,
                platform_user_id=platform_user_id,
                account_user_id=account_user_id,
            )
            return RefreshOutcome("skipped")
        if account.refresh_token != used_refresh_token:
            # Re-authorised meanwhile: its new grant stands. These tokens are left to
            # expire; revoking them could end the new grant too on platforms that revoke
            # per user and client.
            return RefreshOutcome("skipped")
        social_account_apply_tokens(account, tokens, timezone.now())
        account.last_refresh_error = ""
        account.last_refresh_http_status = None
        account.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "token_expires_at",
                "scopes",
                "last_refreshed_at",
                "last_refresh_error",
                "last_refresh_http_status",
                "updated_at",
            ]
        )
    logger.info("[social] Refreshed the token of %s %s", platform, public_id)
    return RefreshOutcome("refreshed")


def social_account_token_refresh(
    *, social_account_id: uuid.UUID | str, attempt: int = 1
) -> RefreshOutcome:
    """Refresh one account's access token. ``attempt`` (1 for the first) sets the backoff a
    ``retry`` outcome asks for."""
    now = timezone.now()
    if not _claim(social_account_id, now):
        return RefreshOutcome("skipped")
    try:
        row = (
            SocialAccount.objects.filter(pk=social_account_id)
            .values_list(
                "platform", "platform_user_id", "user_id", "refresh_token", "token_expires_at"
            )
            .first()
        )
    except TokenDecryptionError:
        logger.error("Token refresh of %s: stored tokens do not decrypt", social_account_id)
        _record_failure(social_account_id, error="stored tokens do not decrypt", http_status=None)
        return RefreshOutcome("failed")
    if row is None:  # disconnected since the claim
        return RefreshOutcome("skipped")
    platform, platform_user_id, user_id, refresh_token, expires_at = row

    if not refresh_token:
        if expires_at is not None and expires_at <= now:
            return _mark_token_expired(
                social_account_id,
                used_refresh_token="",
                reason="access token expired and the platform granted no refresh token",
                error="no refresh token",
                http_status=None,
            )
        return RefreshOutcome("skipped")

    try:
        tokens = provider_for(platform).refresh(refresh_token=refresh_token)
    except ProviderDefinitiveError as exc:
        code = exc.error_code or f"HTTP {exc.http_status}"
        return _mark_token_expired(
            social_account_id,
            used_refresh_token=refresh_token,
            reason=f"refresh refused by the platform: {code}",
            error=_error_text(exc),
            http_status=exc.http_status,
        )
    except ProviderTransientError as exc:
        _record_failure(social_account_id, error=_error_text(exc), http_status=exc.http_status)
        retry_in = retry_delay_seconds(
            attempt, base=RETRY_BASE_SECONDS, retry_after=exc.retry_after
        )
        logger.warning(
            "Token refresh of %s %s failed for now (%s); retry in %ss",
            platform,
            social_account_id,
            exc,
            retry_in,
        )
        return RefreshOutcome("retry", retry_in=retry_in)
    except ProviderError as exc:
        # ProviderRequestError, ProviderNotConfigured: our configuration (client
        # credentials, adapter), not the user's grant. No immediate retry.
        _record_failure(social_account_id, error=_error_text(exc), http_status=exc.http_status)
        logger.error("Token refresh of %s %s rejected: %s", platform, social_account_id, exc)
        return RefreshOutcome("failed")
    return _store_tokens(
        social_account_id,
        platform=platform,
        platform_user_id=platform_user_id,
        account_user_id=user_id,
        used_refresh_token=refresh_token,
        tokens=tokens,
    )


def social_accounts_refresh_due(*, limit: int = 500) -> list[uuid.UUID]:
    """Active accounts whose access token expires within ``TOKEN_REFRESH_AHEAD`` and that no
    attempt holds, soonest first, in one query."""
    now = timezone.now()
    return list(
        SocialAccount.objects.filter(
            status=SocialAccount.Status.ACTIVE,
            token_expires_at__lt=now + settings.TOKEN_REFRESH_AHEAD,
        )
        .filter(
            Q(last_refresh_attempt_at__isnull=True)
            | Q(last_refresh_attempt_at__lte=now - CLAIM_LEASE)
        )
        .order_by("token_expires_at")
        .values_list("pk", flat=True)[:limit]
    )
