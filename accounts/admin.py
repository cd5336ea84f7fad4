"""Django admin for the accounts app. Tokens are never displayed, not even encrypted."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models

from .models import (
    ApiKey,
    AuditEvent,
    CreatorProfile,
    KillSwitch,
    Lease,
    Membership,
    SocialAccount,
    SocialMetrics,
    User,
    Workspace,
)

TOKEN_FIELDS = ("access_token", "refresh_token")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "name", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "is_personal", "created_at")
    search_fields = ("name",)
    inlines = [MembershipInline]


class SocialMetricsInline(admin.StackedInline):
    model = SocialMetrics
    extra = 0
    can_delete = False
    readonly_fields = ("follower_count", "following_count", "post_count", "synced_at")


@admin.register(SocialAccount)
class SocialAccountAdmin(admin.ModelAdmin):
    list_display = ("platform", "platform_username", "user", "workspace", "status", "connected_at")
    list_filter = ("platform", "status")
    search_fields = ("platform_username", "user__email", "workspace__name")
    exclude = TOKEN_FIELDS
    readonly_fields = ("connected_at", "last_refreshed_at", "last_refresh_attempt_at")
    raw_id_fields = ("user", "workspace")
    inlines = [SocialMetricsInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_delete_permission(self, request, obj=None):
        # Deleting the row directly would skip the disconnect (no cancel, no revoke, no
        # audit): accounts leave only through the disconnect service.
        return False


@admin.register(CreatorProfile)
class CreatorProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "total_followers")
    readonly_fields = ("total_followers",)
    search_fields = ("user__email",)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "actor_type", "actor_id", "workspace_id")
    list_filter = ("action", "actor_type")
    search_fields = ("actor_id", "workspace_id", "correlation_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "workspace", "disabled", "last_used_at")
    exclude = ("secret_hash",)
    readonly_fields = ("prefix", "last_used_at", "created_at")


admin.site.register(KillSwitch)
admin.site.register(Lease)
