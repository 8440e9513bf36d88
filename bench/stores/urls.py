"""The real URLs plus a floor: a view that returns a prepared JSON body through the same middleware stack."""

import json

from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as real

FLOOR_BODY: dict[str, bytes] = {}


def floor(request, name):
    return HttpResponse(FLOOR_BODY[name], content_type="application/json")


urlpatterns = [path("bench/floor/<str:name>", floor), *real]


def set_floor(name: str, body: dict) -> None:
    FLOOR_BODY[name] = json.dumps(body).encode()
