"""The Celery app: configuration from Django settings (``CELERY_*``), tasks from each app."""

from __future__ import annotations

import logging
import os

from celery import Celery
from django.db import transaction
from kombu.exceptions import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialhub.settings")

app = Celery("socialhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("socialhub.tasks")


def enqueue_on_commit(task, *args) -> None:
    """Send ``task`` once the current transaction commits, for work a periodic run finds
    again from its row (an outbox row, a due delivery, a claimed target's lease).

    A broker that cannot take the message is logged, not raised: the change is committed
    by then, so failing the caller would report a done change as failed (and skip the
    callbacks after this one), while the row is what makes sure the work still happens.
    """

    def send() -> None:
        try:
            task.delay(*args)
        except OperationalError:
            logger.warning(
                "Broker unavailable: %s%r not enqueued; its periodic run will pick it up",
                task.name,
                args,
                exc_info=True,
            )

    transaction.on_commit(send)
