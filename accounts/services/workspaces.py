"""Creating workspaces and adding members to them."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import Membership, User, Workspace
from socialhub.api.errors import ApplicationError, ErrorCode, not_found

from .actors import Actor
from .audit import audit_event_record


def workspace_create(*, user: User, name: str) -> Membership:
    """A shared workspace owned by ``user``; returns the owner's membership."""
    with transaction.atomic():
        workspace = Workspace.objects.create(name=name, is_personal=False)
        membership = Membership.objects.create(
            workspace=workspace, user=user, role=Membership.Role.OWNER
        )
        audit_event_record(
            actor=Actor.for_user(user),
            action="workspace.created",
            workspace_id=workspace.public_id,
            subject_ids=[workspace.public_id],
            data={"name": name},
        )
    return membership


def membership_add(*, workspace: Workspace, email: str, role: str, actor: Actor) -> Membership:
    """Add an existing user by email. 404 for an unknown email, 409 for a member already."""
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None or not user.is_active:
        raise not_found("workspace.member.user_not_found", "No user with this email.")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(workspace=workspace, user=user, role=role)
            audit_event_record(
                actor=actor,
                action="workspace.member_added",
                workspace_id=workspace.public_id,
                subject_ids=[workspace.public_id, user.public_id],
                data={"role": role},
            )
    except IntegrityError:
        raise ApplicationError(
            ErrorCode.CONFLICT,
            "This user is already a member of the workspace.",
            i18n_key="workspace.member.already_member",
        ) from None
    return membership
