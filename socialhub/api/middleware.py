"""Request-wide plumbing: the correlation id on every response and log line."""

from __future__ import annotations

from django.core.signals import request_finished

from .correlation import correlation_id_from_headers, set_correlation_id


def _clear_correlation_id(**kwargs) -> None:
    set_correlation_id(None)


# Cleared when the response is closed, not when the middleware returns: Django logs
# "Not Found" / "Internal Server Error" after the middleware chain, and those lines
# should carry the request's id too.
request_finished.connect(_clear_correlation_id, dispatch_uid="socialhub_clear_correlation_id")


class CorrelationIdMiddleware:
    """Sets the request's correlation id for the whole request and echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        correlation_id = correlation_id_from_headers(request.META)
        request.correlation_id = correlation_id
        set_correlation_id(correlation_id)
        response = self.get_response(request)
        response["X-Correlation-ID"] = correlation_id
        return response
