"""OpenAPI: describe what goes over the wire, i.e. every payload inside the envelope, and
the error envelope on every operation."""

from __future__ import annotations

from .errors import ErrorCode

ERROR_COMPONENT = "ErrorEnvelope"

_ERROR_ENVELOPE = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message", "i18nKey", "i18nVars", "details", "correlationId"],
            "properties": {
                "code": {"type": "string", "enum": [code.value for code in ErrorCode]},
                "message": {"type": "string"},
                "i18nKey": {"type": "string", "example": "creator.social.not_found"},
                "i18nVars": {"type": "object", "additionalProperties": True},
                "details": {
                    "oneOf": [
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "field": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                        {"type": "object", "additionalProperties": True},
                    ]
                },
                "correlationId": {"type": "string", "nullable": True},
            },
        },
    },
}

# The failures any operation can answer with; each operation adds what is specific to it.
_COMMON_ERRORS = {
    "400": "VALIDATION: bad body, query or id; details lists {field, message}.",
    "401": "AUTH_UNAUTHORIZED: missing, invalid or expired credentials.",
    "404": "NOT_FOUND: absent, or not the caller's.",
    "405": "METHOD_NOT_ALLOWED.",
    "413": "PAYLOAD_TOO_LARGE: body over the configured limit.",
    "415": "UNSUPPORTED_MEDIA_TYPE: send application/json.",
    "429": "RATE_LIMITED: see the Retry-After header (seconds).",
    "500": "INTERNAL: nothing was changed; safe to retry.",
    "503": "UNAVAILABLE: a platform or the rate-limit store did not answer; retry.",
}


def _wrap_success(schema: dict | None) -> dict:
    properties: dict = {"success": {"type": "boolean", "enum": [True]}}
    required = ["success"]
    if schema is not None:
        properties["data"] = schema
        required.append("data")
    return {"type": "object", "required": required, "properties": properties}


def envelope_postprocessing_hook(result, generator, request, public):
    """drf-spectacular hook: wrap 2xx bodies as ``{success, data}``, add error responses."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = _ERROR_ENVELOPE
    error_ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, response in list(responses.items()):
                if not str(status).startswith("2"):
                    continue
                content = response.setdefault("content", {})
                media = content.setdefault("application/json", {})
                media["schema"] = _wrap_success(media.get("schema"))
                if response.get("description") in ("", "No response body"):
                    response["description"] = "Success."
            for status, description in _COMMON_ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
    return result
