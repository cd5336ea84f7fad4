"""Revoking disconnected accounts' tokens at the platform."""

from __future__ import annotations

from celery import shared_task

from accounts.services.revocation import token_revocation_process, token_revocations_due


@shared_task(bind=True, acks_late=True, max_retries=10, ignore_result=True)
def token_revocation_process_task(self, revocation_id: int) -> str:
    """Revoke a disconnected account's tokens upstream. Idempotent: a re-run after the row
    is gone, or while another worker holds its lease, does nothing."""
    outcome = token_revocation_process(revocation_id=revocation_id)
    if self.request.is_eager:
        return outcome.status
    if outcome.status == "retry":
        raise self.retry(countdown=outcome.retry_in)
    if outcome.status == "postponed":
        # Waiting for a connect is not a failed attempt: a new run, not a retry.
        token_revocation_process_task.apply_async((revocation_id,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def token_revocations_sweep_task() -> int:
    """Periodic: re-enqueue revocations whose task was lost."""
    due = token_revocations_due()
    for revocation_id in due:
        token_revocation_process_task.delay(revocation_id)
    return len(due)
