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
from socialhub.api.ratelimit import rate_limit
from socialhub.api.validation import validated_body

from .common import api_key_id_from_path, workspace_id_from_path

WRITE_LIMIT = rate_limit("workspace.write", methods=("POST", "DELETE"))


def _membership(request, workspace_id: str):
    return selectors.membership_get_for_user(
        user=request.user, workspace_id=workspace_id_from_path(workspace_id)
    )


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


class WorkspaceMembersView(APIView):
    throttle_classes = [WRITE_LIMIT]

    @extend_schema(responses=s.MemberItem(many=True))
    def get(self, request, workspace_id: str):
        membership = _membership(request, workspace_id)
        members = selectors.membership_list_for_workspace(workspace=membership.workspace)
        return Response(s.MemberItem(members, many=True).data)

    @extend_schema(request=s.MemberAddRequest, responses={201: s.MemberItem})
    @idempotent
    def post(self, request, workspace_id: str):
        membership = _membership(request, workspace_id)
        body = validated_body(s.MemberAddRequest, request)
        require_may_grant(granter_role=membership.role, role=body["role"])
        added = membership_add(
            workspace=membership.workspace,
            email=body["email"],
            role=body["role"],
            actor=Actor.for_user(request.user),
        )
        return Response(s.MemberItem(added).data, status=status.HTTP_201_CREATED)


class WorkspaceApiKeysView(APIView):
    throttle_classes = [WRITE_LIMIT]

    @extend_schema(responses=s.ApiKeyItem(many=True))
    def get(self, request, workspace_id: str):
        membership = _membership(request, workspace_id)
        require_manager(role=membership.role, doing="see API keys")
        keys = selectors.api_key_list_for_workspace(workspace=membership.workspace)
        return Response(s.ApiKeyItem(keys, many=True).data)

    @extend_schema(request=s.ApiKeyCreateRequest, responses={201: s.ApiKeyCreated})
    @idempotent
    def post(self, request, workspace_id: str):
        membership = _membership(request, workspace_id)
        require_manager(role=membership.role, doing="create API keys")
        body = validated_body(s.ApiKeyCreateRequest, request)
        api_key, secret = api_key_create(
            workspace=membership.workspace,
            name=body["name"],
            scopes=body["scopes"],
            created_by=request.user,
        )
        api_key.key = secret
        return Response(s.ApiKeyCreated(api_key).data, status=status.HTTP_201_CREATED)


class WorkspaceApiKeyView(APIView):
    throttle_classes = [WRITE_LIMIT]

    @extend_schema(responses=s.ApiKeyItem)
    @idempotent
    def delete(self, request, workspace_id: str, api_key_id: str):
        membership = _membership(request, workspace_id)
        require_manager(role=membership.role, doing="revoke API keys")
        api_key = selectors.api_key_get_for_workspace(
            workspace=membership.workspace, api_key_id=api_key_id_from_path(api_key_id)
        )
        revoked = api_key_revoke(api_key=api_key, actor=Actor.for_user(request.user))
        return Response(s.ApiKeyItem(revoked).data)
