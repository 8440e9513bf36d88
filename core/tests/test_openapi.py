"""The OpenAPI document and its interactive page describe the real routes and the envelope."""

import pytest

pytestmark = pytest.mark.django_db


def test_schema_lists_the_auth_and_health_routes_with_the_error_envelope(api):
    response = api.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for route in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/me",
        "/api/v1/auth/password",
        "/api/v1/health",
        "/api/v1/health/ready",
    ):
        assert route in schema["paths"], route
    register = schema["paths"]["/api/v1/auth/register"]["post"]
    assert set(register["responses"]) >= {"201", "400", "409"}
    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["properties"]) == {"requestId", "error"}
    body = schema["components"]["schemas"]["RegisterRequest"]
    assert set(body["required"]) == {"email", "username", "password"}
    health = schema["components"]["schemas"]["HealthReport"]  # every field the health answer always carries is required
    assert set(health["required"]) == set(health["properties"])


def test_docs_page_is_served_without_any_cdn(api):
    response = api.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
