"""How long background work waits before trying a platform or a receiver again."""

from __future__ import annotations

import math

# Countdowns stay far below the Redis broker's visibility timeout (six hours): a task
# waiting longer than that would be handed to a second worker and run twice.
MAX_RETRY_DELAY_SECONDS = 3600


def retry_delay_seconds(attempt: int, *, base: int = 30, retry_after: float | None = None) -> int:
    """``base`` seconds after the first failed attempt, doubling after each further one; at
    least what the other side asked for (``Retry-After``); never more than an hour."""
    delay = base * 2 ** max(0, attempt - 1)
    if retry_after:
        delay = max(delay, math.ceil(retry_after))
    return min(MAX_RETRY_DELAY_SECONDS, delay)
