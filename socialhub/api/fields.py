"""Serializer fields stricter than DRF's defaults: a string field accepts only strings."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from django.core.validators import URLValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    default_error_messages = {
        # The input is not echoed: it may be huge, or someone else's markup.
        "invalid_choice": "Not one of the accepted values.",
        "invalid": "Must be a string.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class HttpUrlField(StrictCharField):
    """An absolute http(s) URL."""

    default_error_messages = {"invalid": "Must be an absolute http(s) URL."}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(
            URLValidator(schemes=["http", "https"], message=self.error_messages["invalid"])
        )


def parse_aware_datetime(text: str) -> datetime | None:
    """An ISO-8601 date and time that says its offset, as UTC; ``None`` when ``text`` is not
    one, names an impossible day, or names an instant outside years 1 to 9999 once in UTC.

    In UTC, because the database refuses offsets beyond ±15:59 that ISO 8601 allows.
    """
    try:
        value = parse_datetime(text)
        if value is None or value.tzinfo is None:
            return None
        return value.astimezone(UTC)
    except (ValueError, OverflowError):  # February 30, or year 1 at +05:00
        return None


def wire_datetime(value: datetime | None, zone: tzinfo | None = None) -> str | None:
    """An instant as DRF's ``DateTimeField`` writes it: ISO 8601 in the current time zone
    (or ``zone``, when the caller looked it up once for many values), ``Z`` for UTC. For
    representations built without going through the field."""
    if value is None:
        return None
    zone = zone or timezone.get_current_timezone()
    if timezone.is_naive(value):
        value = timezone.make_aware(value, zone)
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
