"""The account pages: sign up, log in, log out, change password, and where `/` sends a browser."""

import pytest
from django.test import Client

from accounts.models import Role, User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from core.errors import PlatformError
from tests.browser.htmlcheck import assert_valid_html

pytestmark = pytest.mark.django_db

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class Locked(PlatformError):
    status_code = 429
    code = "ACCOUNT_LOCKED"
    default_message = "Account locked: too many failed login attempts. Try again in 15 minutes."


def signed_in_user(client: Client) -> User | None:
    from django.contrib.auth import get_user

    user = get_user(client)
    return user if user.is_authenticated else None


@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_anonymous_pages_render_valid_html(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_valid_html(response.content)
    assert b'name="csrfmiddlewaretoken"' in response.content


def test_signup_creates_a_signed_in_tenant_never_an_admin(client):
    response = client.post(
        "/signup",
        {"email": "New@Example.com", "username": "newbie", "password": "long-enough-1", "role": "admin"},
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard"
    user = User.objects.get(email="new@example.com")
    assert user.role == Role.TENANT and not user.is_superuser and not user.is_staff
    assert signed_in_user(client) == user
    page = client.get("/dashboard")
    assert b"Welcome!" in page.content


def test_signup_shows_the_api_message_and_creates_nothing(client, api):
    body = {"email": "x@example.com", "username": "xy", "password": "short"}
    response = client.post("/signup", body)
    assert response.status_code == 200
    api_message = api.post("/api/v1/auth/register", body, format="json").json()["error"]["details"]
    for detail in api_message:
        assert detail["message"].encode() in response.content.replace(b"&quot;", b'"')
    assert_valid_html(response.content)
    assert b'aria-invalid="true"' in response.content
    assert not User.objects.exists()
    assert signed_in_user(client) is None


def test_signup_with_a_taken_email_says_so(client):
    UserFactory(email="taken@example.com")
    response = client.post("/signup", {"email": "taken@example.com", "username": "other", "password": "long-enough-1"})
    assert b"A user with this email already exists." in response.content
    assert User.objects.count() == 1


def test_signup_has_the_registration_rate_limit_of_the_api(settings, monkeypatch):
    from types import SimpleNamespace

    import django_ratelimit.core

    from audit.models import AuditEvent

    settings.REGISTER_RATE_LIMIT = "2/h"
    monkeypatch.setattr(django_ratelimit.core, "time", SimpleNamespace(time=lambda: 1_800_000_000.0))

    def sign_up(n: int):
        body = {"email": f"page{n}@example.com", "username": f"page{n}x", "password": "long-enough-1"}
        return Client(REMOTE_ADDR="203.0.113.50").post("/signup", body)

    assert sign_up(1).status_code == 302
    assert sign_up(2).status_code == 302
    refused = sign_up(3)
    assert refused.status_code == 429
    assert b"Too many registration attempts. Try again later." in refused.content
    assert_valid_html(refused.content)
    assert not User.objects.filter(email="page3@example.com").exists()
    actions = list(AuditEvent.objects.values_list("metadata__action", flat=True).order_by("id"))
    assert actions == ["registration", "registration", "registration_rate_limited"]


def test_login_signs_in_and_follows_a_local_next(client, tenant):
    response = client.post("/login", {"email": tenant.email, "password": DEFAULT_PASSWORD, "next": "/stores/new"})
    assert response.status_code == 302 and response["Location"] == "/stores/new"
    assert signed_in_user(client) == tenant


def test_login_ignores_an_external_next(client, tenant):
    response = client.post(
        "/login", {"email": tenant.email, "password": DEFAULT_PASSWORD, "next": "https://evil.example.com/"}
    )
    assert response["Location"] == "/dashboard"


def test_wrong_password_is_refused_without_signing_in(client, tenant):
    response = client.post("/login", {"email": tenant.email, "password": "not-the-password"})
    assert response.status_code == 401
    assert b"Invalid email or password." in response.content
    assert signed_in_user(client) is None
    assert_valid_html(response.content)


def test_lockout_or_rate_limit_from_the_service_is_shown_as_a_friendly_message(client, tenant, monkeypatch):
    calls = []

    def refuse(*, request, email, password):
        calls.append((request is not None, email))
        raise Locked()

    monkeypatch.setattr("accounts.services.user_authenticate", refuse)
    response = client.post("/login", {"email": tenant.email, "password": DEFAULT_PASSWORD})
    assert calls == [(True, tenant.email)]  # the page goes through the service, with the request
    assert response.status_code == 429
    assert b"Account locked: too many failed login attempts. Try again in 15 minutes." in response.content
    assert b'role="alert"' in response.content
    assert signed_in_user(client) is None


def test_login_form_needs_the_csrf_token(tenant):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login", {"email": tenant.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 403
    assert signed_in_user(client) is None


def test_logout_is_a_post(client, tenant):
    client.force_login(tenant)
    assert client.get("/logout").status_code == 405
    assert signed_in_user(client) == tenant
    response = client.post("/logout")
    assert response.status_code == 302 and response["Location"] == "/login"
    assert signed_in_user(client) is None


def test_password_change_keeps_the_session(client, tenant):
    client.force_login(tenant)
    assert_valid_html(client.get("/account/password").content)
    response = client.post(
        "/account/password", {"current_password": DEFAULT_PASSWORD, "new_password": "brand-new-pass-1"}
    )
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.check_password("brand-new-pass-1")
    assert signed_in_user(client) == tenant


def test_password_change_with_a_wrong_current_password_changes_nothing(client, tenant):
    client.force_login(tenant)
    response = client.post("/account/password", {"current_password": "wrong-one-1", "new_password": "brand-new-pass-1"})
    assert b"Current password is incorrect." in response.content
    tenant.refresh_from_db()
    assert tenant.check_password(DEFAULT_PASSWORD)


def test_pages_need_a_signed_in_user(client):
    for path in ("/dashboard", "/stores/new", "/account/password"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == f"/login?next={path}"


def test_root_sends_a_browser_to_login_or_dashboard(client, tenant):
    response = client.get("/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 302 and response["Location"] == "/login"
    client.force_login(tenant)
    response = client.get("/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 302 and response["Location"] == "/dashboard"


@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
def test_root_still_answers_the_contract_to_api_clients(client, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get("/", **headers)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Multi-Tenant Ecommerce Control Plane"
    assert body["endpoints"] == {"stores": "/api/v1/stores", "health": "/api/v1/health"}
    assert body["requestId"] == response["X-Request-ID"]
