"""Social accounts and what is cached for them. Accounts are read-only here: they change
through connect, refresh and sync, and leave through the disconnect action."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models
from django.utils.translation import ngettext

from accounts.models import (
    InboxItem,
    Lease,
    MetricsSnapshot,
    SocialAccount,
    SocialMetrics,
    TokenRevocation,
    Workspace,
)
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason
from accounts.services.offboarding import social_accounts_disconnect_each
from accounts.tasks.offboarding import social_accounts_disconnect_each_task

from .base import TOKEN_FIELDS, PublicIdMixin, ReadOnlyAdmin
from .disconnect import (
    DISCONNECT_PERMISSION,
    PREVIEW_ROWS,
    confirmed,
    in_background,
    preview_response,
    queue_in_background,
    report_outcome,
)


class SocialMetricsInline(admin.StackedInline):
    model = SocialMetrics
    extra = 0
    can_delete = False
    readonly_fields = ("follower_count", "following_count", "post_count", "synced_at")

    def has_add_permission(self, request, obj=None):
        return False


class WorkspaceFilter(admin.SimpleListFilter):
    """Names the workspace when the list is narrowed to one (the link on the workspaces
    list); hidden otherwise, since a list of every workspace would not fit."""

    title = "workspace"
    parameter_name = "workspace"

    def _pk(self) -> uuid.UUID | None:
        value = (self.value() or "").removeprefix(f"{Workspace.ID_PREFIX}_")
        try:
            return uuid.UUID(value) if value else None
        except ValueError:
            return None

    def lookups(self, request, model_admin):
        # Only with a value; always then, or Django would skip ``queryset`` altogether.
        if self.value() is None:
            return []
        pk = self._pk()
        name = (
            Workspace.objects.filter(pk=pk).values_list("name", flat=True).first() if pk else None
        )
        return [(self.value(), name or "(no such workspace)")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        pk = self._pk()
        return queryset.filter(workspace_id=pk) if pk else queryset.none()


def _selected_count(request) -> int:
    """How many rows the form named (0 when "select all" was used: the query is the list)."""
    if request.POST.get("select_across") == "1":
        return 0
    return len(set(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)))


@admin.register(SocialAccount)
class SocialAccountAdmin(PublicIdMixin, admin.ModelAdmin):
    list_display = (
        "platform",
        "platform_username",
        "user",
        "workspace",
        "status",
        "followers",
        "connected_at",
    )
    list_filter = ("platform", "status", WorkspaceFilter)
    public_id_lookups = {"ws": "workspace_id", "usr": "user_id"}
    search_fields = ("platform_username", "platform_user_id", "user__email", "workspace__name")
    list_select_related = ("user", "workspace", "metrics")
    exclude = TOKEN_FIELDS
    readonly_fields = ("api_id",)
    raw_id_fields = ("user", "workspace")
    inlines = [SocialMetricsInline]
    actions = ["disconnect_selected"]
    ordering = ("-connected_at",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        # The encrypted columns are never even loaded.
        return super().get_queryset(request).defer(*TOKEN_FIELDS)

    @admin.display(description="followers", ordering="metrics__follower_count")
    def followers(self, account):
        metrics = getattr(account, "metrics", None)
        return metrics.follower_count if metrics else None

    def has_add_permission(self, request):
        return False  # accounts are connected through OAuth

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting the row directly would skip the disconnect (no cancel, no revoke, no
        # audit): accounts leave only through the disconnect service.
        return False

    def has_disconnect_permission(self, request):
        return request.user.has_perm(DISCONNECT_PERMISSION)

    @admin.action(description="Disconnect selected social accounts", permissions=["disconnect"])
    def disconnect_selected(self, request, queryset):
        account_ids = list(queryset.values_list("pk", flat=True))
        apply = confirmed(request)
        # Confirmed twice, by two staff members from one preview, or a preview reloaded
        # after the run: what is no longer there is said, not shown as "0 accounts".
        gone = _selected_count(request) - len(account_ids)
        if gone > 0:
            self.message_user(
                request,
                ngettext(
                    "%d selected account was already disconnected.",
                    "%d selected accounts were already disconnected.",
                    gone,
                )
                % gone,
                messages.WARNING,
            )
        if not account_ids:
            return None
        if apply and in_background(len(account_ids)):
            queue_in_background(
                self,
                request,
                social_accounts_disconnect_each_task,
                [str(pk) for pk in account_ids],
                str(request.user.pk),
                what="Disconnecting the selected accounts",
                account_count=len(account_ids),
            )
            return None
        summary = social_accounts_disconnect_each(
            account_ids=account_ids,
            actor=Actor.for_user(request.user),
            reason=DisconnectReason.REVOKED_BY_STAFF,
            dry_run=not apply,
            keep=PREVIEW_ROWS,
        )
        if apply:
            report_outcome(self, request, summary)
            return None
        return preview_response(
            self,
            request,
            summary=summary,
            template="admin/accounts/socialaccount/disconnect_confirmation.html",
            title="Disconnect social accounts?",
            action="disconnect_selected",
            selected_ids=[str(pk) for pk in account_ids],
        )


class SocialAccountRowAdmin(ReadOnlyAdmin):
    """A cached row that belongs to one social account."""

    raw_id_fields = ("social_account",)
    list_select_related = ("social_account",)
    search_fields = ("social_account__platform_username",)
    list_filter = ("social_account__platform",)
    show_full_result_count = False  # these tables are large; skip the second COUNT(*)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .defer(*(f"social_account__{field}" for field in TOKEN_FIELDS))
        )


@admin.register(MetricsSnapshot)
class MetricsSnapshotAdmin(SocialAccountRowAdmin):
    list_display = ("social_account", "day", "follower_count", "following_count", "post_count")
    date_hierarchy = "day"


@admin.register(InboxItem)
class InboxItemAdmin(SocialAccountRowAdmin):
    list_display = ("social_account", "author_handle", "received_at", "platform_item_id")
    search_fields = ("social_account__platform_username", "author_handle", "platform_item_id")


@admin.register(Lease)
class LeaseAdmin(SocialAccountRowAdmin):
    list_display = (
        "account_public_id",
        "social_account",
        "workspace",
        "price_cents",
        "currency",
        "started_at",
        "released_at",
    )
    list_select_related = ("social_account", "workspace")
    list_filter = ("currency",)
    search_fields = ("account_public_id", "social_account__platform_username", "workspace__name")
    raw_id_fields = ("social_account", "workspace")


@admin.register(TokenRevocation)
class TokenRevocationAdmin(ReadOnlyAdmin):
    """The revocation outbox: which account's tokens are still to be revoked, never the
    tokens themselves."""

    list_display = ("account_public_id", "platform", "attempts", "next_attempt_at", "last_error")
    list_filter = ("platform",)
    search_fields = ("account_public_id",)
    exclude = TOKEN_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*TOKEN_FIELDS)
