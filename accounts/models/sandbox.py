"""State of the built-in sandbox platform: its accounts, grants and tokens."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .social import Platform


class SandboxAccount(models.Model):
    """An upstream account on the sandbox platform, identified by (platform, handle)."""

    platform = models.CharField(max_length=32, choices=Platform.choices)
    handle = models.CharField(max_length=100)
    upstream_id = models.CharField(max_length=64, unique=True)
    follower_count = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "handle"], name="sandbox_account_handle")
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.handle}"


class SandboxCredential(models.Model):
    """An authorization code, access token or refresh token the sandbox issued (hashed)."""

    class Kind(models.TextChoices):
        CODE = "code"
        ACCESS = "access"
        REFRESH = "refresh"

    account = models.ForeignKey(
        SandboxAccount, on_delete=models.CASCADE, related_name="credentials"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    redirect_uri = models.CharField(max_length=2000, blank=True, default="")
    code_challenge = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class SandboxPost(models.Model):
    """A post published to the sandbox platform."""

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="posts")
    upstream_id = models.CharField(max_length=64, unique=True)
    text = models.TextField(blank=True, default="")
    media_urls = models.JSONField(default=list)
    # A client's Idempotency-Key: the same key from the same account gets the same post back.
    idempotency_key = models.CharField(max_length=191, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"], name="sandbox_post_idempotency"
            )
        ]
