"""Sessions for users: JWT pairs from simplejwt, with refresh rotation and blacklisting."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.core.exceptions import ObjectDoesNotExist
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
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
    """Rotate: a new pair; the old refresh token is blacklisted."""
    serializer = TokenRefreshSerializer(data={"refresh": refresh_token})
    try:
        serializer.is_valid(raise_exception=True)
    except (TokenError, AuthenticationFailed, ObjectDoesNotExist):
        # Bad, expired or blacklisted; inactive user; or a user deleted since (simplejwt
        # looks the user up with .get(), which raises DoesNotExist).
        raise _unauthorized("The refresh token is invalid, expired or revoked.") from None
    data = serializer.validated_data
    return TokenPair(access=data["access"], refresh=data.get("refresh", refresh_token))


def auth_logout(*, refresh_token: str) -> None:
    """Blacklist the refresh token. Access tokens are short-lived and expire on their own."""
    try:
        RefreshToken(refresh_token).blacklist()
    except TokenError:
        raise _unauthorized("The refresh token is invalid, expired or revoked.") from None
