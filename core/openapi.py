"""OpenAPI building blocks: the error envelope every route may answer with, described once."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

_DESCRIPTIONS = {
    400: "Validation failed (VALIDATION_ERROR), including malformed JSON and wrong types.",
    401: "Missing or invalid credentials.",
    403: "Authenticated, but not allowed (FORBIDDEN).",
    404: "No such store or route.",
    405: "Method not allowed on this route.",
    409: "Conflicts with the current state.",
    413: "Request body over 256 KB (PAYLOAD_TOO_LARGE).",
    423: "Account locked after repeated failed logins (ACCOUNT_LOCKED).",
    429: "Rate limit, store limit or creation cooldown.",
    503: "Not ready or degraded.",
}


class ErrorDetailSerializer(serializers.Serializer):
    message = serializers.CharField()
    path = serializers.ListField(child=serializers.CharField())
    type = serializers.CharField()
    context = serializers.DictField()


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    suggestion = serializers.CharField(required=False)
    retryable = serializers.BooleanField()
    details = ErrorDetailSerializer(many=True, required=False)
    retryAfterSeconds = serializers.IntegerField(required=False)


class ErrorEnvelopeSerializer(serializers.Serializer):
    requestId = serializers.CharField()
    error = ErrorSerializer()


class MessageResponse(serializers.Serializer):
    requestId = serializers.CharField()
    message = serializers.CharField()


def ERRORS(*statuses: int) -> dict[int, OpenApiResponse]:  # noqa: N802  (reads like a constant at call sites)
    """The error responses a route documents, all in the contract's envelope."""
    return {s: OpenApiResponse(ErrorEnvelopeSerializer, description=_DESCRIPTIONS.get(s, "")) for s in statuses}


class BearerJWTScheme(OpenApiAuthenticationExtension):
    """Documents the API's bearer JWT so clients (and the fuzzer) know which operations take a token."""

    target_class = "accounts.authentication.BearerJWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
