"""Celery tasks of the accounts app, one module per concern. Each task only calls a service.

Celery's autodiscovery imports this package, so every task module is imported here, except
``offboarding``: its tasks call the disconnect service, which itself imports this package (for
the revocation task), so the worker loads that module through ``CELERY_IMPORTS``.
"""

from .idempotency import idempotency_records_purge_task
from .metrics import social_account_metrics_sync_task, social_accounts_metrics_sync_due_task
from .refresh import social_account_token_refresh_task, social_accounts_refresh_due_task
from .revocation import token_revocation_process_task, token_revocations_sweep_task
from .webhooks import webhook_deliveries_sweep_task, webhook_delivery_attempt_task

__all__ = [
    "idempotency_records_purge_task",
    "social_account_metrics_sync_task",
    "social_account_token_refresh_task",
    "social_accounts_metrics_sync_due_task",
    "social_accounts_refresh_due_task",
    "token_revocation_process_task",
    "token_revocations_sweep_task",
    "webhook_deliveries_sweep_task",
    "webhook_delivery_attempt_task",
]
