"""Registering users: the user, a personal workspace they own, and a creator profile."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from accounts.models import CreatorProfile, Membership, User, Workspace
from socialhub.api.errors import ApplicationError, ErrorCode

from .actors import Actor
from .audit import audit_event_record
from .workspaces import refuse_while_accounts_connected, workspace_delete


def user_register(*, email: str, password: str, name: str) -> User:
    email = User.objects.normalize_email(email).lower()
    try:
        validate_password(password, user=User(email=email, name=name))
    except DjangoValidationError as exc:
        raise ApplicationError(
            ErrorCode.VALIDATION,
            " ".join(exc.messages),
            i18n_key="auth.register.weak_password",
            details=[{"field": "password", "message": message} for message in exc.messages],
        ) from None
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name)
            # Already made by the post_save receiver; this returns it (and is the one rule).
            workspace = user_personal_space_ensure(user=user)
            audit_event_record(
                actor=Actor.for_user(user),
                action="user.registered",
                workspace_id=workspace.public_id,
                subject_ids=[user.public_id],
            )
    except IntegrityError:
        raise ApplicationError(
            ErrorCode.CONFLICT,
            "An account with this email already exists.",
            i18n_key="auth.register.email_taken",
            details=[{"field": "email", "message": "already registered"}],
        ) from None
    return user


def user_personal_space_ensure(*, user: User) -> Workspace:
    """Every user, however created (API, admin, createsuperuser), gets a personal workspace
    it owns and a creator profile. Idempotent."""
    with transaction.atomic():
        workspace = Workspace.objects.filter(
            is_personal=True,
            memberships__user=user,
            memberships__role=Membership.Role.OWNER,
        ).first()
        if workspace is None:
            workspace = Workspace.objects.create(name=user.name or user.email, is_personal=True)
            Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.OWNER)
        CreatorProfile.objects.get_or_create(user=user)
    return workspace


def user_personal_workspaces(*, user: User):
    """The personal workspaces only ``user`` belongs to (they go when the user goes)."""
    return Workspace.objects.filter(is_personal=True, memberships__user=user).exclude(
        memberships__user__in=User.objects.exclude(pk=user.pk)
    )


def user_delete(*, user: User, actor: Actor) -> None:
    """Delete a user whose social accounts are all disconnected, with their personal
    workspace; shared workspaces lose a member. Audited as ``user.deleted`` (by id only).
    409 while any of their accounts is connected."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        refuse_while_accounts_connected(user_id=user.pk)
        for workspace in user_personal_workspaces(user=user):
            workspace_delete(workspace=workspace, actor=actor)
        audit_event_record(
            actor=actor, action="user.deleted", subject_ids=[user.public_id], data={}
        )
        user.delete()
