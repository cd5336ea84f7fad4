"""OpenAPI: describe what goes over the wire, i.e. every payload inside the envelope, and
the error envelope on every operation."""

from __future__ import annotations

from .errors import ErrorCode
from .ids import prefix_for_parameter, public_id_schema

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
    "503": (
        "UNAVAILABLE: a platform or the rate-limit store did not answer; retry. "
        "KILL_SWITCH: API access is switched off; details.scope is key, workspace or global."
    ),
}
# What signed-in operations may answer on top of the common ones.
_AUTHENTICATED_ERRORS = {
    "403": (
        "FORBIDDEN_SCOPE: the API key lacks the scope (details.requiredScope); "
        "FORBIDDEN_ROLE: the caller's role (or an API key) may not do this."
    ),
    "409": "CONFLICT, or IDEMPOTENCY_CONFLICT: the key was used for another request or is "
    "still in flight.",
}
# What particular public operations answer on top of the common errors.
_PUBLIC_ERRORS = {
    "/api/v1/auth/register": {"409": "CONFLICT: an account with this email already exists."},
}
_MUTATING = frozenset({"post", "put", "patch", "delete"})
_IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    # Visible ASCII only, as the header is checked.
    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
    "description": (
        "Makes a retry safe: the same key with the same request within 24 h replays the "
        "first successful answer (header Idempotent-Replayed: true); a different request "
        "under the key, or a repeat while the first runs, is 409 IDEMPOTENCY_CONFLICT."
    ),
}
_REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present when this answer is the stored one for the Idempotency-Key.",
    }
}


def _wrap_success(schema: dict | None) -> dict:
    properties: dict = {"success": {"type": "boolean", "enum": [True]}}
    required = ["success"]
    if schema is not None:
        properties["data"] = schema
        required.append("data")
    return {"type": "object", "required": required, "properties": properties}


def _describe_id_parameters(operation: dict) -> None:
    """Path and query parameters that take ``<prefix>_<uuid>`` ids say so with a pattern."""
    for parameter in operation.get("parameters", []):
        prefix = prefix_for_parameter(parameter.get("name", ""))
        if prefix is not None and parameter.get("in") in ("path", "query"):
            parameter["schema"] = {**parameter.get("schema", {}), **public_id_schema(prefix)}


def envelope_postprocessing_hook(result, generator, request, public):
    """drf-spectacular hook: wrap 2xx bodies as ``{success, data}``, add error responses."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = _ERROR_ENVELOPE
    error_ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        authenticated = not path.startswith("/api/v1/auth/")
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _describe_id_parameters(operation)
            if method == "patch" and "requestBody" in operation:
                # A PATCH without a change is refused, so its body is not optional.
                operation["requestBody"]["required"] = True
            idempotent = authenticated and method in _MUTATING
            if idempotent:
                operation.setdefault("parameters", []).append(_IDEMPOTENCY_KEY)
            responses = operation["responses"]
            for status, response in list(responses.items()):
                if not str(status).startswith("2"):
                    continue
                content = response.setdefault("content", {})
                media = content.setdefault("application/json", {})
                media["schema"] = _wrap_success(media.get("schema"))
                if response.get("description") in ("", "No response body"):
                    response["description"] = "Success."
                if idempotent:
                    response.setdefault("headers", {}).update(_REPLAYED_HEADER)
            errors = {
                **_COMMON_ERRORS,
                **(_AUTHENTICATED_ERRORS if authenticated else _PUBLIC_ERRORS.get(path, {})),
            }
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
    return result
