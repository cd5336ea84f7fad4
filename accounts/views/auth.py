"""Register, log in, refresh, log out."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import serializers as s
from accounts.services.auth import auth_login, auth_logout, auth_refresh
from accounts.services.users import user_register
from socialhub.api.ratelimit import rate_limit
from socialhub.api.validation import validated_body


class PublicAPIView(APIView):
    """No credentials needed (and a stale Authorization header is ignored)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class RegisterView(PublicAPIView):
    throttle_classes = [rate_limit("auth.register")]

    @extend_schema(request=s.RegisterRequest, responses={201: s.RegisterResponse})
    def post(self, request):
        body = validated_body(s.RegisterRequest, request)
        user = user_register(**body)
        return Response(s.RegisterResponse(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAPIView):
    throttle_classes = [rate_limit("auth.login")]

    @extend_schema(request=s.LoginRequest, responses=s.TokenPairResponse)
    def post(self, request):
        body = validated_body(s.LoginRequest, request)
        pair = auth_login(**body)
        return Response(s.TokenPairResponse(pair).data)


class RefreshView(PublicAPIView):
    throttle_classes = [rate_limit("auth.refresh")]

    @extend_schema(request=s.RefreshTokenRequest, responses=s.TokenPairResponse)
    def post(self, request):
        body = validated_body(s.RefreshTokenRequest, request)
        pair = auth_refresh(refresh_token=body["refreshToken"])
        return Response(s.TokenPairResponse(pair).data)


class LogoutView(PublicAPIView):
    @extend_schema(request=s.RefreshTokenRequest, responses={200: None})
    def post(self, request):
        body = validated_body(s.RefreshTokenRequest, request)
        auth_logout(refresh_token=body["refreshToken"])
        return Response(None)
