"""What the accounts views share: who is calling, and the path ids they take."""

from __future__ import annotations

import uuid

from accounts.models import ApiKey, SocialAccount, Workspace
from accounts.services.actors import Actor
from socialhub.api.authentication import api_key_of
from socialhub.api.ids import parse_public_id


def caller_actor(request) -> Actor:
    api_key = api_key_of(request)
    return Actor.for_api_key(api_key) if api_key is not None else Actor.for_user(request.user)


def workspace_id_from_path(value: str) -> uuid.UUID:
    return parse_public_id(Workspace.ID_PREFIX, value, field="workspaceId")


def social_account_id_from_path(value: str) -> uuid.UUID:
    return parse_public_id(SocialAccount.ID_PREFIX, value, field="socialAccountId")


def api_key_id_from_path(value: str) -> uuid.UUID:
    return parse_public_id(ApiKey.ID_PREFIX, value, field="apiKeyId")
