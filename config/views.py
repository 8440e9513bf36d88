"""Project-level views: the API root (`GET /`), the API's 404 for unknown routes, and error pages."""

from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import error_body, not_found_error

ROOT_BODY = {
    "name": "Multi-Tenant Ecommerce Control Plane",
    "version": "1.0.0",
    "docs": "/api/v1/health",
    "endpoints": {"stores": "/api/v1/stores", "health": "/api/v1/health"},
}


class RootView(APIView):
    """The contract's `GET /` (CI uses it as a readiness check)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "Root",
                {
                    "requestId": serializers.CharField(),
                    "name": serializers.CharField(),
                    "version": serializers.CharField(),
                    "docs": serializers.CharField(),
                    "endpoints": serializers.DictField(child=serializers.CharField()),
                },
            )
        },
        tags=["health"],
    )
    def get(self, request: Request) -> Response:
        return Response(dict(ROOT_BODY))


def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    return JsonResponse(error_body(request, not_found_error(request)), status=404)
