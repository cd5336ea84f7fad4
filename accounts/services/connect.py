"""Connecting a social account: OAuth 2 authorization code with PKCE (S256).

``social_account_connect_start`` issues a single-use, expiring state; the platform sends
the browser back with ``code`` and ``state``; ``social_account_connect_complete`` consumes
the state, exchanges the code (network I/O outside any transaction), reads the profile
and stores the account in one short transaction.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import (
    OAuthState,
    SocialAccount,
    SocialMetrics,
    User,
    Workspace,
)
from accounts.providers import (
    Profile,
    ProviderDefinitiveError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRequestError,
    ProviderTransientError,
    TokenSet,
    provider_for,
)
from accounts.providers.base import pkce_pair
from accounts.selectors.workspaces import membership_get_for_user
from socialhub.api.errors import ApplicationError, ErrorCode

from .actors import Actor
from .audit import audit_event_record
from .revocation import token_revocation_enqueue
from .users import user_personal_space_ensure
from .webhooks import WebhookEvent, webhook_event_emit

logger = logging.getLogger("socialhub.social")


@dataclass(frozen=True)
class ConnectStart:
    authorization_url: str
    state: str


@dataclass(frozen=True)
class ConnectResult:
    account: SocialAccount
    reconnected: bool


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _provider(platform: str):
    try:
        return provider_for(platform)
    except ProviderNotConfigured:
        raise ApplicationError(
            ErrorCode.VALIDATION,
            f"{platform} cannot be connected in this deployment: its app credentials are not "
            "set up.",
            i18n_key="creator.social.platform_not_configured",
            details=[{"field": "platform", "message": "not configured"}],
        ) from None


def social_account_connect_start(
    *, user: User, platform: str, redirect_uri: str, workspace_id: uuid.UUID | None = None
) -> ConnectStart:
    """Issue a state (stored hashed) and a PKCE verifier (stored encrypted).

    ``workspace_id`` picks a shared workspace the user belongs to (any role) for a new
    account; by default it lands in the user's personal workspace.
    """
    provider = _provider(platform)
    if workspace_id is not None:
        membership_get_for_user(user=user, workspace_id=workspace_id)  # 404 for non-members
    state = secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    try:
        # Some platforms are called here (Bluesky's pushed authorization request): the
        # state is stored only once the URL exists, so a failed start leaves nothing.
        url = provider.authorization_url(
            state=state,
            code_challenge=challenge,
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            options={},
        )
    except ProviderError as exc:
        logger.warning("OAuth start failed for %s: %s", platform, exc.__class__.__name__)
        raise _upstream_error(exc) from None
    now = timezone.now()
    OAuthState.objects.filter(user=user, expires_at__lt=now).delete()
    OAuthState.objects.create(
        state_hash=_state_hash(state),
        user=user,
        platform=platform,
        workspace_id=workspace_id,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
        expires_at=now + settings.OAUTH_STATE_TTL,
    )
    return ConnectStart(authorization_url=url, state=state)


def _invalid_state() -> ApplicationError:
    return ApplicationError(
        ErrorCode.VALIDATION,
        "The state is unknown, expired or already used; start the connection again.",
        i18n_key="creator.social.invalid_state",
        details=[{"field": "state", "message": "unknown, expired or already used"}],
    )


def _consume_state(*, user: User, platform: str, state: str) -> OAuthState:
    """Mark the state used, atomically: of two concurrent callers only one gets it."""
    now = timezone.now()
    with transaction.atomic():
        pending = (
            OAuthState.objects.select_for_update()
            .filter(state_hash=_state_hash(state), user=user, platform=platform)
            .first()
        )
        if pending is None or pending.used_at is not None or pending.expires_at <= now:
            raise _invalid_state()
        pending.used_at = now
        pending.save(update_fields=["used_at"])
    return pending


def _upstream_error(exc: ProviderError) -> ApplicationError:
    if isinstance(exc, ProviderTransientError):
        retry_after = max(1, min(300, int(exc.retry_after or 5)))
        return ApplicationError(
            ErrorCode.UNAVAILABLE,
            "The platform did not answer; start the connection again shortly.",
            i18n_key="creator.social.platform_unavailable",
            headers={"Retry-After": str(retry_after)},
        )
    if isinstance(exc, (ProviderDefinitiveError, ProviderRequestError)):
        reason = str(exc)[:200]  # the platform's words, bounded
        return ApplicationError(
            ErrorCode.VALIDATION,
            f"The platform rejected the authorization: {reason}",
            i18n_key="creator.social.oauth_failed",
            details=[{"field": "code", "message": reason}],
        )
    return ApplicationError(ErrorCode.INTERNAL)


def social_account_connect_complete(
    *, user: User, platform: str, code: str, state: str
) -> ConnectResult:
    """Finish the OAuth flow and store (or re-authorise) the account."""
    pending = _consume_state(user=user, platform=platform, state=state)
    try:
        return _complete(user=user, platform=platform, code=code, pending=pending)
    finally:
        # This connect has ended: its state stops standing for one in flight (a revoke of
        # the platform's old tokens waits for those).
        OAuthState.objects.filter(pk=pending.pk).update(expires_at=timezone.now())


def _complete(*, user: User, platform: str, code: str, pending: OAuthState) -> ConnectResult:
    provider = _provider(platform)
    try:
        tokens = provider.exchange_code(
            code=code, redirect_uri=pending.redirect_uri, code_verifier=pending.code_verifier
        )
        profile = provider.fetch_profile(access_token=tokens.access_token)
    except ProviderError as exc:
        logger.warning("OAuth completion failed for %s: %s", platform, exc.__class__.__name__)
        raise _upstream_error(exc) from None
    try:
        return social_account_store_authorization(
            user=user,
            platform=platform,
            tokens=tokens,
            profile=profile,
            workspace=pending.workspace,
        )
    except ApplicationError as refused:
        # We will not keep these tokens: have the platform forget them too.
        token_revocation_enqueue(
            platform=platform,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            # No account_user_id: this connect, the creator's own, has ended.
            platform_user_id=_clip(profile.platform_user_id, "platform_user_id") or "",
        )
        raise refused from None


def _clip(value: str | None, field: str) -> str | None:
    """Fit what the platform sent into the column instead of failing the connect."""
    if value is None:
        return None
    return str(value)[: SocialAccount._meta.get_field(field).max_length]


def social_account_apply_profile(account: SocialAccount, profile: Profile) -> None:
    """Copy what the platform says about the account onto it (unsaved), fitted to columns."""
    account.platform_username = _clip(profile.username, "platform_username")
    account.display_name = _clip(profile.display_name, "display_name")
    account.avatar_url = _clip(profile.avatar_url, "avatar_url")
    account.account_type = _clip(profile.account_type, "account_type") or ""
    if profile.metadata:
        account.metadata = {**account.metadata, **profile.metadata}


def social_account_apply_tokens(account: SocialAccount, tokens: TokenSet, now) -> None:
    """Put a new grant on the account (unsaved); an empty refresh token keeps the stored one."""
    account.access_token = tokens.access_token
    if tokens.refresh_token:  # never blank a stored refresh token
        account.refresh_token = tokens.refresh_token
    account.token_expires_at = tokens.expires_at
    if tokens.scopes:
        account.scopes = tokens.scopes
    account.last_refreshed_at = now


def _store_metrics(account: SocialAccount, profile: Profile, now) -> None:
    """Saving the metrics row fires the receiver that recomputes total_followers."""
    SocialMetrics.objects.update_or_create(
        social_account=account,
        defaults={
            "follower_count": profile.follower_count,
            "following_count": profile.following_count,
            "post_count": profile.post_count,
            "synced_at": now,
        },
    )


def _already_connected(platform: str) -> ApplicationError:
    return ApplicationError(
        ErrorCode.CONFLICT,
        f"Another {platform} account is already connected; disconnect it first.",
        i18n_key="creator.social.already_connected",
        i18n_vars={"platform": platform},
    )


def social_account_store_authorization(
    *,
    user: User,
    platform: str,
    tokens: TokenSet,
    profile: Profile,
    workspace: Workspace | None = None,
) -> ConnectResult:
    """Create the account, or re-authorise it when the same upstream account comes back.

    A different upstream account on a platform the user already has is a 409. Two
    concurrent connects of one platform end with one row: the loser of the insert race
    takes the re-authorisation path (or gets the 409) instead of an IntegrityError.
    """
    if workspace is None:
        workspace = user_personal_space_ensure(user=user)
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                existing = (
                    SocialAccount.objects.select_for_update()
                    .filter(user=user, platform=platform)
                    .first()
                )
                if existing is not None:
                    if existing.platform_user_id != profile.platform_user_id:
                        raise _already_connected(platform)
                    account, reconnected = existing, True
                    previous_status = account.status
                    account.status = SocialAccount.Status.ACTIVE
                    account.status_reason = (
                        f"reconnected (was {previous_status})"
                        if previous_status != SocialAccount.Status.ACTIVE
                        else account.status_reason
                    )
                    account.last_refresh_error = ""
                    account.last_refresh_http_status = None
                else:
                    account = SocialAccount(
                        workspace=workspace,
                        user=user,
                        platform=platform,
                        platform_user_id=profile.platform_user_id,
                        connected_at=now,
                        verified=True,
                    )
                    reconnected = False
                social_account_apply_profile(account, profile)
                social_account_apply_tokens(account, tokens, now)
                account.save()
                _store_metrics(account, profile, now)
                audit_event_record(
                    actor=Actor.for_user(user),
                    action="social_account.reconnected"
                    if reconnected
                    else "social_account.connected",
                    workspace_id=account.workspace.public_id,
                    subject_ids=[account.public_id, user.public_id],
                    data={"platform": platform, "handle": account.platform_username},
                )
                webhook_event_emit(
                    workspace_id=account.workspace_id,
                    event=WebhookEvent.ACCOUNT_CONNECTED,
                    data={
                        "socialAccountId": account.public_id,
                        "platform": platform,
                        "handle": account.platform_username,
                        "userId": user.public_id,
                        "reconnected": reconnected,
                    },
                )
        except IntegrityError:
            # Lost an insert race on (user, platform): retry once as a re-authorisation.
            # On (workspace, platform, upstream id) it is someone else's connection.
            if _attempt == 0:
                continue
            raise ApplicationError(
                ErrorCode.CONFLICT,
                "This platform account is already connected in this workspace.",
                i18n_key="creator.social.account_taken",
                i18n_vars={"platform": platform},
            ) from None
        logger.info(
            "[social] %s %s for user %s",
            "Reconnected" if reconnected else "Connected",
            platform,
            user.public_id,
        )
        return ConnectResult(account=account, reconnected=reconnected)
    raise _already_connected(platform)  # pragma: no cover - the loop returns or raises
