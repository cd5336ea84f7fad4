"""The correlation id of the request being served, for responses, errors and logs."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)
# fullmatch, not match with "$": "$" also matches before a trailing newline.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def correlation_id_from_headers(meta: dict) -> str:
    """Take the caller's X-Correlation-ID / X-Request-ID when it is sane, else make one."""
    for header in ("HTTP_X_CORRELATION_ID", "HTTP_X_REQUEST_ID"):
        value = meta.get(header, "")
        if isinstance(value, str) and _SANE.fullmatch(value):
            return value
    return str(uuid.uuid4())


def set_correlation_id(value: str | None) -> None:
    _current.set(value)


def get_correlation_id() -> str | None:
    return _current.get()


class CorrelationIdLogFilter(logging.Filter):
    """Adds ``correlation_id`` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _current.get() or "-"
        return True
