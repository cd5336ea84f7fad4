"""Webhook endpoints (the signing secret is never displayed) and their deliveries."""

from __future__ import annotations

from django.contrib import admin

from accounts.models import WebhookDelivery, WebhookEndpoint
from accounts.services.actors import Actor
from accounts.services.webhooks import webhook_endpoint_delete, webhook_endpoint_enable

from .base import DeletesThroughServiceAdmin, ReadOnlyAdmin, apply_to_each


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(DeletesThroughServiceAdmin):
    list_display = (
        "url",
        "workspace",
        "active",
        "consecutive_failures",
        "disabled_at",
        "created_at",
    )
    list_filter = ("active",)
    search_fields = ("url", "workspace__name", "description")
    list_select_related = ("workspace",)
    exclude = ("secret",)
    actions = ["enable_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("secret")

    def has_add_permission(self, request):
        return False  # created by the workspace through the API, which shows the secret once

    def has_change_permission(self, request, obj=None):
        return False

    def delete_one(self, request, obj):
        webhook_endpoint_delete(endpoint=obj, actor=Actor.for_user(request.user))

    def has_enable_permission(self, request):
        return request.user.has_perm("accounts.change_webhookendpoint")

    @admin.action(description="Enable selected endpoints", permissions=["enable"])
    def enable_selected(self, request, queryset):
        apply_to_each(
            self,
            request,
            queryset.filter(active=False),
            lambda endpoint, actor: webhook_endpoint_enable(endpoint=endpoint, actor=actor),
            singular="Enabled %d endpoint.",
            plural="Enabled %d endpoints.",
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "endpoint", "status", "attempts", "last_http_status", "created_at")
    list_filter = ("status", "event")
    search_fields = ("id", "endpoint__url")
    list_select_related = ("endpoint",)
    raw_id_fields = ("endpoint",)
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("endpoint__secret")
