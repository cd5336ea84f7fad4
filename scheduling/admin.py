"""Scheduled posts and their targets, view-only: posts change through the scheduling
services, and "Cancel selected posts" is the one write offered here."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin.base import (
    TOKEN_FIELDS,
    PublicIdMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    apply_to_each,
)

from .models import PostTarget, ScheduledPost
from .services import scheduled_post_cancel

ACCOUNT_TOKENS = tuple(f"social_account__{field}" for field in TOKEN_FIELDS)


class PostTargetInline(ReadOnlyInline):
    model = PostTarget
    fields = (
        "social_account",
        "account_platform",
        "account_handle",
        "status",
        "canceled_reason",
        "published_at",
        "error",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("social_account").defer(*ACCOUNT_TOKENS)


@admin.register(ScheduledPost)
class ScheduledPostAdmin(PublicIdMixin, ReadOnlyAdmin):
    list_display = ("__str__", "workspace", "author", "status", "scheduled_at", "api_id")
    public_id_lookups = {"ws": "workspace_id", "usr": "author_id"}
    list_filter = ("status",)
    search_fields = ("text", "workspace__name", "author__email")
    list_select_related = ("workspace", "author")
    raw_id_fields = ("workspace", "author")
    date_hierarchy = "scheduled_at"
    inlines = [PostTargetInline]
    actions = ["cancel_selected"]

    def has_cancel_permission(self, request):
        return request.user.has_perm("scheduling.change_scheduledpost")

    @admin.action(description="Cancel selected posts", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        apply_to_each(
            self,
            request,
            queryset.filter(status=ScheduledPost.Status.QUEUED),
            lambda post, actor: scheduled_post_cancel(post=post, actor=actor),
            singular="Canceled %d post.",
            plural="Canceled %d posts.",
        )


@admin.register(PostTarget)
class PostTargetAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "post",
        "account_platform",
        "account_handle",
        "status",
        "canceled_reason",
        "published_at",
    )
    list_filter = ("status", "account_platform", "canceled_reason")
    search_fields = ("account_handle", "platform_post_id")
    list_select_related = ("post",)
    raw_id_fields = ("post", "social_account")
    show_full_result_count = False
