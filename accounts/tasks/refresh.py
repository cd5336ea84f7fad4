"""Keeping access tokens fresh."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from accounts.services.refresh import social_account_token_refresh, social_accounts_refresh_due

logger = logging.getLogger("socialhub.social")


# max_retries=None: the attempts are counted against the setting below, read at run time.
@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def social_account_token_refresh_task(self, social_account_id: str) -> str:
    """Refresh one account's token. A re-run is safe: the service's claim lets only one
    attempt per account reach the platform at a time. Transient failures are retried by
    countdown, up to ``TOKEN_REFRESH_MAX_ATTEMPTS`` attempts in all."""
    attempt = self.request.retries + 1
    outcome = social_account_token_refresh(social_account_id=social_account_id, attempt=attempt)
    if outcome.status == "retry" and not self.request.is_eager:
        if attempt < settings.TOKEN_REFRESH_MAX_ATTEMPTS:
            raise self.retry(countdown=outcome.retry_in)
        logger.warning(
            "Token refresh of %s: still failing after %s attempts; the periodic run will try again",
            social_account_id,
            attempt,
        )
    return outcome.status


@shared_task(ignore_result=True)
def social_accounts_refresh_due_task() -> int:
    """Periodic: enqueue a refresh for every account whose token expires soon."""
    due = social_accounts_refresh_due()
    for social_account_id in due:
        social_account_token_refresh_task.delay(str(social_account_id))
    return len(due)
