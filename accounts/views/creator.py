"""The creator-facing social API: list, connect (OAuth), disconnect, profile."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts import serializers as s
from accounts.services.actors import Actor
from accounts.services.connect import (
    social_account_connect_complete,
    social_account_connect_start,
)
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from socialhub.api.errors import ApplicationError, ErrorCode
from socialhub.api.idempotency import idempotent
from socialhub.api.ratelimit import rate_limit
from socialhub.api.validation import validated_body


class CreatorSocialListView(APIView):
    @extend_schema(responses=s.CreatorSocialItem(many=True))
    def get(self, request):
        rows = selectors.social_account_list_for_creator(user=request.user)
        return Response(s.CreatorSocialItem(rows, many=True).data)


class CreatorSocialConnectStartView(APIView):
    throttle_classes = [rate_limit("creator.social.connect")]

    @extend_schema(request=s.ConnectStartRequest, responses=s.ConnectStartResponse)
    @idempotent(atomic=False)  # some platforms are called to build the URL (Bluesky's PAR)
    def post(self, request):
        body = validated_body(s.ConnectStartRequest, request)
        start = social_account_connect_start(
            user=request.user,
            platform=body["platform"],
            redirect_uri=body["redirectUri"],
            workspace_id=body.get("workspace"),
        )
        return Response(s.ConnectStartResponse(start).data)


class CreatorSocialConnectView(APIView):
    throttle_classes = [rate_limit("creator.social.connect")]

    @extend_schema(request=s.ConnectRequest, responses=s.ConnectResponse)
    @idempotent(atomic=False)  # exchanges the code with the platform during the work
    def post(self, request):
        body = validated_body(s.ConnectRequest, request)
        result = social_account_connect_complete(user=request.user, **body)
        return Response(s.ConnectResponse(result).data)


class CreatorSocialDisconnectView(APIView):
    throttle_classes = [rate_limit("creator.social.disconnect")]

    @extend_schema(request=s.DisconnectRequest, responses={200: None})
    @idempotent
    def post(self, request):
        body = validated_body(s.DisconnectRequest, request)
        account = selectors.social_account_get_for_creator(
            user=request.user, platform=body["platform"]
        )
        try:
            social_account_disconnect(
                account=account,
                actor=Actor.for_user(request.user),
                reason=DisconnectReason.REVOKED_BY_USER,
            )
        except ApplicationError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
            # A concurrent disconnect committed between the lookup and the lock: answer
            # what a second call answers.
            raise selectors.creator_social_not_found(body["platform"]) from None
        return Response(None)


class CreatorProfileView(APIView):
    @extend_schema(responses=s.CreatorProfileResponse)
    def get(self, request):
        profile = selectors.creator_profile_get(user=request.user)
        return Response(s.CreatorProfileResponse(profile).data)
