"""The admin's login form, rate-limited per client address like the API's login."""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.http import HttpResponse
from django_ratelimit.core import is_ratelimited

from socialhub.api.ratelimit import client_ip

GROUP = "admin.login"

logger = logging.getLogger("socialhub.admin")


def _address(group, request) -> str:
    return client_ip(request)


def _refusal(message: str, status: int) -> HttpResponse:
    return HttpResponse(
        message,
        status=status,
        content_type="text/plain; charset=utf-8",
        headers={"Retry-After": "60" if status == 429 else "5"},
    )


def rate_limited(login_view):
    """Wrap ``AdminSite.login``: past ``ADMIN_LOGIN_RATELIMIT`` sign-in attempts from one
    address the form answers 429, and with the rate-limit store down 503, without checking
    the password; showing the form is never limited."""

    @functools.wraps(login_view)
    def login(request, extra_context=None):
        if request.method != "POST":
            return login_view(request, extra_context)
        try:
            limited = is_ratelimited(
                request,
                group=GROUP,
                key=_address,
                rate=settings.ADMIN_LOGIN_RATELIMIT,
                method="POST",
                increment=True,
            )
        except Exception:  # the store is down: fail closed, as the API's limits do
            logger.warning("Rate-limit cache unavailable for the admin sign-in", exc_info=True)
            return _refusal("Signing in is unavailable for a moment; try again shortly.", 503)
        if limited:
            return _refusal(
                "Too many sign-in attempts from this address; wait a minute and try again.", 429
            )
        return login_view(request, extra_context)

    return login
