"""The JSON parser every endpoint uses: bounded in size and depth."""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from .errors import ApplicationError, ErrorCode


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser reads the stream whole and lets a deeply nested document escape as
    a RecursionError; this one refuses bodies over ``API_MAX_BODY_BYTES`` (413) and turns
    any undecodable body into the 400 envelope."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ApplicationError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The body is larger than {limit} bytes.",
                i18n_vars={"limit": limit},
            )
        try:
            return json.loads(raw.decode(encoding), parse_constant=strict_constant)
        except (ValueError, RecursionError, LookupError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ParseError(f"JSON parse error - {reason}"[:300]) from None
