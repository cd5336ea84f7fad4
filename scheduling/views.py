"""The scheduled-post API: for workspace members and for API keys with the posts scopes."""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey, SocialAccount, Workspace
from accounts.views.common import caller_actor
from socialhub.api.idempotency import idempotent
from socialhub.api.ids import parse_public_id
from socialhub.api.pagination import PAGE_PARAMETERS, keyset_page
from socialhub.api.permissions import IsUserOrScopedApiKey
from socialhub.api.ratelimit import rate_limit
from socialhub.api.validation import (
    query_choice,
    query_datetime,
    query_public_id,
    validated_body,
)

from . import selectors
from . import serializers as s
from .models import ScheduledPost
from .policies import require_may_change_post
from .services import scheduled_post_cancel, scheduled_post_create, scheduled_post_update

READ = ApiKey.Scope.POSTS_READ
WRITE = ApiKey.Scope.POSTS_WRITE


def scheduled_post_id_from_path(value: str) -> uuid.UUID:
    return parse_public_id(ScheduledPost.ID_PREFIX, value, field="scheduledPostId")


class ScheduledPostAccess(IsUserOrScopedApiKey):
    """For views on one post: the post as the caller sees it (404 otherwise) and, to change
    it, the right to (author, owner or admin; a key with the write scope). Checked before
    the handler, so a stored Idempotency-Key answer is never replayed to someone who has
    since lost access."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method == "OPTIONS" or not hasattr(view, request.method.lower()):
            return True  # DRF answers 405 for a method the view lacks
        actor = caller_actor(request)
        post = selectors.scheduled_post_get_for_caller(
            actor=actor, post_id=scheduled_post_id_from_path(view.kwargs["scheduled_post_id"])
        )
        if request.method not in SAFE_METHODS:
            require_may_change_post(actor=actor, post=post)
        view.actor, view.scheduled_post = actor, post
        return True


class ScheduledPostsAPIView(APIView):
    permission_classes = [IsUserOrScopedApiKey]
    throttle_classes = [rate_limit("posts.write", methods=("POST", "PATCH"))]


class ScheduledPostListView(ScheduledPostsAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="scheduled_posts_list",
        parameters=[
            OpenApiParameter(
                "workspace", str, description="Only this workspace (ws_…) of the caller's."
            ),
            OpenApiParameter(
                "status", str, enum=ScheduledPost.Status.values, description="Post status."
            ),
            OpenApiParameter(
                "socialAccountId", str, description="Only posts with a target on this sa_…."
            ),
            OpenApiParameter(
                "scheduledAfter",
                OpenApiTypes.DATETIME,
                description="scheduledAt at or after this (ISO-8601 with a timezone).",
            ),
            OpenApiParameter(
                "scheduledBefore",
                OpenApiTypes.DATETIME,
                description="scheduledAt before this (ISO-8601 with a timezone).",
            ),
            *PAGE_PARAMETERS,
        ],
        responses=s.ScheduledPostPage,
    )
    def get(self, request):
        posts = selectors.scheduled_posts_for_caller(
            actor=caller_actor(request),
            workspace_id=query_public_id(request, "workspace", Workspace.ID_PREFIX),
            status=query_choice(request, "status", ScheduledPost.Status.values),
            social_account_id=query_public_id(request, "socialAccountId", SocialAccount.ID_PREFIX),
            scheduled_after=query_datetime(request, "scheduledAfter"),
            scheduled_before=query_datetime(request, "scheduledBefore"),
        )
        page = keyset_page(posts, request=request, field="scheduled_at")
        return Response(s.ScheduledPostPage(page).data)

    @extend_schema(
        operation_id="scheduled_posts_create",
        request=s.ScheduledPostCreateRequest,
        responses={201: s.ScheduledPostItem},
    )
    @idempotent
    def post(self, request):
        body = validated_body(s.ScheduledPostCreateRequest, request)
        post = scheduled_post_create(
            actor=caller_actor(request),
            text=body["text"],
            scheduled_at=body["scheduledAt"],
            social_account_ids=body["socialAccountIds"],
            media_urls=body["mediaUrls"],
        )
        return Response(s.ScheduledPostItem(post).data, status=status.HTTP_201_CREATED)


class ScheduledPostDetailView(ScheduledPostsAPIView):
    permission_classes = [ScheduledPostAccess]
    required_scopes = {"GET": READ, "PATCH": WRITE}

    @extend_schema(operation_id="scheduled_posts_retrieve", responses=s.ScheduledPostItem)
    def get(self, request, scheduled_post_id: str):
        return Response(s.ScheduledPostItem(self.scheduled_post).data)

    @extend_schema(
        operation_id="scheduled_posts_update",
        request=s.ScheduledPostUpdateRequest,
        responses=s.ScheduledPostItem,
    )
    @idempotent
    def patch(self, request, scheduled_post_id: str):
        body = validated_body(s.ScheduledPostUpdateRequest, request)
        post = scheduled_post_update(
            post=self.scheduled_post,
            actor=self.actor,
            text=body.get("text"),
            scheduled_at=body.get("scheduledAt"),
            social_account_ids=body.get("socialAccountIds"),
            media_urls=body.get("mediaUrls"),
        )
        return Response(s.ScheduledPostItem(post).data)


class ScheduledPostCancelView(ScheduledPostsAPIView):
    permission_classes = [ScheduledPostAccess]
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="scheduled_posts_cancel", request=None, responses=s.ScheduledPostItem
    )
    @idempotent
    def post(self, request, scheduled_post_id: str):
        post = scheduled_post_cancel(post=self.scheduled_post, actor=self.actor)
        return Response(s.ScheduledPostItem(post).data)
