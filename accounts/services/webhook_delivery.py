"""Sending webhook deliveries: claim, sign, POST, record, retry with backoff, disable.

A due delivery is claimed with a short lease in a short transaction (``SKIP LOCKED``, and
``next_attempt_at`` pushed past the lease, so a redelivered task finds nothing to do while
another worker holds it), POSTed outside any transaction, and the answer recorded:
2xx is delivered; anything else is retried with exponential backoff until the attempts
run out, when the delivery fails. An endpoint whose deliveries fail
``WEBHOOK_DISABLE_AFTER_FAILURES`` times in a row is disabled, and what it still had
pending is given up.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.crypto import TokenDecryptionError
from accounts.models import WebhookDelivery, WebhookEndpoint, Workspace
from socialhub.api.ids import format_public_id
from socialhub.backoff import MAX_RETRY_DELAY_SECONDS, retry_delay_seconds

from .actors import Actor
from .audit import audit_event_record
from .webhook_urls import UnsafeWebhookUrl, webhook_http_session, webhook_url_check

logger = logging.getLogger("socialhub.webhooks")

USER_AGENT = "socialhub-webhooks/1.0"

SYSTEM_ACTOR = Actor.system("webhook_delivery")
Status = WebhookDelivery.Status


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str  # delivered | retry | failed | not_due
    retry_in: int | None = None


@dataclass(frozen=True)
class _Claim:
    delivery: WebhookDelivery
    url: str
    secret: str


def webhook_signature(*, secret: str, timestamp: int, body: str) -> str:
    """The ``X-Socialhub-Signature`` value: HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"v1={digest}"


def _claim_lease() -> timedelta:
    """Longer than any attempt can take (connect and read timeouts, name resolution)."""
    return timedelta(seconds=max(120.0, 4 * settings.WEBHOOK_TIMEOUT))


def _give_up(deliveries, *, error: str) -> int:
    """Mark what is still pending of ``deliveries`` (a queryset) as failed, unsent."""
    return deliveries.filter(status=Status.PENDING).update(
        status=Status.FAILED, last_error=error[:500]
    )


def _claim(delivery_id: uuid.UUID) -> _Claim | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .defer("endpoint__secret")
            .filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        endpoint = delivery.endpoint
        if not endpoint.active:
            _give_up(
                WebhookDelivery.objects.filter(pk=delivery.pk),
                error="Not sent: the webhook is disabled.",
            )
            return None
        try:
            secret = (
                WebhookEndpoint.objects.filter(pk=endpoint.pk)
                .values_list("secret", flat=True)
                .first()
            )
        except TokenDecryptionError:
            logger.error("Webhook %s: its signing secret does not decrypt", endpoint.public_id)
            _give_up(
                WebhookDelivery.objects.filter(pk=delivery.pk),
                error="Not sent: the signing secret cannot be read.",
            )
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + _claim_lease()
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    return _Claim(delivery=delivery, url=endpoint.url, secret=secret)


@dataclass(frozen=True)
class _Answer:
    http_status: int | None = None
    error: str = ""
    retry_after: int | None = None
    refused: bool = False  # the destination is not allowed: no use retrying


def _retry_after(response: requests.Response) -> int | None:
    if response.status_code not in (429, 503):
        return None
    raw = response.headers.get("Retry-After", "")
    return min(int(raw), MAX_RETRY_DELAY_SECONDS) if raw.isdigit() else None


def _post(claim: _Claim) -> _Answer:
    """One POST; no transaction is open. Redirects are not followed."""
    delivery = claim.delivery
    try:
        webhook_url_check(claim.url)
    except UnsafeWebhookUrl as exc:
        return _Answer(error=f"Not sent: {exc}", refused=True)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Socialhub-Event": delivery.event,
        "X-Socialhub-Delivery": delivery.public_id,
        "X-Socialhub-Timestamp": str(timestamp),
        "X-Socialhub-Signature": webhook_signature(
            secret=claim.secret, timestamp=timestamp, body=delivery.body
        ),
    }
    try:
        with webhook_http_session() as session:
            response = session.post(
                claim.url,
                data=delivery.body.encode(),
                headers=headers,
                timeout=settings.WEBHOOK_TIMEOUT,
                allow_redirects=False,
                stream=True,  # the answer's body is never read
            )
            response.close()
    except UnsafeWebhookUrl as exc:
        return _Answer(error=f"Not sent: {exc}", refused=True)
    except requests.Timeout:
        return _Answer(error=f"No answer within {settings.WEBHOOK_TIMEOUT:g} s.")
    except requests.RequestException as exc:
        return _Answer(error=f"Could not connect: {exc}")
    status = response.status_code
    if 200 <= status < 300:
        return _Answer(http_status=status)
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed; register the final URL."
    else:
        error = f"HTTP {status}."
    return _Answer(http_status=status, error=error, retry_after=_retry_after(response))


def _disable(endpoint: WebhookEndpoint, now) -> None:
    endpoint.active = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = (
        f"Disabled after {endpoint.consecutive_failures} deliveries in a row failed."
    )
    _give_up(
        WebhookDelivery.objects.filter(endpoint=endpoint),
        error="Not sent: the webhook was disabled.",
    )
    audit_event_record(
        actor=SYSTEM_ACTOR,
        action="webhook.disabled",
        workspace_id=format_public_id(Workspace.ID_PREFIX, endpoint.workspace_id),
        subject_ids=[endpoint.public_id],
        data={"url": endpoint.url, "consecutiveFailures": endpoint.consecutive_failures},
    )
    logger.warning("Webhook %s disabled: %s", endpoint.public_id, endpoint.disabled_reason)


def _record(claim: _Claim, answer: _Answer) -> DeliveryOutcome:
    """Store the answer, fenced on the attempt count: if the lease ran out and another
    worker claimed the delivery since, that worker's record stands."""
    delivery = claim.delivery
    now = timezone.now()
    mine = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=Status.PENDING, attempts=delivery.attempts
    )
    if answer.http_status is not None and 200 <= answer.http_status < 300:
        with transaction.atomic():
            if mine.update(
                status=Status.DELIVERED,
                delivered_at=now,
                last_http_status=answer.http_status,
                last_error="",
            ):
                WebhookEndpoint.objects.filter(
                    pk=delivery.endpoint_id, consecutive_failures__gt=0
                ).update(consecutive_failures=0)
        return DeliveryOutcome("delivered")

    if not answer.refused and delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        delay = retry_delay_seconds(delivery.attempts, retry_after=answer.retry_after)
        mine.update(
            last_http_status=answer.http_status,
            last_error=answer.error[:500],
            next_attempt_at=now + timedelta(seconds=delay),
        )
        return DeliveryOutcome("retry", retry_in=delay)

    with transaction.atomic():
        if not mine.update(
            status=Status.FAILED, last_http_status=answer.http_status, last_error=answer.error[:500]
        ):
            return DeliveryOutcome("not_due")
        endpoint = (
            WebhookEndpoint.objects.select_for_update()
            .defer("secret")
            .filter(pk=delivery.endpoint_id)
            .first()
        )
        if endpoint is not None:
            endpoint.consecutive_failures += 1
            if (
                endpoint.active
                and endpoint.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES
            ):
                _disable(endpoint, now)
            endpoint.save(
                update_fields=[
                    "consecutive_failures",
                    "active",
                    "disabled_at",
                    "disabled_reason",
                    "updated_at",
                ]
            )
    logger.info(
        "Webhook delivery %s failed after %s attempts: %s",
        delivery.public_id,
        delivery.attempts,
        answer.error,
    )
    return DeliveryOutcome("failed")


def webhook_delivery_attempt(*, delivery_id: uuid.UUID | str) -> DeliveryOutcome:
    """Send the delivery if it is due and nobody else is sending it."""
    claim = _claim(uuid.UUID(str(delivery_id)))
    if claim is None:
        return DeliveryOutcome("not_due")
    return _record(claim, _post(claim))


def webhook_deliveries_due(*, limit: int = 500) -> list[uuid.UUID]:
    """Pending deliveries whose time has come (a retry, or a task that was lost)."""
    return list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def webhook_deliveries_purge(*, older_than: timedelta | None = None) -> int:
    """Forget finished deliveries (delivered or failed) older than the retention period;
    pending ones are kept whatever their age. Returns how many were deleted."""
    if older_than is None:
        older_than = settings.WEBHOOK_DELIVERY_RETENTION
    cutoff = timezone.now() - older_than
    deleted, _ = (
        WebhookDelivery.objects.exclude(status=Status.PENDING)
        .filter(created_at__lt=cutoff)
        .delete()
    )
    return deleted
