"""Request and response shapes of the webhook endpoints (camelCase on the wire)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import WebhookDelivery, Workspace
from accounts.services.webhook_urls import MAX_URL_LENGTH
from accounts.services.webhooks import WebhookEvent
from socialhub.api.fields import StrictCharField, StrictChoiceField
from socialhub.api.ids import format_public_id

from .fields import PublicIdField


class EventField(StrictChoiceField):
    default_error_messages = {
        "invalid_choice": "Unknown event; use one of: " + ", ".join(WebhookEvent) + ".",
        "invalid": "Must be a string.",
    }

    def __init__(self, **kwargs):
        super().__init__(choices=[(event.value, event.value) for event in WebhookEvent], **kwargs)


class EventsField(serializers.ListField):
    child = EventField()
    default_error_messages = {"duplicate": "Each event may be listed once."}

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=len(WebhookEvent), allow_empty=False, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if len(set(map(repr, data))) != len(data):
            self.fail("duplicate")
        return super().to_internal_value(data)


class EventsFieldSchema(OpenApiSerializerFieldExtension):
    """The schema says what ``to_internal_value`` checks: no event twice."""

    target_class = EventsField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "uniqueItems": True}


class WebhookCreateRequest(serializers.Serializer):
    workspace = PublicIdField(
        prefix=Workspace.ID_PREFIX,
        required=False,
        help_text="A workspace you own or administer (ws_…); default: your personal one.",
    )
    url = StrictCharField(
        max_length=MAX_URL_LENGTH,
        help_text="Where events are POSTed. https, on a public address (private addresses "
        "are refused).",
    )
    events = EventsField()
    description = StrictCharField(max_length=255, required=False, allow_blank=True, default="")


class WebhookItem(serializers.Serializer):
    """An endpoint as listed: never its secret."""

    id = serializers.CharField(source="public_id")
    workspaceId = serializers.SerializerMethodField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    active = serializers.BooleanField(help_text="False once disabled after repeated failures.")
    disabledAt = serializers.DateTimeField(source="disabled_at", allow_null=True)
    disabledReason = serializers.CharField(source="disabled_reason")
    createdAt = serializers.DateTimeField(source="created_at")

    def get_workspaceId(self, endpoint) -> str:
        return format_public_id(Workspace.ID_PREFIX, endpoint.workspace_id)


class WebhookCreated(WebhookItem):
    """The one response that carries the signing secret."""

    secret = serializers.CharField(help_text="The signing secret. Shown this once; store it now.")


class WebhookList(serializers.Serializer):
    webhooks = WebhookItem(many=True)


class WebhookDeliveryItem(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="The X-Socialhub-Delivery header.")
    event = serializers.CharField()
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    lastHttpStatus = serializers.IntegerField(source="last_http_status", allow_null=True)
    lastError = serializers.CharField(source="last_error")
    nextAttemptAt = serializers.SerializerMethodField(help_text="Only while pending.")
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_nextAttemptAt(self, delivery) -> str | None:
        if delivery.status != WebhookDelivery.Status.PENDING:
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)


class WebhookDeliveryPage(serializers.Serializer):
    deliveries = WebhookDeliveryItem(source="items", many=True)
    nextCursor = serializers.CharField(source="next_cursor", allow_null=True)
