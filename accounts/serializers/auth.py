"""Request and response shapes of the auth endpoints (camelCase on the wire)."""

from __future__ import annotations

from rest_framework import serializers

from socialhub.api.fields import StrictCharField


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
