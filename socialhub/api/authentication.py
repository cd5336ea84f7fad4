"""Bearer authentication for the API: partner API keys and user JWTs (simplejwt).

Both travel as ``Authorization: Bearer <credential>``; API keys are told apart by their
prefix, so a key is never handed to the JWT decoder and a JWT never costs a key lookup.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework_simplejwt.authentication import JWTAuthentication


class ApiKeyPrincipal:
    """``request.user`` for a request made with an API key: the key's workspace acting."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, api_key) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return self.api_key.public_id


def _bearer_credential(request) -> str | None:
    parts = get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer shk_…``: the workspace's key, checked against kill switches."""

    def authenticate(self, request):
        from accounts.services.api_keys import api_key_authenticate, looks_like_api_key

        credential = _bearer_credential(request)
        if credential is None or not looks_like_api_key(credential):
            return None
        api_key = api_key_authenticate(secret=credential)
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class BearerJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <jwt>``; answers 401 with the envelope on a bad token."""

    www_authenticate_realm = "api"


def api_key_of(request):
    """The ApiKey behind the request, or ``None`` for a user (or anonymous) request."""
    user = getattr(request, "user", None)
    return user.api_key if isinstance(user, ApiKeyPrincipal) else None


class BearerJWTScheme(OpenApiAuthenticationExtension):
    """Documents the user bearer scheme in the OpenAPI schema."""

    target_class = BearerJWTAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from POST /api/v1/auth/login.",
        }


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the partner API key scheme in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "shk_…",
            "description": (
                "A workspace API key (created with POST /api/v1/workspaces/{id}/api-keys), "
                "limited to its scopes."
            ),
        }
