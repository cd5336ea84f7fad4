"""Celery tasks of the accounts app, one module per concern. Each task only calls a service.

Celery's autodiscovery imports this package, so every task module is imported here.
"""

from .idempotency import idempotency_records_purge_task
from .revocation import token_revocation_process_task, token_revocations_sweep_task

__all__ = [
    "idempotency_records_purge_task",
    "token_revocation_process_task",
    "token_revocations_sweep_task",
]
