"""The global API rate limit and the registration limit, as a client sees them: 429 in the envelope with
RateLimit-* headers and the time actually remaining."""

import pytest
from django.test import override_settings

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def get(api, path, ip="203.0.113.20"):
    return api.get(path, REMOTE_ADDR=ip)


class TestGlobalLimit:
    @pytest.fixture(autouse=True)
    def _low_limit(self, settings):
        settings.API_RATE_LIMIT = "3/h"  # an hour-long window: never rolls over mid-test

    def test_the_request_over_the_limit_is_refused_in_the_envelope(self, api):
        statuses = [get(api, "/api/v1/auth/me").status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        refused = get(api, "/api/v1/auth/me")
        assert refused.status_code == 429
        body = refused.json()
        assert body["requestId"] == refused["X-Request-ID"]
        assert body["error"] == {
            "code": "RATE_LIMIT_EXCEEDED",
            "message": "Too many requests. Please slow down.",
            "suggestion": "Wait a moment before retrying.",
            "retryable": True,
            "retryAfterSeconds": body["error"]["retryAfterSeconds"],
        }
        assert 0 < body["error"]["retryAfterSeconds"] <= 3600
        assert refused["Retry-After"] == str(body["error"]["retryAfterSeconds"])
        assert refused["RateLimit-Limit"] == "3"
        assert refused["RateLimit-Remaining"] == "0"
        assert refused["RateLimit-Reset"] == str(body["error"]["retryAfterSeconds"])
        assert refused["RateLimit-Policy"] == "3;w=3600"

    def test_headers_count_down_on_every_api_response(self, api):
        remaining = [get(api, "/api/v1/auth/me")["RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]

    def test_each_client_ip_has_its_own_budget(self, api):
        for _ in range(4):
            get(api, "/api/v1/auth/me")
        assert get(api, "/api/v1/auth/me", ip="198.51.100.30").status_code == 401

    def test_health_probes_and_pages_are_not_limited(self, api):
        for _ in range(5):
            assert get(api, "/api/v1/health/live").status_code == 200
        assert get(api, "/api/v1/health/live").get("RateLimit-Limit") is None
        for _ in range(5):
            assert get(api, "/").status_code == 200

    @override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
    def test_behind_a_trusted_proxy_clients_are_told_apart(self, api):
        for _ in range(4):
            api.get("/api/v1/auth/me", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.1")
        other = api.get("/api/v1/auth/me", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.2")
        assert other.status_code == 401


@override_settings(API_RATE_LIMIT="")
def test_an_empty_setting_turns_the_global_limit_off(api):
    for _ in range(5):
        response = get(api, "/api/v1/auth/me")
    assert response.status_code == 401
    assert response.get("RateLimit-Limit") is None


class TestRegistrationLimit:
    @pytest.fixture(autouse=True)
    def _low_limit(self, settings, monkeypatch):
        from types import SimpleNamespace

        import django_ratelimit.core

        settings.REGISTER_RATE_LIMIT = "2/h"
        # the fixed window must not roll over between two requests of a test
        monkeypatch.setattr(django_ratelimit.core, "time", SimpleNamespace(time=lambda: 1_800_000_000.0))

    def register(self, api, n, ip="203.0.113.40", **body):
        payload = {"email": f"user{n}@example.com", "username": f"user{n}x", "password": "s3cret-pass", **body}
        return api.post("/api/v1/auth/register", payload, format="json", REMOTE_ADDR=ip)

    def test_every_attempt_counts_and_the_next_is_refused(self, api):
        from accounts.models import User

        assert self.register(api, 1).status_code == 201
        assert self.register(api, 2, password="short").status_code == 400  # invalid attempts count too
        refused = self.register(api, 3)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "REGISTRATION_RATE_LIMITED"
        assert error["message"] == "Too many registration attempts. Try again later."
        assert error["suggestion"] == "Wait an hour before creating another account from this network."
        assert 0 < error["retryAfterSeconds"] <= 3600
        assert refused["RateLimit-Limit"] == "2"
        assert refused["RateLimit-Policy"] == "2;w=3600"
        assert not User.objects.filter(email="user3@example.com").exists()
        actions = list(AuditEvent.objects.values_list("metadata__action", flat=True).order_by("id"))
        assert actions == ["registration", "registration_rate_limited"]

    def test_another_network_can_still_register(self, api):
        self.register(api, 1)
        self.register(api, 2)
        self.register(api, 3)
        assert self.register(api, 4, ip="198.51.100.41").status_code == 201


def test_the_openapi_document_lists_the_429_of_every_limited_operation(api):
    paths = api.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()["paths"]
    me = paths["/api/v1/auth/me"]["get"]["responses"]["429"]
    assert me["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ErrorEnvelope"
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(me["headers"])
    assert "429" not in paths["/api/v1/health/live"]["get"]["responses"]
    assert "RoleEnum" in api.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()["components"]["schemas"]


def test_without_redis_the_global_limit_fails_open(api, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from core import redis as platform_redis

    class DownPipeline:
        def incr(self, *a, **k): ...
        def expire(self, *a, **k): ...
        def execute(self):
            raise RedisConnectionError("Connection refused")

    class DownRedis:
        def pipeline(self, **_kwargs):
            return DownPipeline()

    with monkeypatch.context() as patched:
        patched.setattr(platform_redis, "get_redis", lambda: DownRedis())
        response = get(api, "/api/v1/auth/me")
    assert response.status_code == 401
    assert response.get("RateLimit-Limit") is None
