"""Security headers on every response (CSP without inline script, frame and sniffing protection, HSTS only over
TLS) and CORS for the API from configured origins only; the Swagger page still works under the CSP."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import override_settings

pytestmark = pytest.mark.django_db

ORIGIN = "https://dashboard.example.com"


def csp_directives(response):
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


@pytest.mark.parametrize("path", ["/", "/api/v1/health/live", "/api/v1/nope", "/api/v1/docs", "/admin/login/"])
def test_every_response_carries_the_security_headers(api, path):
    response = api.get(path)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    directives = csp_directives(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert "Strict-Transport-Security" not in response


def test_hsts_only_when_the_request_is_secure(api):
    response = api.get("/api/v1/health/live", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_behind_a_tls_proxy_the_configured_header_makes_it_secure(api):
    assert "Strict-Transport-Security" in api.get("/api/v1/health/live", HTTP_X_FORWARDED_PROTO="https")
    assert "Strict-Transport-Security" not in api.get("/api/v1/health/live", HTTP_X_FORWARDED_PROTO="http")


def test_the_docs_page_runs_no_inline_script_and_its_scripts_load_from_here(api):
    page = api.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, "the page loads Swagger UI"
    for attrs, body in scripts:
        assert body.strip() == "", f"inline script would be blocked by the CSP: {body[:80]}"
        src = re.search(r'src="([^"]+)"', attrs).group(1)
        assert not src.startswith(("http:", "https:", "//")), src
        if src.startswith(settings.STATIC_URL):  # served by whitenoise in production; here, found on disk
            assert finders.find(src.removeprefix(settings.STATIC_URL)), src
        else:  # the split view's init script, served by the view itself
            script = api.get(src.replace("&amp;", "&"))
            assert script.status_code == 200, src
            assert "SwaggerUIBundle" in script.content.decode()


class TestCors:
    @pytest.fixture(autouse=True)
    def _origins(self, settings):
        settings.CORS_ALLOWED_ORIGINS = [ORIGIN]

    def test_a_configured_origin_may_call_the_api(self, api):
        response = api.get("/api/v1/health/live", HTTP_ORIGIN=ORIGIN)
        assert response["Access-Control-Allow-Origin"] == ORIGIN
        assert "X-Request-ID" in response["Access-Control-Expose-Headers"]

    def test_a_preflight_from_a_configured_origin_allows_auth_headers(self, api):
        response = api.options(
            "/api/v1/auth/me",
            HTTP_ORIGIN=ORIGIN,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
        )
        assert response["Access-Control-Allow-Origin"] == ORIGIN
        assert "authorization" in response["Access-Control-Allow-Headers"]

    def test_any_other_origin_gets_no_cors_headers(self, api):
        response = api.get("/api/v1/health/live", HTTP_ORIGIN="https://evil.example.net")
        assert "Access-Control-Allow-Origin" not in response

    def test_pages_outside_the_api_get_no_cors_headers(self, api):
        assert "Access-Control-Allow-Origin" not in api.get("/admin/login/", HTTP_ORIGIN=ORIGIN)


@override_settings(SECURE_SSL_REDIRECT=True)
def test_with_ssl_redirect_on_plain_http_is_redirected_but_probes_are_not(api):
    assert api.get("/api/v1/auth/me").status_code == 301
    assert api.get("/api/v1/health/live").status_code == 200


def test_the_csp_built_once_is_django_csps_own_and_a_per_view_policy_still_applies(api, rf):
    """core.middleware.CSPMiddleware keeps django-csp's header: the same bytes as django-csp's middleware writes
    for a plain response, and a view's csp_update decorator (a per-response policy) still changes it."""
    from csp.decorators import csp_update
    from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
    from django.http import HttpResponse

    from core.middleware import CSPMiddleware

    ours, theirs = CSPMiddleware(lambda r: HttpResponse()), DjangoCSPMiddleware(lambda r: HttpResponse())
    assert ours(rf.get("/x"))["Content-Security-Policy"] == theirs(rf.get("/x"))["Content-Security-Policy"]
    assert api.get("/api/v1/health/live")["Content-Security-Policy"] == theirs(rf.get("/"))["Content-Security-Policy"]

    @csp_update({"img-src": ["https://images.example.com"]})
    def view(request):
        return HttpResponse()

    updated = CSPMiddleware(view)(rf.get("/y"))["Content-Security-Policy"]
    assert "img-src 'self' data: https://images.example.com" in updated
    assert (
        CSPMiddleware(lambda r: HttpResponse())(rf.get("/z"))["Content-Security-Policy"]
        == theirs(rf.get("/x"))["Content-Security-Policy"]
    )  # the decorated response did not change the plain policy
