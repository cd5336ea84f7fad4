"""Pending OAuth authorizations: single-use, expiring state with its PKCE verifier."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..fields import EncryptedTextField
from .social import Platform
from .users import Workspace


class OAuthState(models.Model):
    """One authorization in flight. Only the state's hash is stored; the verifier is encrypted."""

    state_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    platform = models.CharField(max_length=32, choices=Platform.choices)
    # Where a new account lands; null: the user's personal workspace.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, null=True, blank=True)
    redirect_uri = models.URLField(max_length=2000)
    code_verifier = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="oauth_state_expires")]
