"""Request and response shapes of the accounts API (camelCase on the wire)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import Platform
from socialhub.api.fields import HttpUrlField, StrictCharField, StrictChoiceField


class PlatformField(StrictChoiceField):
    default_error_messages = {
        "invalid_choice": "Unknown platform; use one of: " + ", ".join(Platform.values) + ".",
        "invalid": "Must be a string.",
    }

    def __init__(self, **kwargs):
        super().__init__(choices=Platform.choices, **kwargs)


# Auth ---------------------------------------------------------------------------------


class RegisterRequest(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = StrictCharField(max_length=128, trim_whitespace=False, write_only=True)
    name = StrictCharField(max_length=150)


class RegisterResponse(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    email = serializers.EmailField()


class LoginRequest(serializers.Serializer):
    email = StrictCharField(max_length=254)
    password = StrictCharField(max_length=128, trim_whitespace=False, write_only=True)


class RefreshTokenRequest(serializers.Serializer):
    refreshToken = StrictCharField(max_length=4096)


class TokenPairResponse(serializers.Serializer):
    accessToken = serializers.CharField(source="access")
    refreshToken = serializers.CharField(source="refresh")


# Creator social ----------------------------------------------------------------------


class CreatorSocialItem(serializers.Serializer):
    """Only the public-safe fields: never tokens, never the upstream id."""

    platform = serializers.CharField()
    platformUsername = serializers.CharField(source="platform_username", allow_null=True)
    verified = serializers.BooleanField()
    connectedAt = serializers.DateTimeField(source="connected_at")


class ConnectStartRequest(serializers.Serializer):
    platform = PlatformField()
    redirectUri = HttpUrlField(max_length=2000)


class ConnectStartResponse(serializers.Serializer):
    authorizationUrl = serializers.CharField(source="authorization_url")
    state = serializers.CharField()


class ConnectRequest(serializers.Serializer):
    platform = PlatformField()
    code = StrictCharField(max_length=2048)
    state = StrictCharField(max_length=512)


class ConnectResponse(serializers.Serializer):
    id = serializers.CharField(source="account.public_id")
    platform = serializers.CharField(source="account.platform")
    platformUsername = serializers.CharField(source="account.platform_username", allow_null=True)
    verified = serializers.BooleanField(source="account.verified")
    status = serializers.CharField(source="account.status")
    connectedAt = serializers.DateTimeField(source="account.connected_at")
    reconnected = serializers.BooleanField()


class DisconnectRequest(serializers.Serializer):
    platform = PlatformField()


class CreatorProfileResponse(serializers.Serializer):
    id = serializers.CharField(source="user.public_id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    totalFollowers = serializers.IntegerField(source="total_followers")
