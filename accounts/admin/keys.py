"""Partner API keys (the secret is shown once, on creation) and kill switches."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from accounts.models import ApiKey, KillSwitch
from accounts.services.actors import Actor
from accounts.services.api_keys import (
    api_key_create,
    api_key_revoke,
    kill_switch_delete,
    kill_switch_save,
)

from .base import DeletesThroughServiceAdmin, apply_to_each


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiKey
        fields = ("workspace", "name", "scopes")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        "workspace",
        "scopes",
        "disabled",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("disabled",)
    search_fields = ("name", "prefix", "workspace__name")
    list_select_related = ("workspace",)
    autocomplete_fields = ("workspace",)  # by name or member email
    # Only the hash of the secret is stored, and even that is not shown.
    exclude = ("secret_hash",)
    readonly_fields = (
        "name",
        "prefix",
        "workspace",
        "scopes",
        "created_by",
        "disabled",
        "revoked_at",
        "created_at",
        "last_used_at",
    )
    actions = ["revoke_selected"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("workspace", "name", "scopes")
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        # Keys are only ever created here (nothing about a key is editable afterwards).
        api_key, secret = api_key_create(
            workspace=form.cleaned_data["workspace"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
        )
        obj.pk = api_key.pk
        obj.prefix = api_key.prefix
        obj.scopes = api_key.scopes
        obj.created_by = api_key.created_by
        obj._state.adding = False
        obj._state.db = api_key._state.db
        # Only its hash is stored: this message is the one time the secret is shown.
        messages.warning(
            request,
            format_html(
                "Copy the secret of “{}” now; it is not stored and will not be shown again: "
                "<code class='api-key-secret'>{}</code>",
                api_key.name,
                secret,
            ),
        )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row stays for the audit trail

    def has_revoke_permission(self, request):
        return request.user.has_perm("accounts.change_apikey")

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        apply_to_each(
            self,
            request,
            queryset.filter(revoked_at__isnull=True),
            lambda api_key, actor: api_key_revoke(api_key=api_key, actor=actor),
            singular="Revoked %d API key.",
            plural="Revoked %d API keys.",
        )


@admin.register(KillSwitch)
class KillSwitchAdmin(DeletesThroughServiceAdmin):
    """Switches are read on every API request, so toggling "enabled" takes effect at once."""

    list_display = ("__str__", "scope", "api_key", "workspace", "enabled", "reason", "updated_at")
    list_editable = ("enabled",)
    list_filter = ("scope", "enabled")
    search_fields = ("reason", "workspace__name", "api_key__name", "api_key__prefix")
    list_select_related = ("api_key", "workspace")
    autocomplete_fields = ("api_key", "workspace")

    # Every change, from the list or the form, is audited with the staff user as actor.
    def save_model(self, request, obj, form, change):
        kill_switch_save(switch=obj, actor=Actor.for_user(request.user))

    def delete_one(self, request, obj):
        kill_switch_delete(switch=obj, actor=Actor.for_user(request.user))
