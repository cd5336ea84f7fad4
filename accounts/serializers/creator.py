"""Request and response shapes of the creator endpoints (camelCase on the wire)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import Workspace
from socialhub.api.fields import HttpUrlField, StrictCharField

from .fields import PlatformField, PublicIdField


class CreatorSocialItem(serializers.Serializer):
    """Only the public-safe fields: never tokens, never the upstream id."""

    platform = serializers.CharField()
    platformUsername = serializers.CharField(source="platform_username", allow_null=True)
    verified = serializers.BooleanField()
    connectedAt = serializers.DateTimeField(source="connected_at")


class ConnectStartRequest(serializers.Serializer):
    platform = PlatformField()
    redirectUri = HttpUrlField(max_length=2000)
    # A shared workspace the user belongs to; by default the personal one.
    workspace = PublicIdField(prefix=Workspace.ID_PREFIX, required=False)


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
