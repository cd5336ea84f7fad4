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


class PublicAPIView(APIView):
    """No credentials needed (and a stale Authorization header is ignored)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class RegisterView(PublicAPIView):
    throttle_classes = [rate_limit("auth.register")]

    @extend_schema(request=s.RegisterRequest, responses={201: s.RegisterResponse})
    def post(self, request):
        body = s.RegisterRequest(data=request.data)
        body.is_valid(raise_exception=True)
        user = user_register(**body.validated_data)
        return Response(s.RegisterResponse(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAPIView):
    throttle_classes = [rate_limit("auth.login")]

    @extend_schema(request=s.LoginRequest, responses=s.TokenPairResponse)
    def post(self, request):
        body = s.LoginRequest(data=request.data)
        body.is_valid(raise_exception=True)
        pair = auth_login(**body.validated_data)
        return Response(s.TokenPairResponse(pair).data)


class RefreshView(PublicAPIView):
    throttle_classes = [rate_limit("auth.refresh")]

    @extend_schema(request=s.RefreshTokenRequest, responses=s.TokenPairResponse)
    def post(self, request):
        body = s.RefreshTokenRequest(data=request.data)
        body.is_valid(raise_exception=True)
        pair = auth_refresh(refresh_token=body.validated_data["refreshToken"])
        return Response(s.TokenPairResponse(pair).data)


class LogoutView(PublicAPIView):
    @extend_schema(request=s.RefreshTokenRequest, responses={200: None})
    def post(self, request):
        body = s.RefreshTokenRequest(data=request.data)
        body.is_valid(raise_exception=True)
        auth_logout(refresh_token=body.validated_data["refreshToken"])
        return Response(None)
