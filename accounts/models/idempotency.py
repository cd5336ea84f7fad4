"""Stored answers to mutating requests sent with an ``Idempotency-Key``."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ..fields import EncryptedTextField


class IdempotencyRecord(models.Model):
    """The first successful answer to (caller, key), replayed for 24 h.

    Written in the same transaction as the work it answers for: either both are committed
    or neither is. ``caller`` is the public id of the user or API key, so one caller can
    never read another's stored answer.
    """

    caller = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and body")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # JSON of the answer's payload, encrypted: it may carry a secret shown once (an API key).
    response_body = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["caller", "key"], name="idempotency_caller_key")
        ]

    def __str__(self) -> str:
        return f"{self.caller} {self.key}"
