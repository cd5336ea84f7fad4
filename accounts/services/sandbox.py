"""The sandbox platform's own logic: an OAuth 2 server with PKCE, a profile API, a post
API and token revocation, all local. Its answers mimic a real platform's, errors included
(``{"error": "invalid_grant"}`` and friends), so adapters are exercised for real."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Platform, SandboxAccount, SandboxCredential, SandboxPost
from accounts.providers.base import pkce_challenge

ACCESS_TOKEN_TTL = timedelta(hours=1)
CODE_TTL = timedelta(minutes=5)
DEFAULT_HANDLE = "sandbox_creator"
SCOPES = ["profile:read", "posts:write", "offline_access"]


class SandboxOAuthError(Exception):
    """An OAuth error answer: ``{"error": code, "error_description": ...}`` with a status."""

    def __init__(self, code: str, description: str, status: int = 400):
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


@dataclass(frozen=True)
class SandboxTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _default_followers(platform: str, handle: str) -> int:
    return 100 + int(_hash(f"{platform}:{handle}")[:6], 16) % 50_000


def sandbox_account_get_or_create(
    *, platform: str, handle: str, followers: int | None
) -> SandboxAccount:
    account, created = SandboxAccount.objects.get_or_create(
        platform=platform,
        handle=handle,
        defaults={
            "upstream_id": uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{platform}:{handle}").hex,
            "follower_count": followers
            if followers is not None
            else _default_followers(platform, handle),
        },
    )
    if not created and followers is not None and account.follower_count != followers:
        account.follower_count = followers
        account.save(update_fields=["follower_count"])
    return account


def _issue(account: SandboxAccount, kind: str, **fields) -> str:
    value = f"sbx_{kind[:3]}_{secrets.token_urlsafe(32)}"
    SandboxCredential.objects.create(account=account, kind=kind, value_hash=_hash(value), **fields)
    return value


def _issue_tokens(account: SandboxAccount, scopes: list[str]) -> SandboxTokens:
    now = timezone.now()
    access = _issue(
        account, SandboxCredential.Kind.ACCESS, scopes=scopes, expires_at=now + ACCESS_TOKEN_TTL
    )
    refresh = _issue(account, SandboxCredential.Kind.REFRESH, scopes=scopes)
    return SandboxTokens(access, refresh, int(ACCESS_TOKEN_TTL.total_seconds()), " ".join(scopes))


def sandbox_authorize(
    *,
    platform: str,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    code_challenge_method: str,
    response_type: str,
    scope: str,
    handle: str | None,
    followers: str | None,
) -> str:
    """Approve at once; the URL to send the browser back to, with ``code`` and ``state``."""
    if response_type != "code":
        raise SandboxOAuthError("unsupported_response_type", "response_type must be code")
    if platform not in Platform.values:
        raise SandboxOAuthError("invalid_request", "unknown platform")
    parts = urlsplit(redirect_uri or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SandboxOAuthError("invalid_request", "redirect_uri must be an absolute http(s) URL")
    if code_challenge_method != "S256" or not (43 <= len(code_challenge or "") <= 128):
        raise SandboxOAuthError("invalid_request", "PKCE with S256 is required")
    handle = (handle or DEFAULT_HANDLE).strip()[:100] or DEFAULT_HANDLE
    follower_count = None
    if followers not in (None, ""):
        try:
            follower_count = int(followers)
        except ValueError:
            raise SandboxOAuthError(
                "invalid_request", "sandbox_followers must be an integer"
            ) from None
        if not 0 <= follower_count <= 10**12:
            raise SandboxOAuthError("invalid_request", "sandbox_followers out of range")
    account = sandbox_account_get_or_create(
        platform=platform, handle=handle, followers=follower_count
    )
    scopes = [s for s in (scope or "").split() if s in SCOPES] or SCOPES
    code = _issue(
        account,
        SandboxCredential.Kind.CODE,
        scopes=scopes,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge,
        expires_at=timezone.now() + CODE_TTL,
    )
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("code", code), ("state", state)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _credential(value: str, kind: str, *, lock: bool = False) -> SandboxCredential | None:
    if not value:
        return None
    queryset = SandboxCredential.objects.select_related("account")
    if lock:
        queryset = queryset.select_for_update()
    return queryset.filter(value_hash=_hash(value), kind=kind).first()


def sandbox_exchange_code(*, code: str, redirect_uri: str, code_verifier: str) -> SandboxTokens:
    """A code is burned by its first use, whether that use succeeds or not (RFC 6749 §4.1.2)."""
    with transaction.atomic():
        grant = _credential(code, SandboxCredential.Kind.CODE, lock=True)
        now = timezone.now()
        if grant is None or grant.used_at or grant.revoked_at or grant.expires_at <= now:
            raise SandboxOAuthError("invalid_grant", "authorization code is invalid or used")
        grant.used_at = now
        grant.save(update_fields=["used_at"])
    if grant.redirect_uri != redirect_uri:
        raise SandboxOAuthError("invalid_grant", "redirect_uri does not match")
    if not code_verifier or pkce_challenge(code_verifier) != grant.code_challenge:
        raise SandboxOAuthError("invalid_grant", "PKCE verification failed")
    return _issue_tokens(grant.account, grant.scopes)


def sandbox_refresh(*, refresh_token: str) -> SandboxTokens:
    """A new access token; like several real platforms, no new refresh token is returned."""
    grant = _credential(refresh_token, SandboxCredential.Kind.REFRESH)
    if grant is None or grant.revoked_at:
        raise SandboxOAuthError("invalid_grant", "refresh token is invalid or revoked")
    access = _issue(
        grant.account,
        SandboxCredential.Kind.ACCESS,
        scopes=grant.scopes,
        expires_at=timezone.now() + ACCESS_TOKEN_TTL,
    )
    return SandboxTokens(access, "", int(ACCESS_TOKEN_TTL.total_seconds()), " ".join(grant.scopes))


def sandbox_account_for_access_token(access_token: str) -> SandboxAccount:
    grant = _credential(access_token, SandboxCredential.Kind.ACCESS)
    if grant is None or grant.revoked_at or grant.expires_at <= timezone.now():
        raise SandboxOAuthError("invalid_token", "access token is invalid, expired or revoked", 401)
    return grant.account


def sandbox_profile(*, access_token: str) -> dict:
    account = sandbox_account_for_access_token(access_token)
    return {
        "id": account.upstream_id,
        "username": account.handle,
        "name": account.handle.replace("_", " ").title(),
        "avatar_url": f"https://avatars.sandbox.invalid/{account.upstream_id}.png",
        "account_type": "creator",
        "followers_count": account.follower_count,
        "following_count": account.follower_count // 10,
        "posts_count": account.posts.count(),
    }


def sandbox_publish(
    *, access_token: str, text: str, media_urls: list[str], idempotency_key: str | None = None
) -> dict:
    """A new post; with ``idempotency_key``, the account's post made under that key if
    there is one (``replayed`` tells which)."""
    account = sandbox_account_for_access_token(access_token)
    if idempotency_key:
        earlier = SandboxPost.objects.filter(account=account, idempotency_key=idempotency_key)
        existing = earlier.first()
        if existing is not None:
            return {"id": existing.upstream_id, "replayed": True}
    try:
        with transaction.atomic():
            post = SandboxPost.objects.create(
                account=account,
                upstream_id=uuid.uuid4().hex,
                text=text,
                media_urls=media_urls,
                idempotency_key=idempotency_key or None,
            )
    except IntegrityError:
        # The same key won a race a moment ago: answer with its post.
        existing = earlier.first() if idempotency_key else None
        if existing is None:
            raise
        return {"id": existing.upstream_id, "replayed": True}
    return {"id": post.upstream_id, "replayed": False}


def sandbox_revoke(*, token: str) -> None:
    """RFC 7009: revoking an unknown token is not an error. Revoking a refresh token also
    revokes the access tokens issued with it (same account)."""
    grant = SandboxCredential.objects.filter(value_hash=_hash(token or "")).first()
    if grant is None or grant.revoked_at:
        return
    now = timezone.now()
    if grant.kind == SandboxCredential.Kind.REFRESH:
        SandboxCredential.objects.filter(
            account_id=grant.account_id, revoked_at__isnull=True
        ).exclude(kind=SandboxCredential.Kind.CODE).update(revoked_at=now)
    else:
        SandboxCredential.objects.filter(pk=grant.pk).update(revoked_at=now)


def sandbox_grant_issue(
    *, platform: str, handle: str, followers: int | None = None
) -> SandboxTokens:
    """Tokens for a sandbox account without the browser step (demo data, tests)."""
    account = sandbox_account_get_or_create(platform=platform, handle=handle, followers=followers)
    return _issue_tokens(account, SCOPES)
