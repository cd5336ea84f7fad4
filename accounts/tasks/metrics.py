"""Keeping accounts' profiles and counters in step with the platforms."""

from __future__ import annotations

from celery import shared_task

from accounts.services.metrics import social_account_metrics_sync, social_accounts_metrics_sync_due

METRICS_SYNC_MAX_ATTEMPTS = 3


# max_retries=None: the attempts are counted against METRICS_SYNC_MAX_ATTEMPTS below.
@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def social_account_metrics_sync_task(self, social_account_id: str) -> str:
    """Sync one account's profile and counters. A re-run is safe: it writes the same
    values again. After the last attempt the periodic run picks the account up again."""
    attempt = self.request.retries + 1
    outcome = social_account_metrics_sync(social_account_id=social_account_id, attempt=attempt)
    if (
        outcome.status == "retry"
        and not self.request.is_eager
        and attempt < METRICS_SYNC_MAX_ATTEMPTS
    ):
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def social_accounts_metrics_sync_due_task() -> int:
    """Periodic: enqueue a sync for every account whose counters are missing or stale."""
    due = social_accounts_metrics_sync_due()
    for social_account_id in due:
        social_account_metrics_sync_task.delay(str(social_account_id))
    return len(due)
