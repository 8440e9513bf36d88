"""Brute-force protection on login (django-axes keyed by email + client IP, the failures-only login rate limit) and
the security events it writes, through the API as a client sees them."""

import math

import pytest
from django.test import override_settings

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit.models import AuditEvent
from core import metrics

pytestmark = pytest.mark.django_db

LOCKED_MESSAGE = "Account temporarily locked due to too many failed attempts. Try again in {} minutes."


def login(api, email, password, ip="203.0.113.7"):
    return api.post("/api/v1/auth/login", {"email": email, "password": password}, format="json", REMOTE_ADDR=ip)


def security_actions():
    return list(
        AuditEvent.objects.filter(event_type="security").order_by("id").values_list("metadata__action", flat=True)
    )


def counter(event_type):
    return metrics.SECURITY_EVENTS.labels(event_type=event_type)._value.get()


class TestLockout:
    def test_five_failures_lock_the_email_for_this_ip_with_the_time_remaining(self, api, tenant):
        for _ in range(4):
            assert login(api, tenant.email, "wrong-password").status_code == 401
        fifth = login(api, tenant.email, "wrong-password")
        assert fifth.status_code == 423
        error = fifth.json()["error"]
        assert error["code"] == "ACCOUNT_LOCKED"
        assert error["retryable"] is True
        assert 14 * 60 < error["retryAfterSeconds"] <= 15 * 60
        assert error["message"] == LOCKED_MESSAGE.format(math.ceil(error["retryAfterSeconds"] / 60))
        assert fifth.json()["requestId"] == fifth["X-Request-ID"]
        assert fifth["Retry-After"] == str(error["retryAfterSeconds"])

        # Even the right password is refused while locked, and the refusal does not extend the lockout.
        locked = login(api, tenant.email, DEFAULT_PASSWORD)
        assert locked.status_code == 423
        assert locked.json()["error"]["retryAfterSeconds"] <= error["retryAfterSeconds"]

    def test_the_email_is_matched_case_insensitively(self, api, tenant):
        for _ in range(5):
            login(api, tenant.email.upper(), "wrong-password")
        assert login(api, tenant.email, DEFAULT_PASSWORD).status_code == 423

    def test_another_ip_or_another_email_is_not_locked(self, api, tenant):
        other = UserFactory()
        for _ in range(5):
            login(api, tenant.email, "wrong-password")
        assert login(api, tenant.email, DEFAULT_PASSWORD, ip="198.51.100.9").status_code == 200
        assert login(api, other.email, DEFAULT_PASSWORD).status_code == 200

    def test_a_success_clears_the_failures(self, api, tenant):
        for _ in range(4):
            login(api, tenant.email, "wrong-password")
        assert login(api, tenant.email, DEFAULT_PASSWORD).status_code == 200
        for _ in range(4):
            assert login(api, tenant.email, "wrong-password").status_code == 401
        assert login(api, tenant.email, DEFAULT_PASSWORD).status_code == 200

    def test_an_unknown_email_is_locked_too(self, api, db):
        for _ in range(5):
            login(api, "nobody@example.com", "wrong-password")
        assert login(api, "nobody@example.com", "wrong-password").status_code == 423

    def test_the_lockout_ends_when_its_time_is_up(self, api, tenant):
        from datetime import timedelta

        from axes.models import AccessAttempt

        for _ in range(5):
            login(api, tenant.email, "wrong-password")
        AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=15))
        assert login(api, tenant.email, DEFAULT_PASSWORD).status_code == 200

    def test_lockout_and_login_events_are_audited_and_counted(self, api, tenant):
        before = {k: counter(k) for k in ("login_failed", "account_locked", "login_success")}
        login(api, tenant.email, DEFAULT_PASSWORD, ip="198.51.100.1")
        for _ in range(5):
            login(api, tenant.email, "wrong-password")
        assert security_actions() == ["login_success", *["login_failed"] * 5, "account_locked"]
        row = AuditEvent.objects.filter(metadata__action="account_locked").get()
        assert row.actor_email == tenant.email
        assert row.ip_address == "203.0.113.7"
        assert counter("login_failed") == before["login_failed"] + 5
        assert counter("account_locked") == before["account_locked"] + 1
        assert counter("login_success") == before["login_success"] + 1
        assert "wrong-password" not in str(list(AuditEvent.objects.values()))


class TestLoginRateLimit:
    @pytest.fixture(autouse=True)
    def _frozen_window(self, monkeypatch):
        """The limiter's fixed window must not roll over between two requests of a test."""
        from types import SimpleNamespace

        import django_ratelimit.core

        monkeypatch.setattr(django_ratelimit.core, "time", SimpleNamespace(time=lambda: 1_800_000_000.0))

    @override_settings(ACCOUNT_LOCKOUT_ATTEMPTS=100, AXES_FAILURE_LIMIT=100, LOGIN_RATE_LIMIT="3/15m")
    def test_failures_over_the_limit_answer_429_with_the_window_and_headers(self, api, tenant):
        for _ in range(3):
            response = login(api, tenant.email, "wrong-password")
            assert response.status_code == 401
        assert response["RateLimit-Limit"] == "3"
        assert response["RateLimit-Remaining"] == "0"
        limited = login(api, tenant.email, DEFAULT_PASSWORD)
        assert limited.status_code == 429
        error = limited.json()["error"]
        assert error["code"] == "LOGIN_RATE_LIMITED"
        assert error["message"] == "Too many login attempts. Try again in 15 minutes."
        assert error["suggestion"] == "Wait before retrying. If you forgot your password, use the reset flow."
        assert 0 < error["retryAfterSeconds"] <= 900
        assert int(limited["RateLimit-Reset"]) == error["retryAfterSeconds"]
        assert limited["RateLimit-Policy"] == "3;w=900"
        assert limited.json()["requestId"] == limited["X-Request-ID"]
        assert security_actions()[-1] == "login_rate_limited"
        # The limit is per IP + email: the same email from elsewhere still logs in.
        assert login(api, tenant.email, DEFAULT_PASSWORD, ip="198.51.100.2").status_code == 200

    @override_settings(LOGIN_RATE_LIMIT="3/15m")
    def test_successful_logins_do_not_count(self, api, tenant):
        for _ in range(6):
            assert login(api, tenant.email, DEFAULT_PASSWORD).status_code == 200


def test_the_admin_login_form_is_locked_out_too(client, admin_user):
    """The operator console's form goes through authenticate() directly; axes' own lockout path answers 423."""
    for _ in range(5):
        response = client.post(
            "/admin/login/", {"username": admin_user.email, "password": "wrong-password"}, REMOTE_ADDR="203.0.113.9"
        )
    assert response.status_code == 423
    assert "Account temporarily locked" in response.content.decode()
    after = client.post(
        "/admin/login/", {"username": admin_user.email, "password": DEFAULT_PASSWORD}, REMOTE_ADDR="203.0.113.9"
    )
    assert after.status_code == 423
    assert "_auth_user_id" not in client.session
