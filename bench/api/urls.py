"""The platform's URL map plus /bench/floor: a minimal Django view returning the same JSON as the measured endpoint,
without DRF, authentication or database access (the floor our endpoints are compared with)."""

import json
import os

from django.http import JsonResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as platform_urlpatterns

FLOOR_BODIES = json.loads(os.environ.get("BENCH_FLOOR_BODIES", "{}"))


def floor(request):
    return JsonResponse({"requestId": request.request_id, **FLOOR_BODIES.get(request.GET.get("for", ""), {})})


class DrfFloor(APIView):
    """The same JSON through DRF with no authentication (in-process diagnostics: DRF's own cost)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response(FLOOR_BODIES.get(request.GET.get("for", ""), {}))


class DrfAuthFloor(APIView):
    """The same JSON through DRF behind the API's JWT authentication (its cost: the token and the user's row)."""

    def get(self, request):
        return Response(FLOOR_BODIES.get(request.GET.get("for", ""), {}))


# Twice: outside /api/ (bare Django: no rate limit, no CORS) and inside it (the platform's whole middleware stack).
urlpatterns = [
    path("bench/floor", floor),
    path("api/v1/bench/floor", floor),
    path("api/v1/bench/drf-floor", DrfFloor.as_view()),
    path("api/v1/bench/drf-auth-floor", DrfAuthFloor.as_view()),
    *platform_urlpatterns,
]
