"""Response shape of the audit trail."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import AuditEvent


class AuditActor(serializers.Serializer):
    type = serializers.ChoiceField(source="actor_type", choices=AuditEvent.ActorType.choices)
    id = serializers.CharField(
        source="actor_id", help_text="usr_… or key_… id, or the name of a system process."
    )


class AuditEventItem(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    action = serializers.CharField()
    actor = AuditActor(source="*")
    workspaceId = serializers.CharField(source="workspace_id")
    subjectIds = serializers.ListField(source="subject_ids", child=serializers.CharField())
    data = serializers.DictField()
    correlationId = serializers.CharField(source="correlation_id")
    createdAt = serializers.DateTimeField(source="created_at")


class AuditEventPage(serializers.Serializer):
    auditEvents = AuditEventItem(source="items", many=True)
    nextCursor = serializers.CharField(source="next_cursor", allow_null=True)
