"""The metric routes as an operator uses them: who may read them, the exposition format, the platform metrics of
the original (names, labels, buckets), values computed at scrape time, and numbers from other processes."""

import os
import subprocess
import sys
import textwrap

import pytest
from prometheus_client.parser import text_string_to_metric_families

from accounts.tests.factories import DEFAULT_PASSWORD
from core import metrics

pytestmark = pytest.mark.django_db

PLATFORM_METRICS = {
    "http_requests": "counter",
    "http_request_duration_ms": "histogram",
    "stores_total": "gauge",
    "store_provisioning_duration_ms": "histogram",
    "store_provisioning_step_duration_ms": "histogram",
    "store_provisioning_failures": "counter",
    "security_events": "counter",
    "active_provisioning_operations": "gauge",
    "provisioning_queue_depth": "gauge",
    "provisioning_concurrent_operations": "gauge",
    "provisioning_queue_wait_ms": "histogram",
    "provisioning_rejections": "counter",
    "process_uptime_seconds": "gauge",
    "circuit_breaker_state": "gauge",
}

BREAKERS = [
    {
        "name": "helm",
        "state": "OPEN",
        "failureCount": 5,
        "successCount": 0,
        "failureThreshold": 5,
        "resetTimeoutMs": 30000,
        "lastFailureTime": 1764000000000,
    },
    {
        "name": "kubernetes",
        "state": "CLOSED",
        "failureCount": 0,
        "successCount": 3,
        "failureThreshold": 5,
        "resetTimeoutMs": 30000,
        "lastFailureTime": None,
    },
]


@pytest.fixture
def fake_breakers(monkeypatch):
    """The provisioning app's breakers report BREAKERS (helm open, kubernetes closed)."""
    from provisioning import breaker

    monkeypatch.setattr(breaker, "all_stats", lambda: BREAKERS)


def families(response):
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def sample(fams, family, sample_name, **labels):
    for s in fams[family].samples:
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def touch_every_metric():
    """Provisioning code is not on this branch: give every labelled metric one sample, as it would."""
    metrics.STORE_PROVISIONING_DURATION.labels(engine="woocommerce").observe(42000)
    metrics.STORE_PROVISIONING_STEP_DURATION.labels(engine="woocommerce", step="helm_install").observe(7000)
    metrics.STORE_PROVISIONING_FAILURES.labels(engine="medusa", step="pod_readiness").inc()
    metrics.PROVISIONING_REJECTIONS.labels(reason="queue_full").inc()
    metrics.PROVISIONING_QUEUE_WAIT.observe(250)
    metrics.ACTIVE_PROVISIONING_OPERATIONS.inc()
    metrics.ACTIVE_PROVISIONING_OPERATIONS.dec()
    metrics.PROVISIONING_QUEUE_DEPTH.set(2)
    metrics.PROVISIONING_CONCURRENT_OPERATIONS.set(3)
    metrics.security_event_counted("registration")


class TestAccess:
    @pytest.mark.parametrize("path", ["/api/v1/metrics", "/api/v1/metrics/json"])
    def test_anonymous_gets_401(self, api, path):
        response = api.get(path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UNAUTHORIZED"

    @pytest.mark.parametrize("path", ["/api/v1/metrics", "/api/v1/metrics/json"])
    def test_a_tenant_gets_403_with_the_contract_message(self, tenant_api, path):
        response = tenant_api.get(path)
        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": "FORBIDDEN",
            "message": "Access denied. Required role: admin.",
            "retryable": False,
        }

    def test_an_admin_gets_prometheus_text_whatever_the_accept_header(self, admin_api):
        response = admin_api.get("/api/v1/metrics", HTTP_ACCEPT="text/plain")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "# TYPE process_uptime_seconds gauge" in response.content.decode()


class TestScrapeRoute:
    def test_without_a_configured_token_it_does_not_exist(self, api, settings):
        settings.METRICS_TOKEN = ""
        response = api.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"

    @pytest.mark.parametrize("header", [None, "Bearer wrong-token-value", "Basic c2NyYXBlOnRva2Vu", "scrape-token-1"])
    def test_a_missing_or_wrong_token_gets_401(self, api, settings, header):
        settings.METRICS_TOKEN = "scrape-token-1"
        extra = {"HTTP_AUTHORIZATION": header} if header else {}
        response = api.get("/metrics", **extra)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "scrape-token-1" not in response.content.decode()

    def test_the_right_token_gets_the_exposition(self, api, settings):
        settings.METRICS_TOKEN = "scrape-token-1"
        response = api.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-1")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "stores_total" in families(response)


class TestExposition:
    def test_every_platform_metric_is_there_with_its_type(self, admin_api, fake_breakers):
        touch_every_metric()
        admin_api.get("/api/v1/auth/me")
        fams = families(admin_api.get("/api/v1/metrics"))
        for name, kind in PLATFORM_METRICS.items():
            assert name in fams, name
            assert fams[name].type == kind, name

    def test_histograms_have_the_original_buckets(self, admin_api):
        touch_every_metric()
        admin_api.get("/api/v1/auth/me")
        fams = families(admin_api.get("/api/v1/metrics"))

        def buckets(family):
            return sorted({float(s.labels["le"]) for s in fams[family].samples if s.name.endswith("_bucket")})

        inf = float("inf")
        assert buckets("http_request_duration_ms") == [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, inf]
        assert buckets("store_provisioning_duration_ms") == [5000, 10000, 30000, 60000, 120000, 300000, 600000, inf]
        assert buckets("store_provisioning_step_duration_ms") == [
            500, 1000, 5000, 10000, 30000, 60000, 120000, 300000, inf,
        ]  # fmt: skip
        assert buckets("provisioning_queue_wait_ms") == [0, 100, 500, 1000, 5000, 10000, 30000, 60000, 120000, inf]

    def test_requests_are_counted_by_route_pattern_and_status(self, admin_api, api):
        fams = families(admin_api.get("/api/v1/metrics"))
        before = sample(fams, "http_requests", "http_requests_total", route="/api/v1/auth/me", status_code="401") or 0
        api.get("/api/v1/auth/me")
        api.get("/api/v1/auth/me")
        api.get("/api/v1/no-such-route-123")
        fams = families(admin_api.get("/api/v1/metrics"))
        after = sample(
            fams, "http_requests", "http_requests_total", method="GET", route="/api/v1/auth/me", status_code="401"
        )
        assert after == before + 2
        routes = {s.labels["route"] for s in fams["http_requests"].samples}
        assert "/api/v1/no-such-route-123" not in routes
        assert "unmatched" in routes

    def test_security_events_are_counted_by_type(self, admin_api, api, tenant):
        def failed():
            fams = families(admin_api.get("/api/v1/metrics"))
            return sample(fams, "security_events", "security_events_total", event_type="login_failed") or 0

        before = failed()
        api.post("/api/v1/auth/login", {"email": tenant.email, "password": "nope-nope"}, format="json")
        api.post("/api/v1/auth/login", {"email": tenant.email, "password": DEFAULT_PASSWORD}, format="json")
        assert failed() == before + 1

    def test_circuit_breaker_state_comes_from_the_breakers(self, admin_api, fake_breakers):
        fams = families(admin_api.get("/api/v1/metrics"))
        assert sample(fams, "circuit_breaker_state", "circuit_breaker_state", name="helm") == 2
        assert sample(fams, "circuit_breaker_state", "circuit_breaker_state", name="kubernetes") == 0

    def test_uptime_is_always_present(self, admin_api):
        fams = families(admin_api.get("/api/v1/metrics"))
        assert sample(fams, "process_uptime_seconds", "process_uptime_seconds") > 0


class TestStoresGauge:
    def test_it_is_computed_from_the_database_at_scrape_time(self, admin_api, monkeypatch):
        from config import readings

        counts = {"ready": 2, "failed": 1}
        monkeypatch.setattr(readings, "store_counts", lambda: dict(counts))
        fams = families(admin_api.get("/api/v1/metrics"))
        assert sample(fams, "stores_total", "stores_total", status="ready") == 2
        counts["ready"] = 1  # a store was deleted: the gauge goes down, unlike the original's counter
        fams = families(admin_api.get("/api/v1/metrics"))
        assert sample(fams, "stores_total", "stores_total", status="ready") == 1

    def test_real_store_rows_by_status(self, admin_api, admin_user):
        from django.apps import apps

        try:
            store_model = apps.get_model("stores", "Store")
        except LookupError:
            pytest.skip("the stores app has no Store model on this branch yet")
        for n, status in enumerate(["ready", "ready", "failed"]):
            store_model.objects.create(id=f"store-0000000{n}", name=f"shop-{n}", engine="woocommerce",
                                       owner=admin_user, status=status)  # fmt: skip
        fams = families(admin_api.get("/api/v1/metrics"))
        assert sample(fams, "stores_total", "stores_total", status="ready") == 2
        assert sample(fams, "stores_total", "stores_total", status="failed") == 1
        assert sample(fams, "stores_total", "stores_total", status="deleting") == 0


class TestJson:
    def test_process_and_breaker_stats(self, admin_api, fake_breakers):
        response = admin_api.get("/api/v1/metrics/json")
        assert response.status_code == 200
        body = response.json()
        assert body["requestId"] == response["X-Request-ID"]
        assert isinstance(body["uptime"], int)
        assert body["memoryUsage"]["rss"] > 10 * 1024 * 1024
        assert set(body["cpuUsage"]) == {"user", "system"}
        assert body["circuitBreakers"] == BREAKERS
        assert body["timestamp"].endswith("Z")

    def test_unreadable_breakers_are_an_empty_list_not_an_error(self, admin_api, monkeypatch):
        from provisioning import breaker

        def broken():
            raise ConnectionError("breaker store down")

        monkeypatch.setattr(breaker, "all_stats", broken)
        response = admin_api.get("/api/v1/metrics/json")
        assert response.status_code == 200
        assert response.json()["circuitBreakers"] == []
        assert admin_api.get("/api/v1/metrics").status_code == 200


def test_a_metric_incremented_in_another_process_is_in_the_scrape(admin_api):
    """A Celery worker is another process: with PROMETHEUS_MULTIPROC_DIR shared, its increments are scraped here."""
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR"), "tests run in multiprocess mode"

    def failures():
        fams = families(admin_api.get("/api/v1/metrics"))
        value = sample(
            fams, "store_provisioning_failures", "store_provisioning_failures_total", engine="medusa", step="xproc"
        )
        return value or 0

    before = failures()
    code = textwrap.dedent(
        """
        import django
        django.setup()
        from core import metrics
        metrics.STORE_PROVISIONING_FAILURES.labels(engine="medusa", step="xproc").inc(3)
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert failures() == before + 3
