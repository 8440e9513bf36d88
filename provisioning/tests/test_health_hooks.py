"""What /api/v1/health shows from the provisioning engine: the concurrency block, the breakers and the
Kubernetes check (through the settings hooks config.health reads)."""

import json

import pytest

from provisioning import concurrency

pytestmark = pytest.mark.django_db


def test_health_shows_concurrency_breakers_and_an_unconfigured_cluster(api, settings):
    settings.KUBECONFIG = ""
    lease = concurrency.provisioning_semaphore().acquire("store-1:create")
    try:
        body = api.get("/api/v1/health").json()
    finally:
        lease.release()
    assert body["concurrency"]["active"] == 1
    assert body["concurrency"]["maxConcurrent"] == settings.PROVISIONING_MAX_CONCURRENT
    assert [b["name"] for b in body["circuitBreakers"]] == ["helm", "kubernetes"]
    assert body["checks"]["kubernetes"]["status"] == "unknown"


def test_health_reports_the_cluster_through_kubectl(api, settings, fake_kubectl):
    settings.KUBECONFIG = "/srv/kubeconfig"
    fake_kubectl(f"print({json.dumps(json.dumps({'serverVersion': {'gitVersion': 'v1.20.2'}}))})")
    response = api.get("/api/v1/health")
    kubernetes = response.json()["checks"]["kubernetes"]
    assert kubernetes["status"] == "healthy"
    assert kubernetes["server"] == "v1.20.2"
    assert kubernetes["latencyMs"] >= 0
    assert response.status_code == 200


def test_health_is_degraded_when_the_cluster_is_unreachable(api, settings, fake_kubectl):
    settings.KUBECONFIG = "/srv/kubeconfig"
    fake_kubectl("print('Unable to connect to the server: connection refused', file=sys.stderr); sys.exit(1)")
    response = api.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["checks"]["kubernetes"]["status"] == "unhealthy"


def test_health_still_renders_when_redis_is_down(api, settings):
    from core.redis import reset_redis_client
    from provisioning import breaker

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1 of loopback
    reset_redis_client()
    try:
        response = api.get("/api/v1/health")
        state = breaker.state_value("helm")
    finally:
        reset_redis_client()
    assert response.status_code == 503
    body = response.json()
    assert body["concurrency"]["error"] == "Redis unavailable"
    assert body["concurrency"]["maxConcurrent"] == settings.PROVISIONING_MAX_CONCURRENT
    assert {b["state"] for b in body["circuitBreakers"]} == {"UNKNOWN"}
    assert state == -1
