"""Serializer fields shared by the accounts API."""

from __future__ import annotations

import uuid

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from accounts.models import Platform
from socialhub.api.fields import StrictChoiceField
from socialhub.api.ids import public_id_schema


class PlatformField(StrictChoiceField):
    default_error_messages = {
        "invalid_choice": "Unknown platform; use one of: " + ", ".join(Platform.values) + ".",
        "invalid": "Must be a string.",
    }

    def __init__(self, **kwargs):
        super().__init__(choices=Platform.choices, **kwargs)


class PublicIdField(serializers.Field):
    """A ``<prefix>_<uuid>`` id in a body; validates to the UUID."""

    def __init__(self, *, prefix: str, **kwargs):
        self.prefix = prefix
        super().__init__(**kwargs)
        self.error_messages["invalid"] = f"Must be an id of the form {prefix}_<uuid>."

    def to_internal_value(self, data) -> uuid.UUID:
        if not isinstance(data, str) or not data.startswith(self.prefix + "_"):
            self.fail("invalid")
        raw = data[len(self.prefix) + 1 :]
        try:
            parsed = uuid.UUID(raw)
        except ValueError:
            self.fail("invalid")
        if str(parsed) != raw:
            self.fail("invalid")
        return parsed

    def to_representation(self, value) -> str:
        return f"{self.prefix}_{value}"


class PublicIdFieldSchema(OpenApiSerializerFieldExtension):
    """In the OpenAPI schema a ``PublicIdField`` is a string of its own id pattern."""

    target_class = PublicIdField

    def map_serializer_field(self, auto_schema, direction):
        return public_id_schema(self.target.prefix)
