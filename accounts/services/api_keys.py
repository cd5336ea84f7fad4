"""Partner API keys: issue (the secret is shown once), authenticate, revoke; kill switches."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import ApiKey, KillSwitch, User, Workspace
from socialhub.api.errors import ApplicationError, ErrorCode
from socialhub.api.ids import format_public_id

from .actors import Actor
from .audit import audit_event_record

# Recognisable in logs, secret scanners and the Authorization header: "shk_" + 43 characters.
API_KEY_PREFIX = "shk_"
DISPLAY_PREFIX_LENGTH = len(API_KEY_PREFIX) + 8
# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_hash(secret: str) -> str:
    """Keys are 256 random bits, so one fast hash is enough (nothing to brute-force)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)


def api_key_create(
    *, workspace: Workspace, name: str, scopes: list[str], created_by: User
) -> tuple[ApiKey, str]:
    """A new key and its secret; only the hash is stored, so the secret is returned once."""
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            workspace=workspace,
            name=name,
            scopes=sorted(set(scopes)),
            created_by=created_by,
            prefix=secret[:DISPLAY_PREFIX_LENGTH],
            secret_hash=api_key_hash(secret),
        )
        audit_event_record(
            actor=Actor.for_user(created_by),
            action="api_key.created",
            workspace_id=workspace.public_id,
            subject_ids=[api_key.public_id],
            data={"name": name, "scopes": api_key.scopes},
        )
    return api_key, secret


def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke for good; revoking a revoked key changes nothing and answers the same."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit_event_record(
                actor=actor,
                action="api_key.revoked",
                workspace_id=format_public_id(Workspace.ID_PREFIX, locked.workspace_id),
                subject_ids=[locked.public_id],
                data={"name": locked.name},
            )
    return locked


def _kill_switch_on(**target) -> Exists:
    return Exists(KillSwitch.objects.filter(enabled=True, **target))


def api_key_authenticate(*, secret: str) -> ApiKey:
    """The live key for ``secret`` with its kill switches read in the same query.

    Raises 401 for an unknown, revoked or disabled key and 503 ``KILL_SWITCH`` (naming the
    broadest switch that is on) when access is shut off.
    """
    api_key = (
        ApiKey.objects.select_related("workspace")
        .annotate(
            global_off=_kill_switch_on(scope=KillSwitch.Scope.GLOBAL),
            workspace_off=_kill_switch_on(
                scope=KillSwitch.Scope.WORKSPACE, workspace_id=OuterRef("workspace_id")
            ),
            key_off=_kill_switch_on(scope=KillSwitch.Scope.KEY, api_key_id=OuterRef("pk")),
        )
        .filter(secret_hash=api_key_hash(secret))
        .first()
    )
    if api_key is None or not api_key.is_usable:
        raise ApplicationError(
            ErrorCode.AUTH_UNAUTHORIZED,
            "The API key is invalid, disabled or revoked.",
            i18n_key="auth.api_key_invalid",
        )
    for scope, engaged in (
        (KillSwitch.Scope.GLOBAL, api_key.global_off),
        (KillSwitch.Scope.WORKSPACE, api_key.workspace_off),
        (KillSwitch.Scope.KEY, api_key.key_off),
    ):
        if engaged:
            raise ApplicationError(
                ErrorCode.KILL_SWITCH,
                f"API access is switched off ({scope.value}).",
                i18n_key=f"common.kill_switch.{scope.value}",
                details={"scope": scope.value},
                headers={"Retry-After": "60"},
            )
    _touch_last_used(api_key)
    return api_key


def _touch_last_used(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    # A plain UPDATE outside any lock: concurrent requests may both write; the later wins.
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


def _kill_switch_record(switch: KillSwitch, *, actor: Actor, action: str) -> None:
    audit_event_record(
        actor=actor,
        action=action,
        workspace_id=format_public_id(Workspace.ID_PREFIX, switch.workspace_id) or "",
        subject_ids=[
            format_public_id(ApiKey.ID_PREFIX, switch.api_key_id) or f"kill_switch_{switch.pk}"
        ],
        data={"scope": switch.scope, "enabled": switch.enabled, "reason": switch.reason},
    )


def kill_switch_save(*, switch: KillSwitch, actor: Actor) -> KillSwitch:
    """Create or change a switch (it applies from the next request), audited."""
    with transaction.atomic():
        switch.save()
        _kill_switch_record(switch, actor=actor, action="kill_switch.saved")
    return switch


def kill_switch_delete(*, switch: KillSwitch, actor: Actor) -> None:
    with transaction.atomic():
        _kill_switch_record(switch, actor=actor, action="kill_switch.deleted")
        switch.delete()
