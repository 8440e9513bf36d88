"""The auth routes of the contract (§1.4 #1-#4) plus refresh and logout."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import lockout, services
from accounts.api import schemas
from accounts.api.serializers import (
    ChangePasswordSerializer,
    LoginSerializer,
    RefreshSerializer,
    RegisterSerializer,
    user_detail,
    user_summary,
)
from core.openapi import ERRORS


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=RegisterSerializer, responses={201: schemas.AuthResponse, **ERRORS(400, 409, 413, 429)}, tags=["auth"]
    )
    def post(self, request: Request) -> Response:
        lockout.registration_guard(request._request)  # before parsing: malformed attempts count too (contract)
        data = RegisterSerializer.parse(request.data)
        user = services.user_register(**data, request=request._request)
        return Response(_signed_in("Registration successful.", user), status=status.HTTP_201_CREATED)


def _signed_in(message: str, user) -> dict:
    """The body of register and login (the contract's AuthResponse): the user and a fresh token pair."""
    tokens = services.tokens_for(user)
    return {"message": message, "user": user_summary(user), "token": tokens.access, "refresh": tokens.refresh}


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=LoginSerializer, responses={200: schemas.AuthResponse, **ERRORS(400, 401, 413, 423, 429)}, tags=["auth"]
    )
    def post(self, request: Request) -> Response:
        data = LoginSerializer.parse(request.data)
        user = services.user_authenticate(request=request._request, email=data["email"], password=data["password"])
        return Response(_signed_in("Login successful.", user))


class MeView(APIView):
    @extend_schema(responses={200: schemas.MeResponse, **ERRORS(401)}, tags=["auth"])
    def get(self, request: Request) -> Response:
        return Response({"user": user_detail(request.user)})


class PasswordView(APIView):
    @extend_schema(
        request=ChangePasswordSerializer,
        responses={200: schemas.PasswordResponse, **ERRORS(400, 401, 413)},
        tags=["auth"],
    )
    def patch(self, request: Request) -> Response:
        data = ChangePasswordSerializer.parse(request.data)
        propagation = services.user_change_password(
            user=request.user, current_password=data["currentPassword"], new_password=data["newPassword"]
        )
        return Response({"message": "Password changed successfully.", "propagation": propagation})


class RefreshView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=RefreshSerializer, responses={200: schemas.RefreshResponse, **ERRORS(400, 401)}, tags=["auth"]
    )
    def post(self, request: Request) -> Response:
        data = RefreshSerializer.parse(request.data)
        return Response({"token": services.token_refresh(refresh=data["refresh"])})


class LogoutView(APIView):
    @extend_schema(
        request=RefreshSerializer, responses={200: schemas.MessageResponse, **ERRORS(400, 401)}, tags=["auth"]
    )
    def post(self, request: Request) -> Response:
        data = RefreshSerializer.parse(request.data)
        services.token_revoke(refresh=data["refresh"], user=request.user)
        return Response({"message": "Logged out."})
