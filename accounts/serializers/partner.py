"""Request and response shapes of the workspace social-account endpoints."""

from __future__ import annotations

from django.utils import timezone
from django.utils.functional import cached_property
from rest_framework import serializers

from accounts.models import Platform, SocialAccount, User, Workspace
from scheduling.models import PostTarget
from socialhub.api.fields import wire_datetime
from socialhub.api.ids import format_public_id


class SocialAccountItem(serializers.Serializer):
    """Everything about a connection except its tokens.

    The fields describe the shape. An account (a model instance, or a listed row with the
    same attributes) is written directly: DRF's field-by-field walk was most of the time a
    list of a hundred accounts took. Tests hold the two representations equal.
    """

    id = serializers.CharField(source="public_id")
    workspaceId = serializers.SerializerMethodField()
    connectedBy = serializers.SerializerMethodField(help_text="The user who connected it.")
    platform = serializers.ChoiceField(choices=Platform.choices)
    platformUserId = serializers.CharField(source="platform_user_id")
    platformUsername = serializers.CharField(source="platform_username", allow_null=True)
    displayName = serializers.CharField(source="display_name", allow_null=True)
    avatarUrl = serializers.CharField(source="avatar_url", allow_null=True)
    accountType = serializers.CharField(source="account_type")
    verified = serializers.BooleanField()
    status = serializers.ChoiceField(choices=SocialAccount.Status.choices)
    statusReason = serializers.CharField(source="status_reason")
    scopes = serializers.ListField(child=serializers.CharField())
    followerCount = serializers.IntegerField(source="follower_count", allow_null=True)
    connectedAt = serializers.DateTimeField(source="connected_at")
    lastRefreshedAt = serializers.DateTimeField(source="last_refreshed_at", allow_null=True)
    tokenExpiresAt = serializers.DateTimeField(source="token_expires_at", allow_null=True)
    lastRefreshAttemptAt = serializers.DateTimeField(
        source="last_refresh_attempt_at", allow_null=True
    )
    lastRefreshError = serializers.CharField(source="last_refresh_error")
    lastRefreshHttpStatus = serializers.IntegerField(
        source="last_refresh_http_status", allow_null=True
    )
    metadata = serializers.DictField()
    defaultBoardId = serializers.SerializerMethodField(
        help_text="Pinterest only: the board picked at connect time."
    )
    updatedAt = serializers.DateTimeField(source="updated_at")

    @cached_property
    def _zone(self):
        """The current time zone, looked up once for all the accounts a response lists."""
        return timezone.get_current_timezone()

    def to_representation(self, account) -> dict:
        zone = self._zone
        scopes = account.scopes
        return {
            "id": format_public_id(SocialAccount.ID_PREFIX, account.id),
            "workspaceId": self.get_workspaceId(account),
            "connectedBy": self.get_connectedBy(account),
            "platform": account.platform,
            "platformUserId": account.platform_user_id,
            "platformUsername": account.platform_username,
            "displayName": account.display_name,
            "avatarUrl": account.avatar_url,
            "accountType": account.account_type,
            "verified": account.verified,
            "status": account.status,
            "statusReason": account.status_reason,
            "scopes": None if scopes is None else [None if v is None else str(v) for v in scopes],
            "followerCount": account.follower_count,
            "connectedAt": wire_datetime(account.connected_at, zone),
            "lastRefreshedAt": wire_datetime(account.last_refreshed_at, zone),
            "tokenExpiresAt": wire_datetime(account.token_expires_at, zone),
            "lastRefreshAttemptAt": wire_datetime(account.last_refresh_attempt_at, zone),
            "lastRefreshError": account.last_refresh_error,
            "lastRefreshHttpStatus": account.last_refresh_http_status,
            "metadata": account.metadata,
            "defaultBoardId": self.get_defaultBoardId(account),
            "updatedAt": wire_datetime(account.updated_at, zone),
        }

    def get_workspaceId(self, account) -> str:
        return format_public_id(Workspace.ID_PREFIX, account.workspace_id)

    def get_connectedBy(self, account) -> str:
        return format_public_id(User.ID_PREFIX, account.user_id)

    def get_defaultBoardId(self, account) -> str | None:
        if account.platform != Platform.PINTEREST:
            return None
        board = (account.metadata or {}).get("default_board_id")
        return str(board) if board is not None else None


class SocialAccountsByPlatform(serializers.Serializer):
    socialAccounts = serializers.DictField(child=SocialAccountItem(many=True))


class UsageItem(serializers.Serializer):
    status = serializers.ChoiceField(choices=PostTarget.Status.choices)
    count = serializers.IntegerField()


class SocialAccountRead(serializers.Serializer):
    socialAccount = SocialAccountItem(source="account")
    usage = UsageItem(many=True)


class PurgedCounts(serializers.Serializer):
    metrics = serializers.IntegerField(source="purged_metrics")
    metricsSnapshots = serializers.IntegerField(source="purged_metrics_snapshots")
    inboxItems = serializers.IntegerField(source="purged_inbox_items")


class DisconnectReportResponse(serializers.Serializer):
    socialAccountId = serializers.CharField(source="social_account_id")
    status = serializers.SerializerMethodField()
    disconnectedReason = serializers.CharField(source="reason")
    canceledScheduledPosts = serializers.IntegerField(source="canceled_scheduled_posts")
    purged = PurgedCounts(source="*")
    disconnectedAt = serializers.DateTimeField(source="disconnected_at")
    dryRun = serializers.BooleanField(source="dry_run")

    def get_status(self, report) -> str:
        return "disconnected"


class LeaseReleaseResponse(DisconnectReportResponse):
    releasedLeases = serializers.IntegerField(source="released_leases")
