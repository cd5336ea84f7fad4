"""The audit trail, for workspace owners and admins."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Workspace
from accounts.policies import require_manager
from accounts.selectors.audit import audit_event_list_for_manager
from accounts.selectors.workspaces import membership_get_for_user
from accounts.serializers.audit import AuditEventPage
from socialhub.api.pagination import PAGE_PARAMETERS, keyset_page
from socialhub.api.validation import query_datetime, query_public_id, single_query_value

FILTERS = [
    OpenApiParameter("workspace", str, description="Only this workspace (ws_…)."),
    OpenApiParameter("action", str, description="e.g. social_account.disconnected"),
    OpenApiParameter("createdAfter", OpenApiTypes.DATETIME, description="ISO-8601 date-time"),
    OpenApiParameter("createdBefore", OpenApiTypes.DATETIME, description="ISO-8601 date-time"),
    *PAGE_PARAMETERS,
]


class AuditEventListView(APIView):
    @extend_schema(operation_id="audit_events_list", parameters=FILTERS, responses=AuditEventPage)
    def get(self, request):
        """Newest first. Without ``workspace``: every workspace the caller owns or administers."""
        workspace_id = query_public_id(request, "workspace", Workspace.ID_PREFIX)
        if workspace_id is not None:
            membership = membership_get_for_user(user=request.user, workspace_id=workspace_id)
            require_manager(role=membership.role, doing="read the audit trail")
        events = audit_event_list_for_manager(
            user=request.user,
            workspace_id=workspace_id,
            action=single_query_value(request, "action"),
            created_after=query_datetime(request, "createdAfter"),
            created_before=query_datetime(request, "createdBefore"),
        )
        page = keyset_page(events, request=request, field="created_at", descending=True)
        return Response(AuditEventPage(page).data)
