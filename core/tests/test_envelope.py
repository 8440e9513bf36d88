"""The contract's envelope on every error status, and the request-id rules."""

import json
import re

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db

GENERATED_ID = re.compile(r"^req_[0-9a-f]{12}$")


def envelope(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["requestId"] == response["X-Request-ID"]
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["retryable"], bool)
    return body["error"]


def test_unknown_route_is_404_with_the_route_in_the_message(api):
    error = envelope(api.get("/api/v1/nonexistent?x=1"), 404, "NOT_FOUND")
    assert error["message"] == "Route GET /api/v1/nonexistent not found."
    assert error["suggestion"] == "Check the API documentation for valid endpoints."


def test_wrong_method_is_405(api):
    error = envelope(api.get("/api/v1/auth/login"), 405, "METHOD_NOT_ALLOWED")
    assert "GET" in error["message"]


def test_malformed_json_is_400_and_creates_nothing(api):
    response = api.generic(
        "POST", "/api/v1/auth/register", '{"email": "a@example.com",', content_type="application/json"
    )
    error = envelope(response, 400, "VALIDATION_ERROR")
    assert error["message"].startswith("Malformed request body")
    assert not User.objects.exists()


def test_a_json_array_body_is_400(api):
    response = api.generic("POST", "/api/v1/auth/register", "[1, 2]", content_type="application/json")
    envelope(response, 400, "VALIDATION_ERROR")


def test_body_over_256_kb_is_413_and_creates_nothing(api):
    body = json.dumps({"email": "a@example.com", "username": "abc", "password": "x" * (256 * 1024)})
    response = api.generic("POST", "/api/v1/auth/register", body, content_type="application/json")
    error = envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert "256 KB" in error["message"]
    assert not User.objects.exists()


def test_body_just_under_the_limit_is_parsed(api):
    body = json.dumps({"email": "a@example.com", "username": "abc", "pad": "x" * (250 * 1024)})
    response = api.generic("POST", "/api/v1/auth/register", body, content_type="application/json")
    assert envelope(response, 400, "VALIDATION_ERROR")["details"][0]["path"] == ["password"]


@pytest.mark.urls("core.tests.urls_boom")
@pytest.mark.parametrize("path", ["/api/v1/boom", "/api/v1/plain-boom"])
def test_a_crash_is_500_without_a_traceback(api, path, caplog):
    response = api.get(path)
    error = envelope(response, 500, "INTERNAL_ERROR")
    assert error["message"] == "An unexpected error occurred."
    assert error["retryable"] is True
    assert "secret-internal-detail" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert any("Unhandled error" in r.getMessage() for r in caplog.records)  # operators still get the trace


def test_a_generated_request_id_is_returned_in_header_and_body(api):
    response = api.get("/")
    assert GENERATED_ID.match(response["X-Request-ID"])
    assert response.json()["requestId"] == response["X-Request-ID"]


def test_a_safe_inbound_request_id_is_kept(api):
    response = api.get("/api/v1/health/live", HTTP_X_REQUEST_ID="client-trace.42_A")
    assert response["X-Request-ID"] == "client-trace.42_A"
    assert response.json()["requestId"] == "client-trace.42_A"


@pytest.mark.parametrize("inbound", ["has space", "x" * 65, "inject\nnewline", "semi;colon", ""])
def test_an_unsafe_inbound_request_id_is_replaced(api, inbound):
    response = api.get("/api/v1/nonexistent", HTTP_X_REQUEST_ID=inbound)
    assert GENERATED_ID.match(response["X-Request-ID"])
    assert response.json()["requestId"] == response["X-Request-ID"]


def test_root_answers_the_contract_body(api):
    body = api.get("/").json()
    assert body["name"] == "Multi-Tenant Ecommerce Control Plane"
    assert body["endpoints"] == {"stores": "/api/v1/stores", "health": "/api/v1/health"}


def test_the_api_renderer_writes_the_bytes_drfs_own_encoder_writes():
    """orjson is the encoder for speed only: what a client receives is byte for byte what DRF's JSONRenderer wrote
    (compact, UTF-8, U+2028/U+2029 escaped, DRF's datetime and Decimal formats, lazy strings, UUIDs)."""
    import datetime as dt
    import uuid
    from decimal import Decimal

    from django.utils.translation import gettext_lazy
    from rest_framework.renderers import JSONRenderer

    from core.api import EnvelopeJSONRenderer

    data = {
        "name": 'Café \u2028 line\u2029 ☕ "quoted" </script>',
        "when": dt.datetime(2026, 12, 7, 16, 1, 2, 345678, tzinfo=dt.UTC),
        "day": dt.date(2026, 12, 7),
        "price": Decimal("12.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "label": gettext_lazy("Stores"),
        "nested": [{"n": 1, "f": 0.1, "none": None, "t": True}, (1, 2)],
    }
    ours = EnvelopeJSONRenderer().render(data)
    assert ours == JSONRenderer().render(data)
    assert b"\\u2028" in ours and "☕".encode() in ours
    assert EnvelopeJSONRenderer().render(None) == b""
