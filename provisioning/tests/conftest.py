"""Fixtures for the provisioning unit tests: fake helm/kubectl executables (tiny Python scripts that record their
argv and print canned output) and real worker processes for the shared Redis state."""

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings

from provisioning.tests.fakes import FAKE_HELM, FAKE_KUBECTL, Control, body

PROJECT_DIR = Path(settings.BASE_DIR)


class FakeTool:
    """An executable at `path` running `body` (Python, with `argv`, `stdin`, `record` in scope); every call is
    appended to `calls` as {"argv", "stdin", "env"}."""

    def __init__(self, directory: Path, name: str, body: str) -> None:
        self.path = directory / name
        self.log = directory / f"{name}.calls.jsonl"
        script = f"""#!{sys.executable}
import json, os, sys
argv = sys.argv[1:]
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read().decode("utf-8", "replace")
with open({str(self.log)!r}, "a") as log:
    log.write(json.dumps({{"argv": argv, "stdin": stdin, "env": dict(os.environ)}}) + "\\n")
{textwrap.indent(textwrap.dedent(body), "")}
"""
        self.path.write_text(script)
        self.path.chmod(0o755)

    @property
    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def fake_tool(tmp_path):
    def make(name: str, body: str = "") -> FakeTool:
        return FakeTool(tmp_path, name, body)

    return make


@pytest.fixture
def fake_helm(fake_tool, settings):
    def make(body: str = "") -> FakeTool:
        tool = fake_tool("helm", body)
        settings.HELM_BIN = str(tool.path)
        return tool

    return make


@pytest.fixture
def fake_kubectl(fake_tool, settings):
    def make(body: str = "") -> FakeTool:
        tool = fake_tool("kubectl", body)
        settings.KUBECTL_BIN = str(tool.path)
        return tool

    return make


class Workers:
    """Starts `python -m provisioning.tests.worker ...` processes sharing this test run's Redis prefix."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        env = {
            **os.environ,
            "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **(env or {}),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "provisioning.tests.worker", *map(str, args)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
        proc = self.start(*args, env=env)
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        return out.strip()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers():
    pool = Workers()
    yield pool
    pool.stop_all()


def wait_until(condition, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    """Poll until condition() is truthy; generous deadlines only guard against a hang, they measure nothing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


class FakeIngressController:
    """An HTTP server on 127.0.0.1 standing in for the ingress controller's port: answers `status` to every request
    and records each Host header, so the chain's "served" check has something real to ask."""

    def __init__(self) -> None:
        self.status = 200
        self.json_api = True
        self.hosts: list[str] = []
        self.paths: list[str] = []
        controller = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (the stdlib's name)
                controller.hosts.append(self.headers.get("Host", ""))
                controller.paths.append(self.path)
                api = self.path.startswith("/store/")  # Medusa's store API answers JSON, the storefront HTML
                body = b'{"regions": []}' if api and controller.json_api else b"<!doctype html><title>shop</title>"
                self.send_response(controller.status)
                self.send_header("Content-Type", "application/json" if api else "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ingress_controller(settings):
    controller = FakeIngressController()
    settings.STORE_INGRESS_ADDRESS, settings.STORE_INGRESS_PORT = "127.0.0.1", controller.port
    yield controller
    controller.close()


@pytest.fixture
def cluster(fake_tool, settings, tmp_path, ingress_controller):
    """A healthy scripted cluster (provisioning.tests.fakes) with an ingress controller that serves every store;
    `control.set(...)` makes one command fail, `ingress.status = 502` makes the controller answer badly."""
    control = Control(tmp_path / "control.json")
    record = tmp_path / "record.jsonl"
    helm = fake_tool("helm", body(FAKE_HELM, control.path, record))
    kubectl = fake_tool("kubectl", body(FAKE_KUBECTL, control.path, record))
    settings.HELM_BIN, settings.KUBECTL_BIN = str(helm.path), str(kubectl.path)
    settings.KUBECONFIG = str(tmp_path / "kubeconfig")

    def installs():
        return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []

    def wp_calls():
        """WP-CLI calls made by the setup script, one "arg|arg|" line each."""
        wp = Path(f"{record}.wp")
        return wp.read_text().splitlines() if wp.exists() else []

    return SimpleNamespace(
        control=control,
        helm=helm,
        kubectl=kubectl,
        installs=installs,
        wp_calls=wp_calls,
        ingress=ingress_controller,
        url=lambda store_id: f"http://{store_id}.localhost:{ingress_controller.port}",
    )
