"""The production server (gunicorn with config/gunicorn.py) closes a client's connection after a login or a
registration, so a burst of logins spreads over the workers instead of queueing behind the one its keep-alive
connections landed on; every other answer keeps the connection open."""

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from scripts.localcluster.util import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(db, tmp_path):
    port = free_port()
    name = connection.settings_dict["NAME"]  # the test database: its tables exist (its rows are not needed)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "true",
        "DJANGO_ENV_FILE": str(tmp_path / "no.env"),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "PROMETHEUS_MULTIPROC_DIR": "",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/api/v1/health/live")
                probe.getresponse().read()
                probe.close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answer(client: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None):
    client.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = client.getresponse()
    response.read()
    return response


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register"])
def test_a_login_or_registration_answer_closes_the_connection_and_others_keep_it(server, path):
    client = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    health = _answer(client, "GET", "/api/v1/health/live")
    assert health.status == 200 and health.getheader("Connection") != "close"
    again = _answer(client, "GET", "/api/v1/health/live")  # the same connection served a second request
    assert again.status == 200 and client.sock is not None

    answer = _answer(client, "POST", path, b"{}")
    assert answer.status == 400  # the contract's validation error, answered in full before the close
    assert answer.getheader("Connection") == "close"
    assert client.sock is None  # http.client closed its side as the server asked
