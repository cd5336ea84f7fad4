"""Rows only the application writes: the audit trail, stored idempotent answers and the
sandbox platform's state. View-only; stored answers and credentials are not displayed."""

from __future__ import annotations

from django.contrib import admin
from rest_framework_simplejwt.token_blacklist import admin as token_blacklist_admin
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import AuditEvent, IdempotencyRecord, SandboxAccount, SandboxCredential

from .base import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor_type", "actor_id", "workspace_id")
    list_filter = ("action", "actor_type")
    search_fields = ("actor_id", "workspace_id", "correlation_id", "action")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("caller", "key", "response_status", "created_at", "expires_at")
    search_fields = ("caller", "key")
    # The stored answer may carry a secret shown once (an API key).
    exclude = ("response_body",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("response_body")


@admin.register(SandboxAccount)
class SandboxAccountAdmin(ReadOnlyAdmin):
    list_display = ("platform", "handle", "upstream_id", "follower_count", "created_at")
    list_filter = ("platform",)
    search_fields = ("handle", "upstream_id")


@admin.register(SandboxCredential)
class SandboxCredentialAdmin(ReadOnlyAdmin):
    list_display = ("account", "kind", "created_at", "expires_at", "used_at", "revoked_at")
    list_filter = ("kind",)
    search_fields = ("account__handle",)
    list_select_related = ("account",)
    exclude = ("value_hash", "code_challenge")


# Login refresh tokens: the library's page shows the token itself; these show only its jti.
admin.site.unregister(OutstandingToken)


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(token_blacklist_admin.OutstandingTokenAdmin):
    exclude = ("token",)

    def get_readonly_fields(self, request, obj=None):
        return [name for name in super().get_readonly_fields(request, obj) if name != "token"]
