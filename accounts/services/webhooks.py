"""Webhooks: events a workspace subscribes to, delivered signed, after commit.

``webhook_event_emit`` is the outbox: called inside the transaction of the change it
reports, it writes one delivery row per subscribed endpoint, so the deliveries commit or
roll back with the change, and enqueues their sending after commit (see
``webhook_delivery``). Endpoints are registered, deleted and re-enabled here.
"""

from __future__ import annotations

import datetime
import json
import secrets
import uuid
from enum import StrEnum

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User, WebhookDelivery, WebhookEndpoint, Workspace
from accounts.selectors.webhooks import webhook_not_found
from socialhub.api.errors import ApplicationError, ErrorCode, validation_error
from socialhub.api.ids import format_public_id
from socialhub.celery import enqueue_on_commit

from .actors import Actor
from .audit import audit_event_record
from .webhook_urls import UnsafeWebhookUrl, webhook_url_check

# "whsec_" + 43 characters: 256 random bits.
SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS_PER_WORKSPACE = 20


class WebhookEvent(StrEnum):
    ACCOUNT_CONNECTED = "account.connected"
    ACCOUNT_DISCONNECTED = "account.disconnected"
    ACCOUNT_TOKEN_EXPIRED = "account.token_expired"
    POST_PUBLISHED = "post.published"
    POST_FAILED = "post.failed"


class WebhookJSONEncoder(DjangoJSONEncoder):
    """``DjangoJSONEncoder`` keeping a date-time's microseconds, as the API's answers do, so
    an instant reads the same in an event and in the API (``disconnectedAt``)."""

    def default(self, o):
        if isinstance(o, datetime.datetime):
            text = o.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return super().default(o)


def _subscribed_endpoint_ids(workspace_id: uuid.UUID, event: str) -> list[uuid.UUID]:
    """Active endpoints of the workspace that take ``event``, in one statement.

    On PostgreSQL the rows are key-share locked until commit: an endpoint being deleted
    meanwhile waits for this transaction (and then deletes the deliveries it wrote), instead
    of vanishing under them and failing the change being reported at commit. Key-share
    locks do not block each other nor updates of the endpoint's other columns.
    """
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(  # the table name comes from model metadata, values are parameters
            f"SELECT id, events FROM {WebhookEndpoint._meta.db_table} "  # noqa: S608
            f"WHERE workspace_id = %s AND active = %s ORDER BY id{lock}",
            [Workspace._meta.pk.get_db_prep_value(workspace_id, connection), True],
        )
        rows = cursor.fetchall()
    pk = WebhookEndpoint._meta.pk
    subscribed = []
    for endpoint_id, events in rows:
        if event in (json.loads(events) if isinstance(events, str) else events):
            subscribed.append(pk.to_python(endpoint_id))
    return subscribed


def webhook_event_emit(*, workspace_id: uuid.UUID, event: WebhookEvent | str, data: dict) -> int:
    """Queue ``event`` for every active endpoint of the workspace subscribed to it.

    Call it inside the transaction of the change it reports: the deliveries are written
    with the change and attempted after commit. ``data`` is JSON (camelCase keys; datetimes
    allowed). Returns how many deliveries were queued. Two statements at most: the
    endpoints, then one INSERT of the deliveries when there are any.
    """
    from accounts.tasks.webhooks import webhook_delivery_attempt_task  # imports this module

    event = WebhookEvent(event)
    endpoint_ids = _subscribed_endpoint_ids(workspace_id, event.value)
    if not endpoint_ids:
        return 0
    now = timezone.now()
    envelope = {
        "type": event.value,
        "createdAt": now,
        "workspaceId": format_public_id(Workspace.ID_PREFIX, workspace_id),
        "data": data,
    }
    deliveries = []
    for endpoint_id in endpoint_ids:
        delivery_id = uuid.uuid4()
        body = {"id": format_public_id(WebhookDelivery.ID_PREFIX, delivery_id), **envelope}
        deliveries.append(
            WebhookDelivery(
                id=delivery_id,
                endpoint_id=endpoint_id,
                event=event.value,
                body=json.dumps(body, cls=WebhookJSONEncoder, separators=(",", ":")),
                next_attempt_at=now,
                created_at=now,
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        enqueue_on_commit(webhook_delivery_attempt_task, str(delivery.pk))
    return len(deliveries)


def _checked_url(url: str) -> str:
    try:
        webhook_url_check(url)
    except UnsafeWebhookUrl as exc:
        raise validation_error("url", str(exc), i18n_key="webhook.url_invalid") from None
    return url


def webhook_endpoint_create(
    *,
    workspace: Workspace,
    url: str,
    events: list[str],
    description: str = "",
    created_by: User,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret, which the caller shows this once.

    The URL is checked (and, in production, its host resolved) before any transaction.
    """
    _checked_url(url)
    events = [WebhookEvent(event).value for event in events]
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        # Serialises creates in the workspace, so the cap holds under concurrency.
        Workspace.objects.select_for_update().filter(pk=workspace.pk).values("pk").first()
        if (
            WebhookEndpoint.objects.filter(workspace=workspace).count()
            >= MAX_ENDPOINTS_PER_WORKSPACE
        ):
            raise ApplicationError(
                ErrorCode.CONFLICT,
                f"A workspace can have at most {MAX_ENDPOINTS_PER_WORKSPACE} webhooks; "
                "delete one first.",
                i18n_key="webhook.limit_reached",
                i18n_vars={"limit": MAX_ENDPOINTS_PER_WORKSPACE},
            )
        endpoint = WebhookEndpoint.objects.create(
            workspace=workspace,
            url=url,
            events=events,
            secret=secret,
            description=description,
            created_by=created_by,
        )
        audit_event_record(
            actor=Actor.for_user(created_by),
            action="webhook.created",
            workspace_id=workspace.public_id,
            subject_ids=[endpoint.public_id],
            data={"url": url, "events": events},
        )
    return endpoint, secret


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    locked = (
        WebhookEndpoint.objects.select_for_update().defer("secret").filter(pk=endpoint.pk).first()
    )
    if locked is None:
        raise webhook_not_found()
    return locked


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: Actor) -> WebhookEndpoint:
    """Delete the endpoint and its deliveries; returns it as it was.

    The row lock first waits for transactions still writing deliveries to it (see
    ``_subscribed_endpoint_ids``), so the cascade sees and removes them too.
    """
    with transaction.atomic():
        locked = _locked(endpoint)
        endpoint_id = locked.pk
        locked.delete()
        locked.pk = endpoint_id  # Django clears it; the answer still names what went
        audit_event_record(
            actor=actor,
            action="webhook.deleted",
            workspace_id=format_public_id(Workspace.ID_PREFIX, locked.workspace_id),
            subject_ids=[locked.public_id],
            data={"url": locked.url},
        )
    return locked


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint, actor: Actor) -> WebhookEndpoint:
    """Turn a disabled endpoint back on with a clean failure count; an active one is
    answered unchanged."""
    with transaction.atomic():
        locked = _locked(endpoint)
        if not locked.active:
            locked.active = True
            locked.disabled_at = None
            locked.disabled_reason = ""
            locked.consecutive_failures = 0
            locked.save(
                update_fields=[
                    "active",
                    "disabled_at",
                    "disabled_reason",
                    "consecutive_failures",
                    "updated_at",
                ]
            )
            audit_event_record(
                actor=actor,
                action="webhook.enabled",
                workspace_id=format_public_id(Workspace.ID_PREFIX, locked.workspace_id),
                subject_ids=[locked.public_id],
                data={"url": locked.url},
            )
    return locked
