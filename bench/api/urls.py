"""The platform's URL map plus /bench/floor: a minimal Django view returning a small JSON body without DRF,
authentication or database access, served by the same gunicorn and middleware (the floor endpoints are compared
with in the same run)."""

from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as platform_urlpatterns


def floor(request):
    return JsonResponse({"requestId": request.request_id, "status": "ok"})


urlpatterns = [path("bench/floor", floor), *platform_urlpatterns]
