"""Health, liveness and readiness."""

import pytest

from config import lifecycle

pytestmark = pytest.mark.django_db


def test_health_reports_database_and_redis_with_latency(api):
    response = api.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    for name in ("database", "redis"):
        assert body["checks"][name]["status"] == "healthy"
        assert body["checks"][name]["latencyMs"] >= 0
    assert body["checks"]["kubernetes"]["status"] in {"healthy", "unknown"}
    assert isinstance(body["uptime"], int)
    assert body["timestamp"].endswith("Z")


def test_health_is_503_when_redis_is_unreachable(api, settings):
    from core.redis import reset_redis_client

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1 of loopback
    reset_redis_client()
    try:
        response = api.get("/api/v1/health")
    finally:
        reset_redis_client()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == {**body["checks"]["redis"], "status": "unhealthy"}


def test_live(api):
    response = api.get("/api/v1/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "alive"


def test_ready_then_draining(api):
    response = api.get("/api/v1/health/ready")
    assert response.status_code == 200
    assert response.json()["ready"] is True
    lifecycle.start_draining()
    try:
        response = api.get("/api/v1/health/ready")
    finally:
        lifecycle._draining.clear()
    assert response.status_code == 503
    assert response.json() == {**response.json(), "status": "shutting-down", "ready": False}


def test_sigterm_handler_marks_draining_and_chains_to_the_server(monkeypatch):
    import signal

    called = []
    monkeypatch.setattr(signal, "getsignal", lambda sig: lambda s, f: called.append(s))
    installed = {}
    monkeypatch.setattr(signal, "signal", lambda sig, handler: installed.setdefault(sig, handler))
    lifecycle.install_drain_handler()
    try:
        installed[signal.SIGTERM](signal.SIGTERM, None)
        assert lifecycle.is_draining()
        assert called == [signal.SIGTERM]
    finally:
        lifecycle._draining.clear()
