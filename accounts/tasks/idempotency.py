"""Housekeeping of stored Idempotency-Key answers."""

from __future__ import annotations

from celery import shared_task

from socialhub.api.idempotency import idempotency_records_purge


@shared_task(ignore_result=True)
def idempotency_records_purge_task() -> int:
    """Periodic: forget stored Idempotency-Key answers older than 24 h."""
    return idempotency_records_purge()
