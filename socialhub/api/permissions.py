"""Who may call a view: signed-in users by default; API keys only where a view names the
scope each method needs (``required_scopes``)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from .authentication import ApiKeyPrincipal
from .errors import ApplicationError, ErrorCode


def _authenticated(request) -> bool:
    return bool(request.user and request.user.is_authenticated)


class IsUser(BasePermission):
    """A user's access token; an API key gets 403 (these endpoints act for a person)."""

    def has_permission(self, request, view) -> bool:
        if not _authenticated(request):
            return False  # DRF answers 401
        if isinstance(request.user, ApiKeyPrincipal):
            raise ApplicationError(
                ErrorCode.FORBIDDEN_ROLE,
                "This endpoint acts for a signed-in user; API keys cannot call it.",
                i18n_key="auth.user_token_required",
            )
        return True


class IsUserOrScopedApiKey(BasePermission):
    """A user, or an API key holding the scope the view names for this method.

    A method the view names no scope for is closed to keys: forgetting a scope denies.
    """

    def has_permission(self, request, view) -> bool:
        if not _authenticated(request):
            return False
        if not isinstance(request.user, ApiKeyPrincipal):
            return True
        method = request.method
        if method == "OPTIONS" or not hasattr(view, method.lower()):
            return True  # metadata, or DRF answers 405 for a method the view lacks
        if method == "HEAD":
            method = "GET"
        required = getattr(view, "required_scopes", {}).get(method)
        if required is None or required not in request.user.api_key.scopes:
            raise ApplicationError(
                ErrorCode.FORBIDDEN_SCOPE,
                f"This API key lacks the {required or 'required'} scope.",
                i18n_vars={"requiredScope": required},
                details={"requiredScope": required},
            )
        return True
