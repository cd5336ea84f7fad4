"""Scheduled posts and their per-account targets."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import PublicIdModel, SocialAccount, Workspace


class ScheduledPost(PublicIdModel):
    """A post to publish at ``scheduled_at`` to one or more accounts; its status follows them."""

    ID_PREFIX = "sp"

    class Status(models.TextChoices):
        QUEUED = "queued"
        PUBLISHING = "publishing"
        PUBLISHED = "published"
        PARTIALLY_PUBLISHED = "partially_published"
        FAILED = "failed"
        CANCELED = "canceled"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="scheduled_posts"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="scheduled_posts",
    )
    text = models.TextField(blank=True, default="")
    media_urls = models.JSONField(default=list, blank=True)
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "scheduled_at"], name="scheduled_post_ws_time"),
            # The publisher's "what is due" scan looks at open posts only.
            models.Index(
                fields=["scheduled_at"],
                name="scheduled_post_open_due",
                condition=Q(status__in=["queued", "publishing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"


class PostTarget(PublicIdModel):
    """One post going to one account. Outlives the account (SET_NULL) so published history
    keeps the platform and handle captured when the target was created."""

    ID_PREFIX = "pt"

    class Status(models.TextChoices):
        QUEUED = "queued"
        PUBLISHING = "publishing"
        PUBLISHED = "published"
        FAILED = "failed"
        CANCELED = "canceled"

    post = models.ForeignKey(
        ScheduledPost,
        on_delete=models.CASCADE,
        related_name="targets",
        db_index=False,  # covered by the (post, status) index
    )
    social_account = models.ForeignKey(
        SocialAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="post_targets",
        db_index=False,  # covered by the (social_account, status) index
    )
    account_platform = models.CharField(max_length=32)
    account_handle = models.CharField(max_length=191, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    canceled_reason = models.CharField(max_length=64, blank=True, default="")
    platform_post_id = models.CharField(max_length=191, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    published_at = models.DateTimeField(null=True, blank=True)
    # Publishing: how many times the target was handed to a publisher, and until when the
    # current one holds it (past that, the publisher is presumed dead and it is reclaimed).
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One target per account per post (NULLs, i.e. disconnected accounts, repeat).
            models.UniqueConstraint(
                fields=["post", "social_account"], name="post_target_once_per_account"
            )
        ]
        indexes = [
            models.Index(fields=["social_account", "status"], name="post_target_account_status"),
            models.Index(fields=["post", "status"], name="post_target_post_status"),
            # Claims whose lease ran out.
            models.Index(
                fields=["claimed_until"],
                name="post_target_publishing_lease",
                condition=Q(status="publishing"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} → {self.account_platform} ({self.status})"
