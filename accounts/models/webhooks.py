"""Webhook endpoints a workspace registers, and the outbox of signed deliveries to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..fields import EncryptedTextField
from .base import PublicIdModel
from .users import Workspace


class WebhookEndpoint(PublicIdModel):
    """An HTTPS URL that receives the workspace's events, signed with its own secret.

    The secret is encrypted, not hashed: every delivery is signed with it. An endpoint
    whose deliveries keep failing is disabled (``active`` false) until someone enables it.
    """

    ID_PREFIX = "wh"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)
    secret = EncryptedTextField()
    description = models.CharField(max_length=255, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "created_at"], name="webhook_endpoint_ws"),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(PublicIdModel):
    """One event for one endpoint (an outbox row, written with the change it reports).

    ``body`` is the exact JSON sent, so every retry sends the same bytes; its id is the
    ``X-Socialhub-Delivery`` header receivers deduplicate on.
    """

    ID_PREFIX = "whd"

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,  # covered by the (endpoint, created_at) index
    )
    event = models.CharField(max_length=64)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id} ({self.status})"
