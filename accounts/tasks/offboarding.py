"""Staff disconnects and offboardings too large to finish inside an admin request."""

from __future__ import annotations

import logging

from celery import shared_task

from accounts.models import User, Workspace
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason
from accounts.services.offboarding import (
    social_accounts_disconnect_each,
    user_offboard,
    workspace_offboard,
)
from socialhub.api.ids import format_public_id

logger = logging.getLogger("socialhub.social")


def _staff_actor(user_id: str) -> Actor:
    """The staff user who confirmed the run (named by id even if since deleted)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return Actor(type="user", id=format_public_id(User.ID_PREFIX, user_id))
    return Actor.for_user(user)


# acks_late: a worker that dies part-way leaves the message to be delivered again, and the
# re-run finds only the accounts still connected (each one was committed on its own).
@shared_task(acks_late=True, ignore_result=True)
def workspace_offboard_task(workspace_id: str, staff_user_id: str) -> int:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0
    summary = workspace_offboard(workspace=workspace, actor=_staff_actor(staff_user_id), keep=0)
    logger.info(
        "[social] Offboarded workspace %s: %d disconnected, %d failed",
        workspace.public_id,
        summary.disconnected,
        summary.failed,
    )
    return summary.disconnected


@shared_task(acks_late=True, ignore_result=True)
def user_offboard_task(user_id: str, staff_user_id: str) -> int:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return 0
    summary = user_offboard(user=user, actor=_staff_actor(staff_user_id), keep=0)
    logger.info(
        "[social] Offboarded user %s: %d disconnected, %d failed",
        user.public_id,
        summary.disconnected,
        summary.failed,
    )
    return summary.disconnected


@shared_task(acks_late=True, ignore_result=True)
def social_accounts_disconnect_each_task(account_ids: list[str], staff_user_id: str) -> int:
    summary = social_accounts_disconnect_each(
        account_ids=account_ids,
        actor=_staff_actor(staff_user_id),
        reason=DisconnectReason.REVOKED_BY_STAFF,
        keep=0,
    )
    logger.info(
        "[social] Staff disconnect of %d accounts: %d disconnected, %d failed",
        len(account_ids),
        summary.disconnected,
        summary.failed,
    )
    return summary.disconnected
