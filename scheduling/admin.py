from django.contrib import admin

from .models import PostTarget, ScheduledPost


class PostTargetInline(admin.TabularInline):
    model = PostTarget
    extra = 0
    raw_id_fields = ("social_account",)


@admin.register(ScheduledPost)
class ScheduledPostAdmin(admin.ModelAdmin):
    list_display = ("__str__", "workspace", "status", "scheduled_at")
    list_filter = ("status",)
    inlines = [PostTargetInline]
