"""Creating workspaces and managing their members (through the API, or as staff)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import Membership, SocialAccount, User, Workspace
from socialhub.api.errors import ApplicationError, ErrorCode, not_found
from socialhub.api.ids import format_public_id

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


def workspace_save(*, workspace: Workspace, actor: Actor) -> Workspace:
    """Create or rename a workspace as staff (the admin), audited."""
    with transaction.atomic():
        workspace.save()
        audit_event_record(
            actor=actor,
            action="workspace.saved",
            workspace_id=workspace.public_id,
            subject_ids=[workspace.public_id],
            data={"name": workspace.name},
        )
    return workspace


def _membership_record(membership: Membership, *, actor: Actor, action: str) -> None:
    workspace_id = format_public_id(Workspace.ID_PREFIX, membership.workspace_id)
    audit_event_record(
        actor=actor,
        action=action,
        workspace_id=workspace_id,
        subject_ids=[workspace_id, format_public_id(User.ID_PREFIX, membership.user_id)],
        data={"role": membership.role},
    )


def membership_save(*, membership: Membership, actor: Actor) -> Membership:
    """Add a member or change a member's role as staff (the admin), audited."""
    with transaction.atomic():
        membership.save()
        _membership_record(membership, actor=actor, action="workspace.member_saved")
    return membership


def membership_remove(*, membership: Membership, actor: Actor) -> None:
    """Take a member out of a workspace as staff (the admin), audited."""
    with transaction.atomic():
        _membership_record(membership, actor=actor, action="workspace.member_removed")
        membership.delete()


def refuse_while_accounts_connected(**owner) -> None:
    """409 while a social account of ``owner`` (``workspace_id=…`` or ``user_id=…``) is
    connected: deleting the owner would cascade past the disconnect. Call it after locking
    the owner's row, which also holds back a connect inserting an account meanwhile."""
    if SocialAccount.objects.filter(**owner).exists():
        raise ApplicationError(
            ErrorCode.CONFLICT,
            "Social accounts are still connected; disconnect them first.",
            i18n_key="delete.accounts_connected",
        )


def workspace_delete(*, workspace: Workspace, actor: Actor) -> None:
    """Delete a workspace whose social accounts are all disconnected, and with it what
    belongs to it (members, API keys, kill switch, leases, posts, webhooks). The audit
    trail keeps a ``workspace.deleted`` event counting what went. 409 while any account is
    connected: a cascade would skip the disconnect."""
    with transaction.atomic():
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        refuse_while_accounts_connected(workspace_id=workspace.pk)
        audit_event_record(
            actor=actor,
            action="workspace.deleted",
            workspace_id=workspace.public_id,
            subject_ids=[workspace.public_id],
            data={
                "name": workspace.name,
                "members": workspace.memberships.count(),
                "apiKeys": workspace.api_keys.count(),
                "webhookEndpoints": workspace.webhook_endpoints.count(),
                "scheduledPosts": workspace.scheduled_posts.count(),
                "leases": workspace.leases.count(),
            },
        )
        workspace.delete()
