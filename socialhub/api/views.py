"""Views every app shares: the JSON 404/500 handlers and the health check."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .envelope import error_json_response
from .errors import ApplicationError, ErrorCode

logger = logging.getLogger("socialhub.api")


# Exempt from CSRF like every DRF view: otherwise a POST to an unknown /api/ path from a
# cookie-less client gets Django's HTML CSRF page instead of the 404 envelope.
@csrf_exempt
def not_found_view(request, exception=None, **kwargs):
    return error_json_response(ApplicationError(ErrorCode.NOT_FOUND, "No such endpoint."))


def server_error_view(request, *args, **kwargs):
    return error_json_response(ApplicationError(ErrorCode.INTERNAL))


def bad_request_view(request, exception=None, **kwargs):
    return error_json_response(ApplicationError(ErrorCode.VALIDATION, "Bad request."))


def permission_denied_view(request, exception=None, **kwargs):
    return error_json_response(ApplicationError(ErrorCode.FORBIDDEN_ROLE, "Forbidden."))


@csrf_exempt
def healthz(request):
    """Reports whether the database and the cache answer."""
    if request.method != "GET":
        return error_json_response(
            ApplicationError(ErrorCode.METHOD_NOT_ALLOWED, headers={"Allow": "GET"})
        )
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        logger.warning("Health check: database unavailable", exc_info=True)
        checks["database"] = "unavailable"
    try:
        cache.set("healthz", "1", 5)
        checks["cache"] = "ok" if cache.get("healthz") == "1" else "unavailable"
    except Exception:
        logger.warning("Health check: cache unavailable", exc_info=True)
        checks["cache"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    body = {"success": healthy, "data": {"status": "ok" if healthy else "degraded", **checks}}
    return JsonResponse(body, status=200 if healthy else 503)
