"""``Idempotency-Key`` for mutating endpoints.

The first successful answer to (caller, key) is stored in the same transaction as the work,
so either both are committed or neither is. A repeat with the same method, path and body
within 24 h replays that answer with ``Idempotent-Replayed: true``; a different request
under the same key, or a repeat while the first is still running, gets 409
``IDEMPOTENCY_CONFLICT``. "Still running" is seen through a lock in the shared cache; if
the cache is down the unique (caller, key) row still guarantees that the work runs once
(the repeat waits for the first and then replays it).

The one exception is work that calls a platform (completing an OAuth connect): no
transaction is held open across that call, so its answer is stored right after the work
commits (``atomic=False``).

Errors are not stored: a failed request may be retried with the same key. A client error
(4xx) keeps whatever the service itself committed, exactly as without a key; an unexpected
failure rolls everything back.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from datetime import timedelta

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from accounts.models import IdempotencyRecord

from .errors import ApplicationError, ErrorCode, validation_error

logger = logging.getLogger("socialhub.api")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
TTL = timedelta(hours=24)
# Longer than any request may run (the WSGI server's timeout); the lock is released at the
# end of the request anyway.
LOCK_SECONDS = 120
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, at most 255 characters


def _checked_key(raw: str) -> str:
    if not _VALID_KEY.fullmatch(raw):
        raise validation_error(
            HEADER,
            "Idempotency-Key must be 1 to 255 visible ASCII characters.",
            i18n_key="common.idempotency_key_invalid",
        )
    return raw


def _caller_of(request) -> str:
    api_key = getattr(request.user, "api_key", None)
    return api_key.public_id if api_key is not None else request.user.public_id


def _fingerprint(request) -> str:
    """Method, path, query (order-insensitive) and body (key-order-insensitive)."""
    query = sorted((name, sorted(values)) for name, values in request.query_params.lists())
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    material = json.dumps([request.method, request.path, query, body])
    return hashlib.sha256(material.encode()).hexdigest()


def _conflict(message: str) -> ApplicationError:
    return ApplicationError(ErrorCode.IDEMPOTENCY_CONFLICT, message)


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise _conflict(
            "This Idempotency-Key was already used for a different request; use a new key."
        )
    return Response(
        json.loads(record.response_body),
        status=record.response_status,
        headers={REPLAYED_HEADER: "true"},
    )


class _InFlightLock:
    """``cache.add`` is atomic on Redis: only one request holds (caller, key) at a time."""

    def __init__(self, caller: str, key: str) -> None:
        digest = hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()
        self.name = f"idempotency:{digest}"
        self.held = False

    def acquire(self) -> None:
        try:
            self.held = cache.add(self.name, "1", LOCK_SECONDS)
        except Exception:
            logger.warning("Idempotency lock unavailable; relying on the database", exc_info=True)
            return
        if not self.held:
            raise _conflict("A request with this Idempotency-Key is still in flight; retry later.")

    def release(self) -> None:
        if not self.held:
            return
        try:
            cache.delete(self.name)
        except Exception:
            logger.warning("Could not release idempotency lock %s", self.name, exc_info=True)


def _succeeded(response) -> bool:
    return 200 <= response.status_code < 300


def _store(record: IdempotencyRecord, response) -> None:
    record.response_status = response.status_code
    record.response_body = json.dumps(response.data, cls=DjangoJSONEncoder)


def _run_in_the_same_transaction(*, caller, key, fingerprint, run, expired, now) -> Response:
    """Claim (caller, key), do the work and store its answer in one transaction."""
    client_error = None
    with transaction.atomic():
        if expired is not None:
            IdempotencyRecord.objects.filter(pk=expired.pk).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    caller=caller, key=key, fingerprint=fingerprint, expires_at=now + TTL
                )
        except IntegrityError:
            # The same key committed while this request waited on its row.
            winner = IdempotencyRecord.objects.filter(caller=caller, key=key).first()
            if winner is None:  # pragma: no cover - it was just committed
                raise _conflict("Retry this request.") from None
            return _replay(winner, fingerprint)
        try:
            response = run()
        except (ApplicationError, APIException) as exc:
            record.delete()
            client_error = exc
        else:
            if _succeeded(response):
                _store(record, response)
                record.save(update_fields=["response_status", "response_body"])
            else:
                record.delete()
    if client_error is not None:
        raise client_error
    return response


def _run_then_store(*, caller, key, fingerprint, run, expired, now) -> Response:
    """Do the work (which commits on its own), then store its answer.

    For work that calls a platform: a transaction held open across that call would hold
    its locks for as long as the platform takes (and on SQLite the one write lock, which
    the in-process sandbox platform needs to answer). The in-flight lock still keeps a
    repeat out while it runs.
    """
    response = run()
    if _succeeded(response):
        with transaction.atomic():
            if expired is not None:
                IdempotencyRecord.objects.filter(pk=expired.pk).delete()
            record = IdempotencyRecord(
                caller=caller, key=key, fingerprint=fingerprint, expires_at=now + TTL
            )
            _store(record, response)
            try:
                with transaction.atomic():
                    record.save(force_insert=True)
            except IntegrityError:
                # A twin ran too while the cache (and so the lock) was down; theirs stands.
                logger.warning("Idempotency-Key answered twice for %s", caller)
    return response


def _run_once(*, caller: str, key: str, fingerprint: str, run, atomic: bool) -> Response:
    existing = IdempotencyRecord.objects.filter(caller=caller, key=key).first()
    now = timezone.now()
    if existing is not None and existing.expires_at > now:
        return _replay(existing, fingerprint)

    lock = _InFlightLock(caller, key)
    lock.acquire()
    strategy = _run_in_the_same_transaction if atomic else _run_then_store
    try:
        return strategy(
            caller=caller, key=key, fingerprint=fingerprint, run=run, expired=existing, now=now
        )
    finally:
        lock.release()


def idempotent(handler=None, *, atomic: bool = True):
    """Decorates a mutating view method so it honours ``Idempotency-Key``.

    ``atomic=False`` for work that calls a platform: its answer is stored after the work
    commits instead of in the same transaction (see ``_run_then_store``).
    """
    if handler is None:
        return functools.partial(idempotent, atomic=atomic)

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        raw = request.headers.get(HEADER)
        if raw is None:
            return handler(view, request, *args, **kwargs)
        key = _checked_key(raw)
        return _run_once(
            caller=_caller_of(request),
            key=key,
            fingerprint=_fingerprint(request),
            run=lambda: handler(view, request, *args, **kwargs),
            atomic=atomic,
        )

    wrapper.idempotent = True
    return wrapper


def idempotency_records_purge(*, batch: int = 5000) -> int:
    """Delete stored answers past their 24 h, a batch at a time; returns how many went."""
    expired = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).order_by("pk")
    ids = list(expired.values_list("pk", flat=True)[:batch])
    if not ids:
        return 0
    deleted, _ = IdempotencyRecord.objects.filter(pk__in=ids).delete()
    return deleted
