"""Cursor (keyset) pagination for list endpoints: ``?limit=`` and an opaque ``?cursor=``.

A page is read with ``LIMIT n+1`` after the position the cursor names, so a page costs one
query whatever the offset, and rows inserted meanwhile neither repeat nor vanish. The cursor
is the last row's (ordering value, id), encoded; clients pass it back untouched.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter

from .errors import validation_error
from .fields import parse_aware_datetime
from .validation import single_query_value

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# The two query parameters every paged list takes, for ``extend_schema(parameters=...)``.
PAGE_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        description=f"Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
    ),
    OpenApiParameter("cursor", str, description="The nextCursor of the previous page."),
]


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def query_limit(request, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = single_query_value(request, "limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise validation_error("limit", f"Must be a whole number from 1 to {maximum}.") from None
    if not 1 <= limit <= maximum:
        raise validation_error("limit", f"Must be a whole number from 1 to {maximum}.")
    return limit


def _encode(value: datetime, pk: uuid.UUID) -> str:
    raw = json.dumps([value.isoformat(), str(pk)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, pk = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        when = parse_aware_datetime(value)
        if when is None:
            raise ValueError(value)
        return when, uuid.UUID(pk)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise validation_error("cursor", "Not a cursor this endpoint gave out.") from None


def keyset_page(
    queryset: QuerySet,
    *,
    request,
    field: str,
    descending: bool = False,
    default_limit: int = DEFAULT_LIMIT,
    max_limit: int = MAX_LIMIT,
) -> Page:
    """One page of ``queryset`` ordered by (``field``, ``id``), a datetime field then the
    primary key, ascending or descending."""
    limit = query_limit(request, default=default_limit, maximum=max_limit)
    cursor = single_query_value(request, "cursor")
    if cursor:
        after_value, after_pk = _decode(cursor)
        if descending:
            position = Q(**{f"{field}__lt": after_value}) | Q(
                **{field: after_value, "pk__lt": after_pk}
            )
        else:
            position = Q(**{f"{field}__gt": after_value}) | Q(
                **{field: after_value, "pk__gt": after_pk}
            )
        queryset = queryset.filter(position)
    sign = "-" if descending else ""
    rows = list(queryset.order_by(f"{sign}{field}", f"{sign}pk")[: limit + 1])
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    rows = rows[:limit]
    last = rows[-1]
    return Page(items=rows, next_cursor=_encode(getattr(last, field), last.pk))
