"""Request and response shapes of the scheduled-post endpoints (camelCase on the wire)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import SocialAccount, User, Workspace
from accounts.serializers.fields import PublicIdField
from socialhub.api.fields import HttpUrlField, StrictCharField, parse_aware_datetime
from socialhub.api.ids import format_public_id

from .limits import MAX_MEDIA_URL_LENGTH, MAX_MEDIA_URLS, MAX_TARGETS, MAX_TEXT_LENGTH
from .models import PostTarget, ScheduledPost


@extend_schema_field(OpenApiTypes.DATETIME)
class AwareDateTimeField(serializers.Field):
    """An ISO-8601 date and time that says its offset (``Z`` or ``+02:00``)."""

    default_error_messages = {
        "invalid": "Must be an ISO-8601 date and time with a timezone, e.g. 2030-01-31T09:30:00Z."
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        value = parse_aware_datetime(data.strip())
        if value is None:
            self.fail("invalid")
        return value

    def to_representation(self, value):
        return value.isoformat()


class PositionalListField(serializers.ListField):
    """A list whose item errors name their position, ``field[2]``, and whose length is
    checked before its items are (a huge list of bad items is one error, not thousands)."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)

    def run_child_validation(self, data):
        result, errors = [], {}
        for index, item in enumerate(data):
            try:
                result.append(self.child.run_validation(item))
            except serializers.ValidationError as exc:
                errors[index] = exc.detail
        if errors:
            # A list (not a dict) so the error details read socialAccountIds[1].
            raise serializers.ValidationError([errors.get(i, {}) for i in range(len(data))])
        return result


class SocialAccountIdsField(PositionalListField):
    child = PublicIdField(prefix=SocialAccount.ID_PREFIX)

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=MAX_TARGETS, allow_empty=False, **kwargs)

    def to_internal_value(self, data):
        ids = super().to_internal_value(data)
        seen, errors = set(), {}
        for index, account_id in enumerate(ids):
            if account_id in seen:
                errors[index] = ["Listed twice."]
            seen.add(account_id)
        if errors:
            raise serializers.ValidationError([errors.get(i, {}) for i in range(len(ids))])
        return ids


def _text_field(**kwargs) -> StrictCharField:
    # Kept as written (no trimming): leading spaces and trailing newlines are the author's.
    return StrictCharField(
        allow_blank=True, trim_whitespace=False, max_length=MAX_TEXT_LENGTH, **kwargs
    )


def _media_field(**kwargs) -> PositionalListField:
    return PositionalListField(
        child=HttpUrlField(max_length=MAX_MEDIA_URL_LENGTH), max_length=MAX_MEDIA_URLS, **kwargs
    )


class ScheduledPostCreateRequest(serializers.Serializer):
    text = _text_field(
        required=False, default="", help_text="Required (not blank) unless mediaUrls are given."
    )
    scheduledAt = AwareDateTimeField(help_text="In the future, at most a year ahead.")
    socialAccountIds = SocialAccountIdsField(
        help_text=f"1 to {MAX_TARGETS} active accounts (sa_…) of one workspace."
    )
    mediaUrls = _media_field(required=False, default=list)


class ScheduledPostUpdateRequest(serializers.Serializer):
    """Any of the fields; what is left out stays as it is."""

    text = _text_field(required=False)
    scheduledAt = AwareDateTimeField(required=False)
    socialAccountIds = SocialAccountIdsField(
        required=False, help_text="The accounts the post goes to from now on."
    )
    mediaUrls = _media_field(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Give at least one of text, scheduledAt, socialAccountIds, mediaUrls."
            )
        return attrs


class ScheduledPostUpdateRequestSchema(OpenApiSerializerExtension):
    """The schema says what ``validate`` checks: at least one of the fields is given."""

    target_class = ScheduledPostUpdateRequest

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "anyOf": [{"required": [name]} for name in self.target.fields]}


class PostTargetItem(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    socialAccountId = serializers.SerializerMethodField(
        help_text="null once the account is disconnected."
    )
    platform = serializers.CharField(source="account_platform")
    accountHandle = serializers.CharField(source="account_handle", allow_null=True)
    status = serializers.ChoiceField(choices=PostTarget.Status.choices)
    canceledReason = serializers.SerializerMethodField(
        help_text="canceled_by_user or account_disconnected."
    )
    platformPostId = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField(help_text="Why publishing failed (or last failed).")
    publishedAt = serializers.DateTimeField(source="published_at", allow_null=True)

    def get_socialAccountId(self, target) -> str | None:
        return format_public_id(SocialAccount.ID_PREFIX, target.social_account_id)

    def get_canceledReason(self, target) -> str | None:
        return target.canceled_reason or None

    def get_platformPostId(self, target) -> str | None:
        return target.platform_post_id or None

    def get_error(self, target) -> str | None:
        return target.error or None


class ScheduledPostItem(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    workspaceId = serializers.SerializerMethodField()
    authorId = serializers.SerializerMethodField(help_text="null when an API key created it.")
    text = serializers.CharField()
    mediaUrls = serializers.ListField(source="media_urls", child=serializers.CharField())
    scheduledAt = serializers.DateTimeField(source="scheduled_at")
    status = serializers.ChoiceField(choices=ScheduledPost.Status.choices)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    targets = serializers.SerializerMethodField()

    def get_workspaceId(self, post) -> str:
        return format_public_id(Workspace.ID_PREFIX, post.workspace_id)

    def get_authorId(self, post) -> str | None:
        return format_public_id(User.ID_PREFIX, post.author_id)

    @extend_schema_field(PostTargetItem(many=True))
    def get_targets(self, post) -> list[dict]:
        targets = sorted(post.targets.all(), key=lambda target: (target.created_at, target.pk))
        return PostTargetItem(targets, many=True).data


class ScheduledPostPage(serializers.Serializer):
    scheduledPosts = ScheduledPostItem(many=True, source="items")
    nextCursor = serializers.CharField(
        source="next_cursor", allow_null=True, help_text="Pass as ?cursor= for the next page."
    )
