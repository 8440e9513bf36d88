"""Structured logs: one JSON access line per request with its ids, secrets scrubbed from every record (extras, dict
args, messages, tracebacks), and worker tasks logging under the correlation id of the request that enqueued them."""

import io
import json
import logging
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from core.logging import REDACTED, RedactingFilter, request_id_var

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6IjEyMyIsInJvbGUiOiJ0ZW5hbnQifQ.c2lnbmF0dXJlLXZhbHVlLWhlcmU"


@contextmanager
def json_lines():
    """Everything the real console handler (JSON formatter, context and redaction filters) writes meanwhile."""
    console = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(console.formatter)
    for f in console.filters:
        handler.addFilter(f)
    root = logging.getLogger()
    root.addHandler(handler)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines() if line.strip())


def filtered(msg, *args, exc_info=None, **extra):
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args or None, exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    assert RedactingFilter().filter(record) is True
    return record


class TestRedaction:
    def test_secret_extras_are_masked_and_others_kept(self):
        record = filtered("x", password="hunter2hunter2", api_key="k-123", store_id="store-1234abcd", step="helm")
        assert record.password == REDACTED
        assert record.api_key == REDACTED
        assert record.store_id == "store-1234abcd"
        assert record.step == "helm"

    def test_nested_dicts_in_extras_and_args(self):
        record = filtered(
            "values %s", {"admin": {"email": "a@example.com", "adminPassword": "s3cr3t!!"}}, values={"dbSecret": "zz"}
        )
        assert "s3cr3t!!" not in record.getMessage()
        assert "a@example.com" in record.getMessage()
        assert record.values == {"dbSecret": REDACTED}

    @pytest.mark.parametrize(
        "message",
        [
            f"Authorization: Bearer {JWT}",
            f"token issued {JWT}",
            "helm --set password=p4ssw0rd-xyz failed",
            'body {"password": "p4ssw0rd-xyz", "email": "a@b.co"}',
            "connecting to postgres://app:p4ssw0rd-xyz@db:5432/app",
            "CREDENTIALS_ENCRYPTION_KEY=p4ssw0rd-xyz",
        ],
    )
    def test_secrets_inside_messages(self, message):
        text = filtered(message).getMessage()
        assert "p4ssw0rd-xyz" not in text
        assert JWT not in text
        assert JWT[:40] not in text

    def test_a_traceback_is_scrubbed(self):
        try:
            raise RuntimeError(f"upstream said Bearer {JWT}")
        except RuntimeError:
            import sys

            record = filtered("boom", exc_info=sys.exc_info())
        assert record.exc_info is None
        assert "RuntimeError" in record.exc_text
        assert JWT not in record.exc_text

    def test_a_broken_format_string_still_logs_scrubbed(self):
        record = filtered("odd %s %s password=abc12345", "one")
        assert "abc12345" not in record.getMessage()


@pytest.mark.django_db
class TestAccessLog:
    def test_one_json_line_per_request_with_route_status_duration_and_ids(self, tenant_api, tenant):
        with json_lines() as lines:
            response = tenant_api.get("/api/v1/auth/me", HTTP_X_REQUEST_ID="trace-me-1")
        access = [line for line in lines if line["logger"] == "storeplane.request"]
        assert len(access) == 1
        line = access[0]
        assert line["method"] == "GET"
        assert line["route"] == "/api/v1/auth/me"
        assert line["status"] == response.status_code == 200
        assert isinstance(line["duration_ms"], float)
        assert line["request_id"] == "trace-me-1"
        assert line["user_id"] == str(tenant.pk)
        assert line["level"] == "INFO"

    def test_probes_are_not_logged(self, api):
        with json_lines() as lines:
            api.get("/api/v1/health/live")
        assert not [line for line in lines if line["logger"] == "storeplane.request"]

    def test_the_auth_flow_leaves_no_secret_in_any_log_line(self, api):
        """Register, fail a login, log in, use the token, change the password, refresh, log out: every line is
        JSON, and no password, token or authorization value appears in any of them."""
        password, new_password = "first-Secret-pass-1", "second-Secret-pass-2"
        with json_lines() as lines:
            reg = api.post(
                "/api/v1/auth/register",
                {"email": "flow@example.com", "username": "flow", "password": password},
                format="json",
            ).json()
            api.post(
                "/api/v1/auth/login", {"email": "flow@example.com", "password": "wrong-" + password}, format="json"
            )
            login = api.post(
                "/api/v1/auth/login", {"email": "flow@example.com", "password": password}, format="json"
            ).json()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {login['token']}")
            api.get("/api/v1/auth/me")
            api.patch(
                "/api/v1/auth/password", {"currentPassword": password, "newPassword": new_password}, format="json"
            )
            api.post("/api/v1/auth/refresh", {"refresh": login["refresh"]}, format="json")
            api.post("/api/v1/auth/logout", {"refresh": login["refresh"]}, format="json")
            api.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token-at-all")
            api.get("/api/v1/auth/me")
            logging.getLogger("storeplane.test").warning(
                "careless %s", {"password": password}, extra={"token": login["token"]}
            )
        assert len(lines) >= 9
        secrets = [password, new_password, reg["token"], reg["refresh"], login["token"], login["refresh"]]
        secrets += ["not-a-real-token-at-all"]
        for line in lines:
            text = json.dumps(line)
            for secret in secrets:
                assert secret not in text, line


def test_worker_tasks_log_under_the_request_id_that_enqueued_them():
    from config import worker

    headers: dict = {}
    token = request_id_var.set("req_abc123abc123")
    try:
        worker._propagate_request_id(headers=headers)
    finally:
        request_id_var.reset(token)
    assert headers == {"request_id": "req_abc123abc123"}

    task = SimpleNamespace(request=SimpleNamespace(request_id=None, headers=headers))
    worker._bind_context(task_id="t-1", task=task)
    try:
        record = logging.LogRecord("w", logging.INFO, __file__, 1, "step done", None, None)
        from core.logging import ContextFilter

        ContextFilter().filter(record)
        assert record.request_id == "req_abc123abc123"
    finally:
        worker._unbind_context(task_id="t-1")
    assert request_id_var.get() is None


def test_a_task_without_a_request_id_gets_its_task_id():
    from config import worker

    worker._bind_context(task_id="t-2", task=SimpleNamespace(request=SimpleNamespace(headers=None)))
    try:
        assert request_id_var.get() == "task_t-2"
    finally:
        worker._unbind_context(task_id="t-2")


def test_lines_inside_a_log_context_name_the_store_and_step():
    from core.logging import ContextFilter, log_context

    with log_context(store_id="store-1234abcd", step="helm_install"):
        record = logging.LogRecord("p", logging.INFO, __file__, 1, "installing", None, None)
        ContextFilter().filter(record)
    assert (record.store_id, record.step) == ("store-1234abcd", "helm_install")
    after = logging.LogRecord("p", logging.INFO, __file__, 1, "done", None, None)
    ContextFilter().filter(after)
    assert (after.store_id, after.step) == (None, None)


def test_celery_task_arguments_and_results_are_never_logged():
    record = logging.LogRecord("celery.app.trace", logging.INFO, __file__, 1, "Task %(name)s succeeded", None, None)
    record.data = {"id": "t-1", "name": "provision", "args": "('s3cret-value',)", "kwargs": "{}", "return_value": "x"}
    RedactingFilter().filter(record)
    assert record.data == {
        "id": "t-1", "name": "provision", "args": REDACTED, "kwargs": REDACTED, "return_value": REDACTED,
    }  # fmt: skip
