"""Turning a request body into validated data (or the 400 envelope)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from rest_framework import serializers

from .errors import validation_error
from .fields import parse_aware_datetime
from .ids import parse_public_id


def validated_body(serializer_class: type[serializers.Serializer], request) -> dict[str, Any]:
    """The body checked by ``serializer_class``; a ``ValidationError`` becomes the 400."""
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def single_query_value(request, name: str) -> str | None:
    """The parameter's one value; given twice it is ambiguous (``?dryRun=true&dryRun=false``
    must not be read as a real disconnect), so a 400."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise validation_error(name, f"Give {name} once.")
    if values and "\x00" in values[0]:
        # No stored text holds one, and PostgreSQL refuses it in a query.
        raise validation_error(name, "Must not contain NUL characters.")
    return values[0] if values else None


def query_flag(request, name: str) -> bool:
    """A boolean query parameter: ``true``/``1`` or ``false``/``0``; absent is false."""
    raw = single_query_value(request, name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise validation_error(name, "Must be true or false.")


def query_public_id(request, name: str, prefix: str) -> uuid.UUID | None:
    """An optional ``<prefix>_<uuid>`` query parameter."""
    raw = single_query_value(request, name)
    if raw is None:
        return None
    return parse_public_id(prefix, raw, field=name)


def query_datetime(request, name: str) -> datetime | None:
    """An optional ISO-8601 date-time query parameter with its time zone."""
    raw = single_query_value(request, name)
    if raw is None:
        return None
    # An unencoded "+02:00" arrives as " 02:00"; read it as the client meant it.
    value = parse_aware_datetime(raw.strip().replace(" ", "+"))
    if value is None:
        raise validation_error(
            name, "Must be an ISO-8601 date and time with a timezone, e.g. 2030-01-31T09:30:00Z."
        )
    return value


def query_choice(request, name: str, choices) -> str | None:
    """An optional query parameter that must be one of ``choices``."""
    raw = single_query_value(request, name)
    if raw is None:
        return None
    if raw not in choices:
        raise validation_error(name, f"Must be one of: {', '.join(sorted(choices))}.")
    return raw
