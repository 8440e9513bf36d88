"""Test-only URLs: the real ones plus routes that crash, to prove a 500 leaks nothing."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config.urls import urlpatterns as real


class BoomView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("secret-internal-detail in a DRF view")


def plain_boom(request):
    raise RuntimeError("secret-internal-detail in a plain view")


urlpatterns = [path("api/v1/boom", BoomView.as_view()), path("api/v1/plain-boom", plain_boom), *real]
