"""Building the success and error bodies every endpoint answers with."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from .correlation import get_correlation_id
from .errors import ApplicationError, ErrorCode


def error_body(
    code: ErrorCode | str,
    message: str,
    *,
    i18n_key: str,
    i18n_vars: dict[str, Any] | None = None,
    details: list | dict | None = None,
) -> dict[str, Any]:
    return {
        "success": False,
        "error": {
            "code": str(code.value if isinstance(code, ErrorCode) else code),
            "message": message,
            "i18nKey": i18n_key,
            "i18nVars": i18n_vars or {},
            "details": details if details is not None else [],
            "correlationId": get_correlation_id(),
        },
    }


def error_body_for(error: ApplicationError) -> dict[str, Any]:
    return error_body(
        error.code,
        error.message,
        i18n_key=error.i18n_key,
        i18n_vars=error.i18n_vars,
        details=error.details,
    )


def error_json_response(error: ApplicationError) -> JsonResponse:
    """The envelope for failures outside DRF views (unknown paths, Django's 500)."""
    response = JsonResponse(error_body_for(error), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response
