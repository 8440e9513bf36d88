"""Metric routes: admin-only /api/v1/metrics (Prometheus text) and /api/v1/metrics/json (process and breaker stats),
and /metrics for in-cluster scraping with a bearer METRICS_TOKEN (404 while no token is configured)."""

from __future__ import annotations

import hmac
import os
import resource
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import readings
from core import metrics
from core.api import error_response, iso, not_found_error
from core.openapi import ERRORS

ADMIN_REQUIRED = "Access denied. Required role: admin."


class IsAdminRole(permissions.BasePermission):
    message = ADMIN_REQUIRED

    def has_permission(self, request, view) -> bool:
        return getattr(request.user, "role", None) == "admin"


class FirstRendererNegotiation(BaseContentNegotiation):
    """The metrics routes answer one format whatever Accept says (Prometheus sends text/plain;version=0.0.4 or
    openmetrics), and their errors stay JSON envelopes."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _vms_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _breaker(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "state", "failureCount", "successCount", "failureThreshold", "resetTimeoutMs", "lastFailureTime")
    return {k: entry.get(k) for k in keys}


def process_stats() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "uptime": int(time.time() - metrics.PROCESS_STARTED),
        # Node's keys where Python has an equivalent: rss; the heap ones have none and are left out.
        "memoryUsage": {"rss": _rss_bytes(), "vms": _vms_bytes(), "maxRss": usage.ru_maxrss * 1024},
        # microseconds, as Node's process.cpuUsage()
        "cpuUsage": {"user": int(usage.ru_utime * 1_000_000), "system": int(usage.ru_stime * 1_000_000)},
    }


def render() -> bytes:
    """The Prometheus exposition with this moment's stores by status and breaker states."""
    return metrics.render(store_counts=readings.store_counts, breakers=readings.breaker_stats())


class CircuitBreakerStats(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=["CLOSED", "OPEN", "HALF_OPEN"])
    failureCount = serializers.IntegerField()
    successCount = serializers.IntegerField()
    failureThreshold = serializers.IntegerField()
    resetTimeoutMs = serializers.IntegerField()
    lastFailureTime = serializers.IntegerField(allow_null=True, help_text="Epoch milliseconds.")


class MetricsView(APIView):
    permission_classes = [permissions.IsAuthenticated, IsAdminRole]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Prometheus text format 0.0.4."),
            **ERRORS(401, 403),
        },
        tags=["metrics"],
    )
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(render(), content_type=metrics.CONTENT_TYPE)


class MetricsJsonView(APIView):
    permission_classes = [permissions.IsAuthenticated, IsAdminRole]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        responses={
            200: inline_serializer(
                "MetricsJson",
                {
                    "requestId": serializers.CharField(),
                    "uptime": serializers.IntegerField(),
                    "memoryUsage": serializers.DictField(child=serializers.IntegerField()),
                    "cpuUsage": serializers.DictField(child=serializers.IntegerField()),
                    "circuitBreakers": CircuitBreakerStats(many=True),
                    "timestamp": serializers.DateTimeField(),
                },
            ),
            **ERRORS(401, 403),
        },
        tags=["metrics"],
    )
    def get(self, request: Request) -> Response:
        breakers = [_breaker(b) for b in metrics.refresh_breaker_gauge(readings.breaker_stats())]
        return Response({**process_stats(), "circuitBreakers": breakers, "timestamp": iso(datetime.now(UTC))})


def scrape(request: HttpRequest) -> HttpResponse:
    """GET /metrics for Prometheus inside the cluster. No METRICS_TOKEN configured: 404 (the route does not exist
    to the outside). Missing or wrong bearer token: 401. The comparison is constant-time."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if not token:
        return error_response(request, 404, **_pop(not_found_error(request)))
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header.startswith("Bearer ") else ""
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        response = error_response(
            request, 401, "UNAUTHORIZED", "Authentication required. Please provide a valid Bearer token."
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if request.method not in ("GET", "HEAD"):
        return error_response(request, 405, "METHOD_NOT_ALLOWED", f"Method {request.method} is not allowed.")
    return HttpResponse(render(), content_type=metrics.CONTENT_TYPE)


def _pop(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": error["code"],
        "message": error["message"],
        "suggestion": error.get("suggestion"),
        "retryable": error["retryable"],
    }
