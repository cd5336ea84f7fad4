"""Webhook endpoints and their deliveries: for the owners and admins of a workspace."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import serializers as s
from accounts.models import WebhookEndpoint, Workspace
from accounts.policies import require_manager
from accounts.selectors.webhooks import (
    webhook_delivery_list_for_endpoint,
    webhook_endpoint_get_for_user,
    webhook_endpoint_list_for_manager,
    webhook_not_found,
    webhook_workspace_membership_get,
)
from accounts.services.actors import Actor
from accounts.services.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_enable,
)
from socialhub.api.errors import ApplicationError
from socialhub.api.idempotency import idempotent
from socialhub.api.ids import parse_public_id
from socialhub.api.pagination import PAGE_PARAMETERS, keyset_page
from socialhub.api.permissions import IsUser
from socialhub.api.ratelimit import rate_limit
from socialhub.api.validation import query_public_id, validated_body

DOING = "manage webhooks"


def _webhook_id_from_path(value: str) -> uuid.UUID:
    return parse_public_id(WebhookEndpoint.ID_PREFIX, value, field="webhookId")


class ManagesWebhooks(IsUser):
    """Owner or admin of the workspace concerned: 404 for non-members, 403 for members.

    Checked before the handler, so a stored Idempotency-Key answer (a create's holds the
    signing secret) is never replayed to someone who has since lost access. The view's
    ``authorize(request)`` finds the workspace or endpoint and keeps it on the view.
    """

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        view.authorize(request)
        return True


class WebhookView(APIView):
    permission_classes = [ManagesWebhooks]
    throttle_classes = [rate_limit("workspace.write", methods=("POST", "DELETE"))]


def _managed_membership(request, workspace_id: uuid.UUID | None):
    membership = webhook_workspace_membership_get(user=request.user, workspace_id=workspace_id)
    require_manager(role=membership.role, doing=DOING)
    return membership


class WebhookListView(WebhookView):
    workspace_id: uuid.UUID | None = None

    def authorize(self, request) -> None:
        if request.method == "POST":
            # The workspace is read from the body here; the rest of it is validated later.
            raw = request.data.get("workspace") if isinstance(request.data, dict) else None
            workspace_id = (
                None
                if raw is None
                else parse_public_id(Workspace.ID_PREFIX, raw, field="workspace")
            )
            self.membership = _managed_membership(request, workspace_id)
            return
        workspace_id = query_public_id(request, "workspace", Workspace.ID_PREFIX)
        if workspace_id is not None:
            self.workspace_id = _managed_membership(request, workspace_id).workspace_id

    @extend_schema(
        operation_id="webhooks_list",
        parameters=[
            OpenApiParameter(
                "workspace",
                str,
                description="Only this workspace (ws_…); default: every workspace you own "
                "or administer.",
            )
        ],
        responses=s.WebhookList,
    )
    def get(self, request):
        endpoints = webhook_endpoint_list_for_manager(
            user=request.user, workspace_id=self.workspace_id
        )
        return Response(s.WebhookList({"webhooks": endpoints}).data)

    @extend_schema(request=s.WebhookCreateRequest, responses={201: s.WebhookCreated})
    @idempotent
    def post(self, request):
        body = validated_body(s.WebhookCreateRequest, request)
        endpoint, secret = webhook_endpoint_create(
            workspace=self.membership.workspace,
            url=body["url"],
            events=body["events"],
            description=body["description"],
            created_by=request.user,
        )
        endpoint.secret = secret
        return Response(s.WebhookCreated(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointView(WebhookView):
    """A view of one endpoint named in the path."""

    endpoint: WebhookEndpoint | None = None

    def authorize(self, request) -> None:
        endpoint_id = _webhook_id_from_path(self.kwargs["webhook_id"])
        try:
            endpoint = webhook_endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
        except ApplicationError:
            if request.method == "DELETE":
                # Gone: a retried DELETE under its Idempotency-Key replays the first answer;
                # without one the handler answers 404.
                return
            raise
        require_manager(role=endpoint.caller_role, doing=DOING)
        self.endpoint = endpoint


class WebhookDetailView(WebhookEndpointView):
    @extend_schema(responses=s.WebhookItem)
    def get(self, request, webhook_id: str):
        return Response(s.WebhookItem(self.endpoint).data)

    @extend_schema(responses={200: s.WebhookItem})
    @idempotent
    def delete(self, request, webhook_id: str):
        if self.endpoint is None:
            raise webhook_not_found()
        deleted = webhook_endpoint_delete(
            endpoint=self.endpoint, actor=Actor.for_user(request.user)
        )
        return Response(s.WebhookItem(deleted).data)


class WebhookEnableView(WebhookEndpointView):
    @extend_schema(request=None, responses={200: s.WebhookItem})
    @idempotent
    def post(self, request, webhook_id: str):
        enabled = webhook_endpoint_enable(
            endpoint=self.endpoint, actor=Actor.for_user(request.user)
        )
        return Response(s.WebhookItem(enabled).data)


class WebhookDeliveryListView(WebhookEndpointView):
    @extend_schema(
        operation_id="webhook_deliveries_list",
        parameters=PAGE_PARAMETERS,
        responses=s.WebhookDeliveryPage,
    )
    def get(self, request, webhook_id: str):
        """Newest first."""
        deliveries = webhook_delivery_list_for_endpoint(endpoint=self.endpoint)
        page = keyset_page(deliveries, request=request, field="created_at", descending=True)
        return Response(s.WebhookDeliveryPage(page).data)
