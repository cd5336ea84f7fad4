"""Sessions for users: JWT pairs from simplejwt, with refresh rotation and blacklisting."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from socialhub.api.errors import ApplicationError, ErrorCode


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def _unauthorized(message: str, i18n_key: str = "auth.unauthorized") -> ApplicationError:
    return ApplicationError(ErrorCode.AUTH_UNAUTHORIZED, message, i18n_key=i18n_key)


def auth_login(*, email: str, password: str) -> TokenPair:
    user = authenticate(email=email.strip().lower(), password=password)
    if user is None:
        raise ApplicationError(
            ErrorCode.AUTH_UNAUTHORIZED,
            "Invalid credentials",
            i18n_key="auth.login.invalid_credentials",
            i18n_vars={"field": "email"},
        )
    refresh = RefreshToken.for_user(user)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def auth_refresh(*, refresh_token: str) -> TokenPair:
    """Rotate: a new pair; the old refresh token is blacklisted. A refresh token is used
    once: of concurrent refreshes with it, one gets the new pair and the others a 401."""
    serializer = TokenRefreshSerializer(data={"refresh": refresh_token})
    try:
        with transaction.atomic():
            _lock_outstanding(refresh_token)
            serializer.is_valid(raise_exception=True)
    except (TokenError, AuthenticationFailed, ObjectDoesNotExist):
        # Bad, expired or blacklisted; inactive user; or a user deleted since (simplejwt
        # looks the user up with .get(), which raises DoesNotExist).
        raise _unauthorized("The refresh token is invalid, expired or revoked.") from None
    data = serializer.validated_data
    return TokenPair(access=data["access"], refresh=data.get("refresh", refresh_token))


def _lock_outstanding(refresh_token: str) -> None:
    """Lock the token's blacklist entry, so the check that it is not blacklisted yet and
    its blacklisting (both in the serializer) happen for one request at a time."""
    jti = RefreshToken(refresh_token)[jwt_settings.JTI_CLAIM]  # a bad token raises here
    OutstandingToken.objects.select_for_update().filter(jti=jti).values("pk").first()


def auth_logout(*, refresh_token: str) -> None:
    """Blacklist the refresh token. Access tokens are short-lived and expire on their own."""
    try:
        RefreshToken(refresh_token).blacklist()
    except TokenError:
        raise _unauthorized("The refresh token is invalid, expired or revoked.") from None
