"""One exception handler: every failure of a DRF view becomes the error envelope."""

from __future__ import annotations

import logging
import math

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .envelope import error_body_for
from .errors import ApplicationError, ErrorCode

logger = logging.getLogger("socialhub.api")


def flatten_validation_details(detail, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested ``ValidationError.detail`` into ``[{field, message}]``."""
    items: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" else str(key)
            field = f"{prefix}.{name}" if prefix else name
            items.extend(flatten_validation_details(value, field))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                items.extend(flatten_validation_details(value, f"{prefix}[{index}]"))
            else:
                items.append({"field": prefix or "body", "message": str(value)})
    else:
        items.append({"field": prefix or "body", "message": str(detail)})
    return items


def to_application_error(exc: Exception) -> ApplicationError | None:
    """Map framework exceptions onto the error catalogue; ``None`` for unexpected ones."""
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, drf.ValidationError):
        details = flatten_validation_details(exc.detail)
        message = details[0]["message"] if len(details) == 1 else "The request is not valid."
        if len(details) == 1 and details[0]["field"] != "body":
            message = f"{details[0]['field']}: {message}"
        return ApplicationError(ErrorCode.VALIDATION, message, details=details)
    if isinstance(exc, drf.ParseError):
        return ApplicationError(
            ErrorCode.VALIDATION,
            "The body is not valid JSON.",
            i18n_key="common.malformed_json",
            details=[{"field": "body", "message": str(exc.detail)}],
        )
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        if isinstance(exc.detail, dict):  # simplejwt's InvalidToken: say it plainly
            return ApplicationError(
                ErrorCode.AUTH_UNAUTHORIZED,
                "The access token is invalid or expired; log in or refresh it.",
                i18n_key="auth.token_invalid",
            )
        return ApplicationError(ErrorCode.AUTH_UNAUTHORIZED, str(exc.detail))
    if isinstance(exc, drf.Throttled):
        wait = max(1, math.ceil(exc.wait or 1))
        return ApplicationError(
            ErrorCode.RATE_LIMITED,
            f"Too many requests; retry in {wait} s.",
            i18n_vars={"retryAfter": wait},
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, (drf.NotFound, Http404)):
        return ApplicationError(ErrorCode.NOT_FOUND)
    if isinstance(exc, drf.MethodNotAllowed):
        return ApplicationError(ErrorCode.METHOD_NOT_ALLOWED, str(exc.detail))
    if isinstance(exc, drf.NotAcceptable):
        return ApplicationError(ErrorCode.NOT_ACCEPTABLE)
    if isinstance(exc, drf.UnsupportedMediaType):
        return ApplicationError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, str(exc.detail))
    if isinstance(exc, (drf.PermissionDenied, PermissionDenied)):
        return ApplicationError(ErrorCode.FORBIDDEN_ROLE, "You may not do this.")
    return None


def envelope_exception_handler(exc: Exception, context) -> Response:
    error = to_application_error(exc)
    if error is None:
        if isinstance(exc, DatabaseError):
            logger.exception("Database failure while serving the request")
        else:
            logger.exception("Unexpected failure while serving the request")
        error = ApplicationError(ErrorCode.INTERNAL)
    # Whatever the view did in an outer atomic block must not be committed.
    set_rollback()
    response = Response(error_body_for(error), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    if error.code is ErrorCode.AUTH_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    if error.code is ErrorCode.KILL_SWITCH:
        # Staff turned this access off on purpose: not a server error for the error log.
        logger.info("Refused by a kill switch: %s", error.details)
        response._has_been_logged = True
    return response
