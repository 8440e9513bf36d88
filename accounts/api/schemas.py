"""Response shapes of the auth routes, for the OpenAPI document (the views build plain dicts)."""

from rest_framework import serializers

from core.openapi import MessageResponse


class UserSummary(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=["admin", "tenant"])


class UserDetail(UserSummary):
    createdAt = serializers.DateTimeField()


class AuthResponse(serializers.Serializer):
    requestId = serializers.CharField()
    message = serializers.CharField()
    user = UserSummary()
    token = serializers.CharField(help_text="Access token (JWT, 24 h): send as `Authorization: Bearer <token>`.")
    refresh = serializers.CharField(help_text="Refresh token for /auth/refresh and /auth/logout.")


class MeResponse(serializers.Serializer):
    requestId = serializers.CharField()
    user = UserDetail()


class PropagationDetail(serializers.Serializer):
    storeId = serializers.CharField()
    success = serializers.BooleanField()
    reason = serializers.CharField(required=False)


class Propagation(serializers.Serializer):
    totalStores = serializers.IntegerField()
    successful = serializers.IntegerField()
    failed = serializers.IntegerField()
    details = PropagationDetail(many=True)


class PasswordResponse(MessageResponse):
    propagation = Propagation()


class RefreshResponse(serializers.Serializer):
    requestId = serializers.CharField()
    token = serializers.CharField()


__all__ = ["AuthResponse", "MeResponse", "MessageResponse", "PasswordResponse", "RefreshResponse"]
