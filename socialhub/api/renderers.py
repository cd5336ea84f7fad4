"""JSON renderer that wraps successful payloads in ``{"success": true, "data": ...}``."""

from __future__ import annotations

from rest_framework.renderers import JSONRenderer


class EnvelopeJSONRenderer(JSONRenderer):
    """Errors arrive already enveloped by the exception handler; successes are wrapped here."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code == 204:
            return b""
        if response is None or response.status_code < 400:
            data = {"success": True} if data is None else {"success": True, "data": data}
        return super().render(data, accepted_media_type, renderer_context)
