"""The workspace social-account API: for members (by role) and API keys (by scope)."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts import serializers as s
from accounts.models import ApiKey, Workspace
from accounts.policies import require_manager
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from accounts.services.leases import leased_account_release
from socialhub.api.idempotency import idempotent
from socialhub.api.permissions import IsUserOrScopedApiKey
from socialhub.api.ratelimit import rate_limit
from socialhub.api.validation import query_flag, query_public_id

from .common import caller_actor, social_account_id_from_path

DRY_RUN = OpenApiParameter(
    "dryRun", OpenApiTypes.BOOL, description="Report what would happen; change nothing."
)


class PartnerAPIView(APIView):
    permission_classes = [IsUserOrScopedApiKey]
    throttle_classes = [rate_limit("partner.social.write", methods=("DELETE",))]


def _account_to_disconnect(request, social_account_id: str, *, doing: str):
    """The caller, the dry-run flag, and the account if the caller may disconnect it."""
    actor = caller_actor(request)
    dry_run = query_flag(request, "dryRun")
    account = selectors.social_account_to_change_for_caller(
        actor=actor, account_id=social_account_id_from_path(social_account_id)
    )
    require_manager(role=account.caller_role, doing=doing)
    return actor, dry_run, account


def _disconnect_reason(actor) -> DisconnectReason:
    if actor.api_key is not None:
        return DisconnectReason.REVOKED_BY_PARTNER
    return DisconnectReason.REVOKED_BY_USER


class SocialAccountListView(PartnerAPIView):
    required_scopes = {"GET": ApiKey.Scope.SOCIAL_READ}

    @extend_schema(
        operation_id="social_accounts_list",
        parameters=[
            OpenApiParameter(
                "workspace", str, description="Only this workspace (ws_…) of the caller's."
            )
        ],
        responses=s.SocialAccountsByPlatform,
    )
    def get(self, request):
        workspace_id = query_public_id(request, "workspace", Workspace.ID_PREFIX)
        grouped = selectors.social_accounts_by_platform_for_caller(
            actor=caller_actor(request), workspace_id=workspace_id
        )
        return Response(s.SocialAccountsByPlatform({"socialAccounts": grouped}).data)


class SocialAccountDetailView(PartnerAPIView):
    required_scopes = {"GET": ApiKey.Scope.SOCIAL_READ, "DELETE": ApiKey.Scope.SOCIAL_WRITE}

    @extend_schema(responses=s.SocialAccountRead)
    def get(self, request, social_account_id: str):
        account = selectors.social_account_get_for_caller(
            actor=caller_actor(request),
            account_id=social_account_id_from_path(social_account_id),
        )
        usage = selectors.post_target_usage_for_account(account=account)
        return Response(s.SocialAccountRead({"account": account, "usage": usage}).data)

    @extend_schema(parameters=[DRY_RUN], responses={200: s.DisconnectReportResponse})
    @idempotent
    def delete(self, request, social_account_id: str):
        actor, dry_run, account = _account_to_disconnect(
            request, social_account_id, doing="disconnect accounts"
        )
        report = social_account_disconnect(
            account=account, actor=actor, reason=_disconnect_reason(actor), dry_run=dry_run
        )
        return Response(s.DisconnectReportResponse(report).data)


class LeasedAccountView(PartnerAPIView):
    required_scopes = {"DELETE": ApiKey.Scope.SOCIAL_WRITE}

    @extend_schema(parameters=[DRY_RUN], responses={200: s.LeaseReleaseResponse})
    @idempotent
    def delete(self, request, social_account_id: str):
        actor, dry_run, account = _account_to_disconnect(
            request, social_account_id, doing="release leases"
        )
        released = leased_account_release(account=account, actor=actor, dry_run=dry_run)
        report = {**asdict(released.disconnect), "released_leases": released.released_leases}
        return Response(s.LeaseReleaseResponse(report).data)
