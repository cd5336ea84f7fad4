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


def adapter_classes() -> dict[str, type[OAuthProvider]]:
    """Every real platform's adapter class, by platform."""
    from .bluesky import BlueskyProvider
    from .google import YouTubeProvider
    from .linkedin import LinkedInCompanyProvider, LinkedInPersonProvider
    from .meta import FacebookPageProvider, InstagramProvider, ThreadsProvider
    from .pinterest import PinterestProvider
    from .tiktok import TikTokBusinessProvider, TikTokPersonalProvider
    from .x import XProvider

    classes = (
        InstagramProvider,
        FacebookPageProvider,
        ThreadsProvider,
        XProvider,
        LinkedInPersonProvider,
        LinkedInCompanyProvider,
        TikTokBusinessProvider,
        TikTokPersonalProvider,
        YouTubeProvider,
        PinterestProvider,
        BlueskyProvider,
    )
    return {cls.platform: cls for cls in classes}


def provider_for(platform: str) -> OAuthProvider:
    """The adapter serving ``platform`` in this deployment.

    With ``SOCIALHUB_SANDBOX`` on, every platform is routed to the sandbox. Otherwise the
    platform's own adapter serves it, once its app credentials are set; a platform without
    them raises ``ProviderNotConfigured``.
    """
    if settings.SOCIALHUB_SANDBOX:
        return SandboxProvider(platform)
    adapter = adapter_classes().get(platform)
    if adapter is None:
        raise ProviderNotConfigured(f"{platform} is not a platform this service connects")
    return adapter()


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
    "adapter_classes",
    "provider_for",
]
