"""Users, workspaces, memberships and creator profiles, and the offboard action."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import CreatorProfile, Membership, SocialAccount, User, Workspace
from accounts.services.actors import Actor
from accounts.services.offboarding import user_offboard, workspace_offboard
from accounts.services.users import user_delete, user_personal_workspaces, user_register
from accounts.services.workspaces import (
    membership_remove,
    membership_save,
    workspace_delete,
    workspace_save,
)
from accounts.tasks.offboarding import user_offboard_task, workspace_offboard_task

from .base import DeletesThroughServiceAdmin, KeepsSocialAccountsAdmin, PublicIdMixin
from .disconnect import DISCONNECT_PERMISSION, PREVIEW_ROWS, run_offboarding, single_selection


@admin.register(User)
class UserAdmin(PublicIdMixin, KeepsSocialAccountsAdmin, DjangoUserAdmin):
    social_account_owner = "user"
    ordering = ("email",)
    list_display = ("email", "name", "is_staff", "is_active", "date_joined", "api_id")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "name")
    readonly_fields = ("date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("date_joined", "last_login")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "name", "password1", "password2")}),)
    actions = ["offboard_user"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new user gets the personal workspace and creator profile every signup gets.
        registered = user_register(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            name=form.cleaned_data.get("name", ""),
        )
        obj.pk = registered.pk
        obj.email = registered.email
        obj.password = registered.password
        obj._state.adding = False
        obj._state.db = registered._state.db

    def deleted_along(self, objs):
        return [
            f"Personal workspace: {workspace.name} (with everything in it)"
            for user in objs
            for workspace in user_personal_workspaces(user=user)
        ]

    def delete_one(self, request, obj):
        user_delete(user=obj, actor=Actor.for_user(request.user))

    def has_offboard_permission(self, request):
        return request.user.has_perm(DISCONNECT_PERMISSION)

    @admin.action(description="Offboard user", permissions=["offboard"])
    def offboard_user(self, request, queryset):
        user = single_selection(self, request, queryset, noun="user")
        if user is None:
            return None
        actor = Actor.for_user(request.user)
        return run_offboarding(
            self,
            request,
            user,
            label=user.email,
            scope="every social account this user connected, in every workspace",
            account_count=SocialAccount.objects.filter(user_id=user.pk).count(),
            offboard=lambda dry_run: user_offboard(
                user=user, actor=actor, dry_run=dry_run, keep=PREVIEW_ROWS
            ),
            background_task=user_offboard_task,
            action="offboard_user",
        )


class MembershipInline(admin.TabularInline):
    """Saved through the membership services by ``WorkspaceAdmin.save_formset``."""

    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(Workspace)
class WorkspaceAdmin(PublicIdMixin, KeepsSocialAccountsAdmin):
    social_account_owner = "workspace"
    readonly_fields = ("api_id", "created_at")
    list_display = ("name", "is_personal", "members", "social_accounts", "created_at", "api_id")
    list_filter = ("is_personal",)
    search_fields = ("name", "memberships__user__email")
    inlines = [MembershipInline]
    actions = ["offboard_workspace"]
    ordering = ("-created_at",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=Count("memberships", distinct=True),
                social_account_count=Count("social_accounts", distinct=True),
            )
        )

    def save_model(self, request, obj, form, change):
        workspace_save(workspace=obj, actor=Actor.for_user(request.user))

    def delete_one(self, request, obj):
        workspace_delete(workspace=obj, actor=Actor.for_user(request.user))

    def save_formset(self, request, form, formset, change):
        actor = Actor.for_user(request.user)
        memberships = formset.save(commit=False)
        for membership in formset.deleted_objects:
            membership_remove(membership=membership, actor=actor)
        for membership in memberships:
            membership_save(membership=membership, actor=actor)

    @admin.display(description="members", ordering="member_count")
    def members(self, workspace):
        return workspace.member_count

    @admin.display(description="social accounts", ordering="social_account_count")
    def social_accounts(self, workspace):
        """The count, linking to the workspace's accounts (where they can be disconnected)."""
        url = reverse("admin:accounts_socialaccount_changelist")
        return format_html(
            '<a href="{}?workspace={}">{}</a>', url, workspace.pk, workspace.social_account_count
        )

    def has_offboard_permission(self, request):
        return request.user.has_perm(DISCONNECT_PERMISSION)

    @admin.action(description="Offboard workspace", permissions=["offboard"])
    def offboard_workspace(self, request, queryset):
        workspace = single_selection(self, request, queryset, noun="workspace")
        if workspace is None:
            return None
        actor = Actor.for_user(request.user)
        return run_offboarding(
            self,
            request,
            workspace,
            label=workspace.name,
            scope="every social account connected in this workspace",
            account_count=workspace.social_account_count,
            offboard=lambda dry_run: workspace_offboard(
                workspace=workspace, actor=actor, dry_run=dry_run, keep=PREVIEW_ROWS
            ),
            background_task=workspace_offboard_task,
            action="offboard_workspace",
        )


@admin.register(Membership)
class MembershipAdmin(DeletesThroughServiceAdmin):
    list_display = ("user", "workspace", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "workspace__name")
    list_select_related = ("user", "workspace")
    autocomplete_fields = ("user", "workspace")
    readonly_fields = ("created_at",)

    # Adding, changing and removing members is audited with the staff user as actor.
    def save_model(self, request, obj, form, change):
        membership_save(membership=obj, actor=Actor.for_user(request.user))

    def delete_one(self, request, obj):
        membership_remove(membership=obj, actor=Actor.for_user(request.user))


@admin.register(CreatorProfile)
class CreatorProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "total_followers", "updated_at")
    readonly_fields = ("user", "total_followers", "updated_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)

    def has_add_permission(self, request):
        return False  # created with the user

    def has_change_permission(self, request, obj=None):
        return False  # total_followers is recomputed from the accounts' metrics

    def has_delete_permission(self, request, obj=None):
        return False
