"""Workspaces, their members and their API keys: for signed-in users only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts import serializers as s
from accounts.policies import require_manager, require_may_grant
from accounts.services.actors import Actor
from accounts.services.api_keys import api_key_create, api_key_revoke
from accounts.services.workspaces import membership_add, workspace_create
from socialhub.api.idempotency import idempotent
from socialhub.api.permissions import IsUser
from socialhub.api.ratelimit import rate_limit
from socialhub.api.validation import validated_body

from .common import api_key_id_from_path, workspace_id_from_path

WRITE_LIMIT = rate_limit("workspace.write", methods=("POST", "DELETE"))


class IsWorkspaceMember(IsUser):
    """The caller's membership in the path's workspace (404 for non-members), and owner or
    admin for the view's ``manager_methods``. Checked before the handler, so a stored
    Idempotency-Key answer is never replayed to someone who has since lost access."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        membership = selectors.membership_get_for_user(
            user=request.user, workspace_id=workspace_id_from_path(view.kwargs["workspace_id"])
        )
        if request.method in view.manager_methods:
            require_manager(role=membership.role, doing=view.manager_doing)
        view.membership = membership
        return True


class WorkspaceScopedView(APIView):
    permission_classes = [IsWorkspaceMember]
    throttle_classes = [WRITE_LIMIT]
    manager_methods: frozenset[str] = frozenset()
    manager_doing = ""


class WorkspaceListView(APIView):
    throttle_classes = [WRITE_LIMIT]

    @extend_schema(responses=s.WorkspaceItem(many=True))
    def get(self, request):
        memberships = selectors.workspace_list_for_user(user=request.user)
        return Response(s.WorkspaceItem(memberships, many=True).data)

    @extend_schema(request=s.WorkspaceCreateRequest, responses={201: s.WorkspaceItem})
    @idempotent
    def post(self, request):
        body = validated_body(s.WorkspaceCreateRequest, request)
        membership = workspace_create(user=request.user, name=body["name"])
        return Response(s.WorkspaceItem(membership).data, status=status.HTTP_201_CREATED)


class WorkspaceMembersView(WorkspaceScopedView):
    manager_methods = frozenset({"POST"})
    manager_doing = "add members"

    @extend_schema(responses=s.MemberItem(many=True))
    def get(self, request, workspace_id: str):
        members = selectors.membership_list_for_workspace(workspace=self.membership.workspace)
        return Response(s.MemberItem(members, many=True).data)

    @extend_schema(request=s.MemberAddRequest, responses={201: s.MemberItem})
    @idempotent
    def post(self, request, workspace_id: str):
        membership = self.membership
        body = validated_body(s.MemberAddRequest, request)
        require_may_grant(granter_role=membership.role, role=body["role"])
        added = membership_add(
            workspace=membership.workspace,
            email=body["email"],
            role=body["role"],
            actor=Actor.for_user(request.user),
        )
        return Response(s.MemberItem(added).data, status=status.HTTP_201_CREATED)


class WorkspaceApiKeysView(WorkspaceScopedView):
    manager_methods = frozenset({"GET", "POST"})
    manager_doing = "manage API keys"

    @extend_schema(responses=s.ApiKeyItem(many=True))
    def get(self, request, workspace_id: str):
        keys = selectors.api_key_list_for_workspace(workspace=self.membership.workspace)
        return Response(s.ApiKeyItem(keys, many=True).data)

    @extend_schema(request=s.ApiKeyCreateRequest, responses={201: s.ApiKeyCreated})
    @idempotent
    def post(self, request, workspace_id: str):
        body = validated_body(s.ApiKeyCreateRequest, request)
        api_key, secret = api_key_create(
            workspace=self.membership.workspace,
            name=body["name"],
            scopes=body["scopes"],
            created_by=request.user,
        )
        api_key.key = secret
        return Response(s.ApiKeyCreated(api_key).data, status=status.HTTP_201_CREATED)


class WorkspaceApiKeyView(WorkspaceScopedView):
    manager_methods = frozenset({"DELETE"})
    manager_doing = "manage API keys"

    @extend_schema(responses={200: s.ApiKeyItem})
    @idempotent
    def delete(self, request, workspace_id: str, api_key_id: str):
        api_key = selectors.api_key_get_for_workspace(
            workspace=self.membership.workspace, api_key_id=api_key_id_from_path(api_key_id)
        )
        revoked = api_key_revoke(api_key=api_key, actor=Actor.for_user(request.user))
        return Response(s.ApiKeyItem(revoked).data)
