"""The one domain error type, and the catalogue of error codes the API answers with."""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    """Error codes of the envelope, each with its HTTP status and default i18n key."""

    VALIDATION = ("VALIDATION", 400, "common.validation", "The request is not valid.")
    AUTH_UNAUTHORIZED = (
        "AUTH_UNAUTHORIZED",
        401,
        "auth.unauthorized",
        "Authentication credentials are missing or invalid.",
    )
    FORBIDDEN_SCOPE = (
        "FORBIDDEN_SCOPE",
        403,
        "auth.forbidden_scope",
        "The API key lacks the scope this needs.",
    )
    FORBIDDEN_ROLE = (
        "FORBIDDEN_ROLE",
        403,
        "auth.forbidden_role",
        "Your role in this workspace does not allow this.",
    )
    NOT_FOUND = ("NOT_FOUND", 404, "common.not_found", "Not found.")
    METHOD_NOT_ALLOWED = (
        "METHOD_NOT_ALLOWED",
        405,
        "common.method_not_allowed",
        "This method is not allowed here.",
    )
    NOT_ACCEPTABLE = ("NOT_ACCEPTABLE", 406, "common.not_acceptable", "Only JSON is served.")
    CONFLICT = ("CONFLICT", 409, "common.conflict", "The request conflicts with current state.")
    IDEMPOTENCY_CONFLICT = (
        "IDEMPOTENCY_CONFLICT",
        409,
        "common.idempotency_conflict",
        "This Idempotency-Key was used for a different request, or is still in flight.",
    )
    PAYLOAD_TOO_LARGE = (
        "PAYLOAD_TOO_LARGE",
        413,
        "common.payload_too_large",
        "The request body is too large.",
    )
    UNSUPPORTED_MEDIA_TYPE = (
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        "common.unsupported_media_type",
        "Send the body as application/json.",
    )
    RATE_LIMITED = ("RATE_LIMITED", 429, "common.rate_limited", "Too many requests.")
    INTERNAL = (
        "INTERNAL",
        500,
        "common.internal",
        "Something went wrong on our side. Nothing was changed; it is safe to retry.",
    )
    UNAVAILABLE = (
        "UNAVAILABLE",
        503,
        "common.unavailable",
        "A backing service is unavailable. Nothing was changed; retry shortly.",
    )
    KILL_SWITCH = ("KILL_SWITCH", 503, "common.kill_switch", "This API access is disabled.")

    def __new__(cls, value: str, status: int, i18n_key: str, message: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.i18n_key = i18n_key
        member.default_message = message
        return member


class ApplicationError(Exception):
    """A failure the client can act on; the exception handler renders it as the envelope."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        i18n_key: str | None = None,
        i18n_vars: dict[str, Any] | None = None,
        details: list | dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.message = message or code.default_message
        self.i18n_key = i18n_key or code.i18n_key
        self.i18n_vars = i18n_vars or {}
        self.details = details if details is not None else []
        self.headers = headers or {}
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return self.code.status


def validation_error(field: str, message: str, *, i18n_key: str | None = None) -> ApplicationError:
    """A 400 naming one offending field."""
    return ApplicationError(
        ErrorCode.VALIDATION,
        message,
        i18n_key=i18n_key,
        details=[{"field": field, "message": message}],
    )


def not_found(i18n_key: str = "common.not_found", message: str = "Not found.") -> ApplicationError:
    return ApplicationError(ErrorCode.NOT_FOUND, message, i18n_key=i18n_key)
