"""The append-only audit trail."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .base import PublicIdModel


class AuditEvent(PublicIdModel):
    """Who did what to which ids. Ids are stored as public-id strings so the trail outlives
    the rows it talks about; rows are never updated or deleted by the application."""

    ID_PREFIX = "evt"

    class ActorType(models.TextChoices):
        USER = "user"
        API_KEY = "api_key"
        SYSTEM = "system"

    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=64)
    workspace_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    subject_ids = models.JSONField(default=list)
    data = models.JSONField(default=dict)
    correlation_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RuntimeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("audit events are append-only")

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_type}:{self.actor_id}"
