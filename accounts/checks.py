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
