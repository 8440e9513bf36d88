"""Health endpoints: liveness, readiness (503 while draining or without a database) and the detailed report
with the database, Redis and Kubernetes checks, the provisioning semaphore and the circuit breakers (the composition
root asks the provisioning app directly)."""

import time
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import lifecycle, readings
from core.api import iso
from core.redis import get_redis
from provisioning import kubectl


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    result = check()
    result["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            return {"status": "healthy"}
        except Exception:
            return {"status": "unhealthy", "message": "Cannot connect to PostgreSQL"}

    return _timed(run)


def check_redis() -> dict[str, Any]:
    def run():
        try:
            get_redis().ping()
            return {"status": "healthy"}
        except Exception:
            return {"status": "unhealthy", "message": "Cannot connect to Redis"}

    return _timed(run)


def check_kubernetes() -> dict[str, Any]:
    return _timed(kubectl.health_check)


_CHECK = inline_serializer(
    "HealthCheck",
    {
        "status": serializers.ChoiceField(choices=["healthy", "unhealthy", "unknown"]),
        "latencyMs": serializers.FloatField(),
        "message": serializers.CharField(required=False),
        "context": serializers.CharField(required=False),
        "server": serializers.CharField(required=False),
    },
)
_HEALTH = inline_serializer(
    "HealthReport",
    {
        "requestId": serializers.CharField(),
        "status": serializers.ChoiceField(choices=["healthy", "degraded"]),
        "timestamp": serializers.DateTimeField(),
        "uptime": serializers.IntegerField(),
        "checks": inline_serializer("HealthChecks", {"database": _CHECK, "redis": _CHECK, "kubernetes": _CHECK}),
        "concurrency": serializers.DictField(),
        "circuitBreakers": serializers.ListField(child=serializers.DictField()),  # always present (config.readings)
    },
)


def _now() -> str | None:
    return iso(datetime.now(UTC))


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: _HEALTH, 503: _HEALTH}, tags=["health"])
    def get(self, request: Request) -> Response:
        checks = {"database": check_database(), "redis": check_redis(), "kubernetes": check_kubernetes()}
        degraded = any(c["status"] == "unhealthy" for c in checks.values())
        body: dict[str, Any] = {
            "status": "degraded" if degraded else "healthy",
            "timestamp": _now(),
            "uptime": int(time.monotonic() - lifecycle.STARTED_AT),
            "checks": checks,
            "concurrency": readings.semaphore_stats() or {},
            "circuitBreakers": readings.breaker_stats(),
        }
        return Response(body, status=503 if degraded else 200)


class LiveView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer("Live", {"requestId": serializers.CharField(), "status": serializers.CharField()})
        },
        tags=["health"],
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "alive"})


_READY = inline_serializer(
    "Ready",
    {
        "requestId": serializers.CharField(),
        "status": serializers.ChoiceField(choices=["ready", "not-ready", "shutting-down"]),
        "ready": serializers.BooleanField(),
        "timestamp": serializers.DateTimeField(),
    },
)


class ReadyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: _READY, 503: _READY}, tags=["health"])
    def get(self, request: Request) -> Response:
        if lifecycle.is_draining():
            return Response({"status": "shutting-down", "ready": False, "timestamp": _now()}, status=503)
        if check_database()["status"] != "healthy":
            return Response({"status": "not-ready", "ready": False, "timestamp": _now()}, status=503)
        return Response({"status": "ready", "ready": True, "timestamp": _now()})
