"""What several admin pages share: read-only pages and the guard that keeps a delete from
cascading to social accounts."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import ngettext

from accounts.models import SocialAccount
from accounts.services.actors import Actor
from socialhub.api.errors import ApplicationError

# Encrypted columns of SocialAccount (and of the revocation outbox that copies them).
TOKEN_FIELDS = ("access_token", "refresh_token")


def apply_to_each(modeladmin, request, rows, service, *, singular: str, plural: str) -> None:
    """An action's body: ``service(row, actor)`` for each row, as the staff user, then one
    message with how many (``singular``/``plural`` hold a ``%d``)."""
    rows = list(rows)
    actor = Actor.for_user(request.user)
    for row in rows:
        service(row, actor)
    modeladmin.message_user(
        request, ngettext(singular, plural, len(rows)) % len(rows), messages.SUCCESS
    )


class PublicIdMixin:
    """Offers ``api_id``, the id the API and the commands use (``ws_…``, ``sa_…``), as a
    column or read-only field, and finds a row when that id is pasted into the search box."""

    @admin.display(description="id")
    def api_id(self, obj) -> str:
        return format_html('<code style="white-space: nowrap">{}</code>', obj.public_id)

    # Other models' ids that narrow this list, e.g. {"ws": "workspace_id"} on accounts.
    public_id_lookups: dict[str, str] = {}

    def get_search_results(self, request, queryset, search_term):
        prefix, _, rest = search_term.strip().partition("_")
        lookups = {self.model.ID_PREFIX: "pk", **self.public_id_lookups}
        if prefix in lookups:
            try:
                pk = uuid.UUID(rest)
            except ValueError:
                pass
            else:
                return queryset.filter(**{lookups[prefix]: pk}), False
        return super().get_search_results(request, queryset, search_term)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A view-only page: rows written by the application (audit trail, outboxes, caches)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DeletesThroughServiceAdmin(admin.ModelAdmin):
    """Deletes, on the delete page and with "Delete selected", through ``delete_one`` (an
    audited service) one row at a time; a refusal becomes an error message, not a 500."""

    def delete_one(self, request, obj) -> None:
        raise NotImplementedError

    def delete_model(self, request, obj):
        try:
            self.delete_one(request, obj)
        except ApplicationError as exc:
            messages.error(request, f"{obj} was not deleted: {exc.message}")

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class KeepsSocialAccountsAdmin(DeletesThroughServiceAdmin):
    """Refuses to delete a row whose social accounts the database would cascade-delete.

    A cascade would skip the disconnect: queued posts left to fail, tokens never revoked, no
    audit row. The accounts are listed as protected objects, which blocks both the delete
    page and the "Delete selected" action, and staff are told what to do instead.

    The rows that go with this one (memberships, a profile, API keys, leases, posts) have
    read-only pages of their own, so Django would ask for the right to delete each of them;
    the right to delete this row covers them, and once its accounts are disconnected it can
    be deleted.
    """

    social_account_owner = ""  # the SocialAccount foreign key pointing at this model

    def deleted_along(self, objs) -> list[str]:
        """Rows the delete service removes that no foreign key cascades to (shown too)."""
        return []

    def get_deleted_objects(self, objs, request):
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        connected = list(
            SocialAccount.objects.filter(**{f"{self.social_account_owner}__in": objs})
            .only("id", "platform", "platform_username", "platform_user_id")
            .order_by("platform", "platform_username")
        )
        if connected:
            protected = [
                *protected,
                *(
                    format_html("Social account {} (connected; disconnect it first)", account)
                    for account in connected
                ),
            ]
            messages.error(
                request,
                "Social accounts are still connected. Disconnect them first (Social accounts → "
                "“Disconnect selected social accounts”, or Workspaces → “Offboard workspace”), "
                "so queued posts are canceled, tokens revoked and the disconnect audited.",
            )
        return [*deleted, *self.deleted_along(objs)], model_count, set(), protected
