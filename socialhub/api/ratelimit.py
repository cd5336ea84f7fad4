"""Rate limits: django-ratelimit counts on the shared cache, DRF's throttle hook answers 429."""

from __future__ import annotations

import ipaddress
import logging
import math

from django.conf import settings
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle

from .errors import ApplicationError, ErrorCode

logger = logging.getLogger("socialhub.api")


_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_period_seconds(rate: str) -> int:
    """The window of a django-ratelimit rate such as ``30/h`` or ``100/5m``."""
    _count, _, per = rate.partition("/")
    multiplier = per[:-1] or "1"
    return int(multiplier) * _PERIOD_SECONDS[per[-1].lower()]


def client_ip(request) -> str:
    """The client's address for per-address limits (``RATELIMIT_IP_META_KEY``).

    Behind ``TRUSTED_PROXY_COUNT`` reverse proxies the client is the entry those proxies
    appended to X-Forwarded-For, counted from the right (entries further left are whatever
    the client chose to send). Anything unparsable falls back to REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104 - a key, not a bind
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < proxies:
        return remote
    candidate = hops[-proxies]
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return remote
    return candidate


def caller_key(group: str, request) -> str:
    """Whose budget a request spends: its API key's, its user's, or its address's."""
    user = getattr(request, "user", None)
    api_key = getattr(user, "api_key", None)
    if api_key is not None:
        return f"key:{api_key.pk}"
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request)}"


class RateLimit(BaseThrottle):
    """Counts each call of the view per caller under ``group`` (a key of ``RATELIMITS``).

    Subclasses name the group; the rate comes from settings so operators can tune it.
    The counter fails closed: with the cache down the request gets a 503, never a free pass.
    """

    group: str = ""
    methods: frozenset[str] | None = None  # None: every method

    def allow_request(self, request, view) -> bool:
        if self.methods is not None and request.method not in self.methods:
            return True
        rate = settings.RATELIMITS[self.group]
        try:
            usage = get_usage(
                request._request,
                group=self.group,
                key=caller_key,
                rate=rate,
                method=ALL,
                increment=True,
            )
        except Exception:
            logger.warning("Rate-limit cache unavailable for %s", self.group, exc_info=True)
            raise ApplicationError(
                ErrorCode.UNAVAILABLE,
                "Rate limiting is unavailable; retry shortly.",
                headers={"Retry-After": "5"},
            ) from None
        if usage is None:
            return True
        if usage["limit"] == 0:
            # django-ratelimit's own fail-closed answer: it could not read its counter.
            raise ApplicationError(
                ErrorCode.UNAVAILABLE,
                "Rate limiting is unavailable; retry shortly.",
                headers={"Retry-After": "5"},
            )
        period = rate_period_seconds(rate)
        self._wait = min(period, max(1, math.ceil(usage["time_left"])))
        return not usage["should_limit"]

    def wait(self) -> float:
        return getattr(self, "_wait", 1)


def rate_limit(group: str, *, methods: tuple[str, ...] | None = None) -> type[RateLimit]:
    """A throttle class for one rate-limit group (on ``methods`` only, when given), for a
    view's ``throttle_classes``."""
    return type(
        f"RateLimit[{group}]",
        (RateLimit,),
        {"group": group, "methods": frozenset(methods) if methods else None},
    )
