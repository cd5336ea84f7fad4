"""System checks of the accounts app."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def sandbox_in_production(app_configs, **kwargs):
    """With the sandbox on, every platform is served by the local fake: never in production."""
    if settings.SOCIALHUB_SANDBOX and not settings.DEBUG:
        return [
            checks.Warning(
                "SOCIALHUB_SANDBOX is on with DEBUG off: every platform is routed to the "
                "built-in sandbox and /sandbox/ is served.",
                hint="Unset SOCIALHUB_SANDBOX in production.",
                id="socialhub.W001",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def platform_overrides_in_production(app_configs, **kwargs):
    """Origin overrides send platform calls (and tokens) to another server: testing only."""
    if settings.PLATFORM_ORIGIN_OVERRIDES and not settings.DEBUG:
        return [
            checks.Warning(
                "PLATFORM_ORIGIN_OVERRIDES is set with DEBUG off: calls meant for the "
                "platforms, with their tokens, go to "
                + ", ".join(sorted(set(settings.PLATFORM_ORIGIN_OVERRIDES.values())))
                + ".",
                hint="Unset PLATFORM_ORIGIN_OVERRIDES in production.",
                id="socialhub.W002",
            )
        ]
    return []
