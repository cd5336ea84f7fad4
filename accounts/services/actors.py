"""Who is acting: a user, a partner API key, or the system (commands, tasks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import ApiKey, User


@dataclass(frozen=True)
class Actor:
    type: str  # AuditEvent.ActorType value
    id: str  # public id, or a name for the system
    user: User | None = None
    api_key: ApiKey | None = None

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(type="user", id=user.public_id, user=user)

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> Actor:
        return cls(type="api_key", id=api_key.public_id, api_key=api_key)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(type="system", id=name)
