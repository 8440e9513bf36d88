"""Fixtures for the provisioning unit tests: fake helm/kubectl executables (tiny Python scripts that record their
argv and print canned output) and real worker processes for the shared Redis state."""

import json
import os
import subprocess
import sys
import textwrap
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


@pytest.fixture
def cluster(fake_tool, settings, tmp_path):
    """A healthy scripted cluster (provisioning.tests.fakes); `control.set(...)` makes one command fail."""
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

    return SimpleNamespace(control=control, helm=helm, kubectl=kubectl, installs=installs, wp_calls=wp_calls)
