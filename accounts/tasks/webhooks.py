"""Sending webhook deliveries."""

from __future__ import annotations

from celery import shared_task

from accounts.services.webhook_delivery import (
    webhook_deliveries_due,
    webhook_deliveries_purge,
    webhook_delivery_attempt,
)


@shared_task(bind=True, acks_late=True, max_retries=12, ignore_result=True)
def webhook_delivery_attempt_task(self, delivery_id: str) -> str:
    """Send one delivery. Idempotent: a re-run after it was delivered or given up, or while
    another worker holds its lease, sends nothing. Retries run on a countdown; once those
    run out the periodic sweep still finds the delivery when it is due."""
    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.status == "retry" and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def webhook_deliveries_sweep_task() -> int:
    """Periodic: enqueue pending deliveries that are due (retries, and tasks that were lost)."""
    due = webhook_deliveries_due()
    for delivery_id in due:
        webhook_delivery_attempt_task.delay(str(delivery_id))
    return len(due)


@shared_task(ignore_result=True)
def webhook_deliveries_purge_task() -> int:
    """Periodic: forget finished deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS."""
    return webhook_deliveries_purge()
