"""Connected social accounts and the platform data cached for them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from socialhub.api.ids import format_public_id

from ..fields import EncryptedTextField
from .base import PublicIdModel
from .users import Workspace


class Platform(models.TextChoices):
    INSTAGRAM = "instagram", "Instagram"
    FACEBOOK_PAGE = "facebook_page", "Facebook Page"
    X = "x", "X"
    LINKEDIN_PERSON = "linkedin_person", "LinkedIn (person)"
    LINKEDIN_COMPANY = "linkedin_company", "LinkedIn (company)"
    TIKTOK_BUSINESS = "tiktok_business", "TikTok (business)"
    TIKTOK_PERSONAL = "tiktok_personal", "TikTok (personal)"
    YOUTUBE = "youtube", "YouTube"
    PINTEREST = "pinterest", "Pinterest"
    THREADS = "threads", "Threads"
    BLUESKY = "bluesky", "Bluesky"


class SocialAccount(PublicIdModel):
    """An account on a platform, connected through OAuth. Deleting it is the disconnect."""

    ID_PREFIX = "sa"

    class Status(models.TextChoices):
        ACTIVE = "active"
        TOKEN_EXPIRED = "token_expired"
        REVOKED = "revoked"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="social_accounts"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="social_accounts"
    )
    platform = models.CharField(max_length=32, choices=Platform.choices)
    platform_user_id = models.CharField(max_length=191)
    platform_username = models.CharField(max_length=191, null=True, blank=True)
    display_name = models.CharField(max_length=191, null=True, blank=True)
    avatar_url = models.URLField(max_length=1000, null=True, blank=True)
    account_type = models.CharField(max_length=32, blank=True, default="")
    verified = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=255, blank=True, default="")
    scopes = models.JSONField(default=list, blank=True)
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    token_expires_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_refresh_attempt_at = models.DateTimeField(null=True, blank=True)
    last_refresh_error = models.CharField(max_length=500, blank=True, default="")
    last_refresh_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "platform"], name="social_account_user_platform"
            ),
            models.UniqueConstraint(
                fields=["workspace", "platform", "platform_user_id"],
                name="social_account_workspace_upstream",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "connected_at"], name="social_account_user_conn"),
            models.Index(fields=["workspace", "platform"], name="social_account_ws_platform"),
            models.Index(fields=["platform", "platform_user_id"], name="social_account_upstream"),
            models.Index(fields=["status", "token_expires_at"], name="social_account_refresh"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.platform_username or self.platform_user_id}"


class SocialMetrics(models.Model):
    """Latest counters for an account; saving or deleting one recomputes total_followers."""

    social_account = models.OneToOneField(
        SocialAccount, on_delete=models.CASCADE, related_name="metrics"
    )
    follower_count = models.BigIntegerField(default=0)
    following_count = models.BigIntegerField(default=0)
    post_count = models.BigIntegerField(default=0)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "social metrics"

    def __str__(self) -> str:
        return f"Metrics of {format_public_id(SocialAccount.ID_PREFIX, self.social_account_id)}"


class MetricsSnapshot(models.Model):
    """Daily history of an account's counters. No signal receivers: keeps the cascade fast."""

    social_account = models.ForeignKey(
        SocialAccount,
        on_delete=models.CASCADE,
        related_name="metrics_snapshots",
        db_index=False,  # covered by the (social_account, day) unique index
    )
    day = models.DateField()
    follower_count = models.BigIntegerField(default=0)
    following_count = models.BigIntegerField(default=0)
    post_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["social_account", "day"], name="metrics_snapshot_day")
        ]

    def __str__(self) -> str:
        account = format_public_id(SocialAccount.ID_PREFIX, self.social_account_id)
        return f"Snapshot of {account} on {self.day}"


class InboxItem(models.Model):
    """A cached comment from the platform; platform rules require purging it on disconnect."""

    social_account = models.ForeignKey(
        SocialAccount,
        on_delete=models.CASCADE,
        related_name="inbox_items",
        db_index=False,  # covered by the (social_account, received_at) index
    )
    platform_item_id = models.CharField(max_length=191)
    author_handle = models.CharField(max_length=191, blank=True, default="")
    text = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["social_account", "received_at"], name="inbox_item_account")
        ]

    def __str__(self) -> str:
        return f"Inbox item {self.platform_item_id}"


class Lease(models.Model):
    """An optional billing lease on an account; outlives the account until released."""

    social_account = models.ForeignKey(
        SocialAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="leases"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="leases")
    account_public_id = models.CharField(max_length=64, db_index=True)
    price_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    started_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Lease on {self.account_public_id}"


class TokenRevocation(models.Model):
    """Tokens of a disconnected account still to be revoked at the platform (an outbox).

    Written in the disconnect's transaction so a crash between commit and enqueue loses
    nothing: a periodic sweep finds rows the on-commit task never finished. The row, and
    with it the last copy of the tokens, is deleted once the platform confirms or gives up.
    """

    platform = models.CharField(max_length=32, choices=Platform.choices)
    account_public_id = models.CharField(max_length=64)
    # The upstream account the tokens belong to ("" when unknown): while it is connected
    # here again, revoking could end that grant too (see token_revocation_process).
    platform_user_id = models.CharField(max_length=191, blank=True, db_default="")
    # The creator who had connected them (null when unknown): a connect of theirs to the
    # same platform still in flight holds the revoke back (see token_revocation_process).
    account_user_id = models.UUIDField(null=True, blank=True)
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
