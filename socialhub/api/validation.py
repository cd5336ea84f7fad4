"""Turning a request body into validated data (or the 400 envelope)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


def validated_body(serializer_class: type[serializers.Serializer], request) -> dict[str, Any]:
    """The body checked by ``serializer_class``; a ``ValidationError`` becomes the 400."""
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data
