"""Request and response shapes of the workspace endpoints (camelCase on the wire)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiKey, Membership
from socialhub.api.fields import StrictCharField, StrictChoiceField


class WorkspaceCreateRequest(serializers.Serializer):
    name = StrictCharField(max_length=150)


class WorkspaceItem(serializers.Serializer):
    """From a Membership: the workspace and the caller's role in it."""

    id = serializers.CharField(source="workspace.public_id")
    name = serializers.CharField(source="workspace.name")
    role = serializers.CharField()


class MemberAddRequest(serializers.Serializer):
    email = StrictCharField(max_length=254)
    role = StrictChoiceField(choices=Membership.Role.choices)


class MemberItem(serializers.Serializer):
    userId = serializers.CharField(source="user.public_id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    role = serializers.CharField()
    addedAt = serializers.DateTimeField(source="created_at")


class ScopesField(serializers.ListField):
    child = StrictChoiceField(choices=ApiKey.Scope.choices)

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=len(ApiKey.Scope.choices), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        return sorted(set(super().to_internal_value(data)))


class ApiKeyCreateRequest(serializers.Serializer):
    name = StrictCharField(max_length=100)
    scopes = ScopesField()


class ApiKeyItem(serializers.Serializer):
    """A key as listed: never the secret, only its first characters."""

    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    prefix = serializers.CharField()
    disabled = serializers.BooleanField()
    createdAt = serializers.DateTimeField(source="created_at")
    lastUsedAt = serializers.DateTimeField(source="last_used_at", allow_null=True)
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)


class ApiKeyCreated(ApiKeyItem):
    """The one response that carries the secret."""

    key = serializers.CharField(help_text="The secret. Shown this once; store it now.")
