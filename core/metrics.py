"""The platform's Prometheus metrics (names, types, labels and buckets of the original, reference §8) and their
exposition. Provisioning code imports the objects below and updates them; in multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, shared by gunicorn workers and Celery workers) a scrape adds up every process.
Values read at scrape time (stores by status, breaker states) come from whoever renders the exposition (the
composition root, config.metrics_views, asks the apps), not from counters, so they are right whichever process
answers; this module imports no app."""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.core.cache.backends.redis import RedisCache
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROCESS_STARTED = time.time()

# --- HTTP (the original's own names; django-prometheus adds django_http_* beside them) ---
HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests.", ["method", "route", "status_code"])
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_ms",
    "HTTP request duration in milliseconds.",
    ["method", "route"],
    buckets=(5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)

# --- Provisioning (updated by provisioning/, in Celery workers) ---
STORE_PROVISIONING_DURATION = Histogram(
    "store_provisioning_duration_ms",
    "Time from the start of provisioning to ready, in milliseconds.",
    ["engine"],
    buckets=(5000, 10000, 30000, 60000, 120000, 300000, 600000),
)
STORE_PROVISIONING_STEP_DURATION = Histogram(
    "store_provisioning_step_duration_ms",
    "Duration of one provisioning or deletion step, in milliseconds.",
    ["engine", "step"],
    buckets=(500, 1000, 5000, 10000, 30000, 60000, 120000, 300000),
)
STORE_PROVISIONING_FAILURES = Counter(
    "store_provisioning_failures_total", "Provisioning failures by engine and step.", ["engine", "step"]
)
# livesum: a worker that died no longer counts as running anything.
ACTIVE_PROVISIONING_OPERATIONS = Gauge(
    "active_provisioning_operations", "Provisioning operations in progress.", multiprocess_mode="livesum"
)
# The semaphore lives in Redis: whoever observed it last has the current value.
PROVISIONING_QUEUE_DEPTH = Gauge(
    "provisioning_queue_depth", "Operations waiting for a provisioning slot.", multiprocess_mode="mostrecent"
)
PROVISIONING_CONCURRENT_OPERATIONS = Gauge(
    "provisioning_concurrent_operations", "Provisioning slots in use.", multiprocess_mode="mostrecent"
)
PROVISIONING_QUEUE_WAIT = Histogram(
    "provisioning_queue_wait_ms",
    "Time waited for a provisioning slot, in milliseconds.",
    buckets=(0, 100, 500, 1000, 5000, 10000, 30000, 60000, 120000),
)
PROVISIONING_REJECTIONS = Counter(
    "provisioning_rejections_total", "Provisioning requests refused by the semaphore.", ["reason"]
)
# 0 closed, 1 half-open, 2 open. Breakers set it on each transition; a scrape refreshes it from the breakers' stats.
CIRCUIT_BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "Circuit breaker state (0 closed, 1 half-open, 2 open).",
    ["name"],
    multiprocess_mode="mostrecent",
)
BREAKER_STATE_VALUES = {"CLOSED": 0, "HALF_OPEN": 1, "OPEN": 2}

# --- Security ---
SECURITY_EVENTS = Counter("security_events_total", "Security events by type.", ["event_type"])

# --- Route normalisation (bounded label cardinality) ---
_STORE_ID = re.compile(r"store-[0-9a-f]{8}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NUM = re.compile(r"/\d+(?=/|$)")
_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


def route_of(request: Any) -> str:
    """The URL pattern that matched (`/api/v1/stores/:id`), never the raw path: a scanner's random URLs all count
    as `unmatched`, so label values stay bounded."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if not route or getattr(match.func, "__name__", "") == "api_not_found":  # the API's catch-all 404
        return "unmatched"
    route = "/" + _CONVERTER.sub(lambda m: ":" + ("id" if m.group(1) in ("pk", "store_id") else m.group(1)), route)
    route = route.lstrip("^").replace("$", "")
    return _NUM.sub("/:num", _UUID.sub(":uuid", _STORE_ID.sub(":id", route)))


def observe_request(request: Any, status_code: int, duration_ms: float) -> str:
    route = route_of(request)
    HTTP_REQUESTS.labels(method=request.method, route=route, status_code=str(status_code)).inc()
    HTTP_REQUEST_DURATION.labels(method=request.method, route=route).observe(duration_ms)
    return route


def security_event_counted(event_type: str) -> None:
    SECURITY_EVENTS.labels(event_type=event_type).inc()


# --- Values computed at scrape time ---


StoreCounts = Callable[[], dict[str, int]]


class ScrapeTimeCollector(Collector):
    """stores_total (from `store_counts`, asked when Prometheus asks) and process_uptime_seconds."""

    def __init__(self, store_counts: StoreCounts) -> None:
        self.store_counts = store_counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        stores = GaugeMetricFamily("stores_total", "Stores by status.", labels=["status"])
        try:
            for status, n in sorted(self.store_counts().items()):
                stores.add_metric([status], n)
        except Exception:
            logger.warning("stores_total unavailable", exc_info=True)
        yield stores
        uptime = GaugeMetricFamily("process_uptime_seconds", "Seconds since this process started.")
        uptime.add_metric([], round(time.time() - PROCESS_STARTED, 3))
        yield uptime


def refresh_breaker_gauge(stats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """circuit_breaker_state{name} from the breakers' stats (each {"name", "state", ...}); returns them."""
    for breaker in stats:
        state = str(breaker.get("state", "")).upper()
        if "name" in breaker and state in BREAKER_STATE_VALUES:
            CIRCUIT_BREAKER_STATE.labels(name=str(breaker["name"])).set(BREAKER_STATE_VALUES[state])
    return stats


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render(*, store_counts: StoreCounts, breakers: list[dict[str, Any]]) -> bytes:
    """The whole exposition: every process's metrics (multiprocess mode) or this one's, plus scrape-time values
    (stores by status from `store_counts`, the breakers' current states)."""
    refresh_breaker_gauge(breakers)
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    scrape = CollectorRegistry()
    scrape.register(ScrapeTimeCollector(store_counts))
    return body + generate_latest(scrape)


# --- Multiprocess housekeeping (gunicorn hooks and Celery signals call these) ---


def reset_multiprocess_dir() -> None:
    """Empty the directory before the first process starts (a server start is a counter reset for Prometheus)."""
    path = multiprocess_dir()
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)


def mark_process_dead(pid: int) -> None:
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


# --- django-prometheus's cache metrics for Django's own Redis backend (its module needs django-redis) ---


class InstrumentedRedisCache(RedisCache):
    """django.core.cache.backends.redis.RedisCache counting gets, hits and misses as django-prometheus does."""

    def get(self, key, default=None, version=None):
        from django_prometheus.cache.metrics import (
            django_cache_get_fail_total,
            django_cache_get_total,
            django_cache_hits_total,
            django_cache_misses_total,
        )

        django_cache_get_total.labels(backend="redis").inc()
        try:
            value = super().get(key, default=None, version=version)
        except Exception:
            django_cache_get_fail_total.labels(backend="redis").inc()
            raise
        if value is None:
            django_cache_misses_total.labels(backend="redis").inc()
            return default
        django_cache_hits_total.labels(backend="redis").inc()
        return value
