"""Partner API keys and the kill switches that can shut API access off."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .base import PublicIdModel
from .users import Workspace


class ApiKey(PublicIdModel):
    """A workspace's key for partner integrations; only a hash of the secret is kept."""

    ID_PREFIX = "key"

    class Scope(models.TextChoices):
        SOCIAL_READ = "social:read"
        SOCIAL_WRITE = "social:write"
        POSTS_READ = "posts:read"
        POSTS_WRITE = "posts:write"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    prefix = models.CharField(max_length=16, db_index=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    disabled = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and not self.disabled


class KillSwitch(models.Model):
    """Turns API access off for one key, one workspace, or everyone (``global``)."""

    class Scope(models.TextChoices):
        KEY = "key"
        WORKSPACE = "workspace"
        GLOBAL = "global"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    api_key = models.OneToOneField(ApiKey, on_delete=models.CASCADE, null=True, blank=True)
    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, null=True, blank=True)
    enabled = models.BooleanField(default=False, help_text="When on, the API answers 503.")
    reason = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "kill switches"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(scope="key", api_key__isnull=False, workspace__isnull=True)
                    | models.Q(scope="workspace", workspace__isnull=False, api_key__isnull=True)
                    | models.Q(scope="global", workspace__isnull=True, api_key__isnull=True)
                ),
                name="kill_switch_target_matches_scope",
                violation_error_message=(
                    "A key switch names an API key only, a workspace switch a workspace "
                    "only, and the global switch neither."
                ),
            ),
            models.UniqueConstraint(
                fields=["scope"],
                condition=models.Q(scope="global"),
                name="kill_switch_one_global",
                violation_error_message="There is already a global kill switch; change that one.",
            ),
        ]

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"{self.scope} kill switch ({state})"
