"""Public ids: ``<prefix>_<uuid4>`` outside, a UUID primary key inside."""

from __future__ import annotations

import re
import uuid

from .errors import validation_error

PREFIXES = {
    "user": "usr",
    "workspace": "ws",
    "social_account": "sa",
    "scheduled_post": "sp",
    "post_target": "pt",
    "api_key": "key",
    "audit_event": "evt",
    "webhook": "wh",
}


_UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def public_id_schema(prefix: str) -> dict:
    """The OpenAPI schema of a ``<prefix>_<uuid>`` id, exactly as ``parse_public_id`` reads it
    (the canonical, lower-case spelling)."""
    return {
        "type": "string",
        "pattern": f"^{prefix}_{_UUID_PATTERN}$",
        "example": f"{prefix}_3f2c8a4e-9b1d-4c6e-8f0a-5d7b2e1c9a60",
    }


def prefix_for_parameter(name: str) -> str | None:
    """The id prefix a path or query parameter takes, by its name: ``social_account_id``,
    ``socialAccountId`` and ``workspace`` all name ids; anything else is not one."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return PREFIXES.get(snake.removesuffix("_id"))


def format_public_id(prefix: str, value: uuid.UUID | str | None) -> str | None:
    if value is None:
        return None
    return f"{prefix}_{value}"


def parse_public_id(prefix: str, value: object, *, field: str = "id") -> uuid.UUID:
    """The UUID inside ``<prefix>_<uuid>``; a malformed value is a 400 naming ``field``."""
    message = f"Must be an id of the form {prefix}_<uuid>."
    if not isinstance(value, str) or not value.startswith(prefix + "_"):
        raise validation_error(field, message)
    raw = value[len(prefix) + 1 :]
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        raise validation_error(field, message) from None
    # Only the canonical spelling we emit: one id, one string (ids are compared as strings in
    # the audit trail and leases).
    if str(parsed) != raw:
        raise validation_error(field, message)
    return parsed
