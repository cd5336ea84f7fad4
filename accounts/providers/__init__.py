"""Provider adapters, one per platform, behind ``OAuthProvider``."""

from __future__ import annotations

from django.conf import settings

from .base import (
    OAuthProvider,
    Profile,
    ProviderDefinitiveError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRequestError,
    ProviderTransientError,
    PublishResult,
    TokenSet,
)
from .sandbox import SandboxProvider


def provider_for(platform: str) -> OAuthProvider:
    """The adapter serving ``platform`` in this deployment.

    With ``SOCIALHUB_SANDBOX`` on, every platform is routed to the sandbox.
    """
    if settings.SOCIALHUB_SANDBOX:
        return SandboxProvider(platform)
    raise ProviderNotConfigured(f"{platform} is not configured in this deployment")


__all__ = [
    "OAuthProvider",
    "Profile",
    "ProviderDefinitiveError",
    "ProviderError",
    "ProviderNotConfigured",
    "ProviderRequestError",
    "ProviderTransientError",
    "PublishResult",
    "SandboxProvider",
    "TokenSet",
    "provider_for",
]
