"""Platform calls that act with an account's token, kept apart from its disconnect.

The publisher holds a shared advisory lock on the account while it makes the call that
publishes (media uploads and processing come before it, without the lock), and
the disconnect takes it exclusively inside its transaction: a disconnect waits for the
calls in flight, and a call that starts after a disconnect committed finds the account
gone. Nothing is published after a disconnect, and no transaction stays open across a
platform call. PostgreSQL only: the embedded SQLite setup has a single writer and no such
lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# Advisory lock space of "a platform call is acting with this account's token".
_LOCK_SPACE = 0x50C1A1


def _lock_key(account_id: uuid.UUID | str) -> list[int]:
    """(space, 32 bits of the account id); a collision only makes a disconnect wait."""
    account_uuid = account_id if isinstance(account_id, uuid.UUID) else uuid.UUID(str(account_id))
    return [_LOCK_SPACE, int.from_bytes(account_uuid.bytes[:4], "big", signed=True)]


@contextmanager
def social_account_platform_call(account_id: uuid.UUID | str) -> Iterator[None]:
    """Held around a platform call that acts with the account's token (publishing a post).

    Read the token inside it: once it is held, a disconnect has either committed (the
    account is gone) or waits for it to be released.
    """
    if connection.vendor != "postgresql":
        yield
        return
    key = _lock_key(account_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock_shared(%s, %s)", key)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_shared(%s, %s)", key)


def social_account_platform_calls_wait(*, account_id: uuid.UUID | str) -> None:
    """Inside the disconnect's transaction: wait for the account's platform calls in flight
    and keep new ones out until it commits."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", _lock_key(account_id))
