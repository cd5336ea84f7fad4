"""Request-wide plumbing: the correlation id on every response."""

from __future__ import annotations

from .correlation import correlation_id_from_headers, reset_correlation_id, set_correlation_id


class CorrelationIdMiddleware:
    """Sets the request's correlation id for the whole request and echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        correlation_id = correlation_id_from_headers(request.META)
        request.correlation_id = correlation_id
        token = set_correlation_id(correlation_id)
        try:
            response = self.get_response(request)
        finally:
            reset_correlation_id(token)
        response["X-Correlation-ID"] = correlation_id
        return response
