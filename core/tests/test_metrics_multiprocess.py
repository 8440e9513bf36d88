"""Multiprocess bookkeeping in the gunicorn hooks: a fresh directory at server start, and a dead worker's live
gauges dropped so active_provisioning_operations never counts a process that is gone."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def hooks(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    return importlib.import_module("config.gunicorn")


def test_the_server_start_empties_the_directory(hooks, tmp_path):
    (tmp_path / "counter_123.db").write_bytes(b"old")
    hooks.on_starting(server=None)
    assert tmp_path.is_dir()
    assert list(tmp_path.iterdir()) == []


def test_reset_can_be_turned_off(hooks, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_RESET", "false")
    (tmp_path / "counter_123.db").write_bytes(b"worker's")
    hooks.on_starting(server=None)
    assert (tmp_path / "counter_123.db").exists()


def test_an_exited_worker_loses_its_live_gauges_but_keeps_its_counters(hooks, tmp_path):
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"x")
    (tmp_path / "counter_4242.db").write_bytes(b"x")
    hooks.child_exit(server=None, worker=type("W", (), {"pid": 4242})())
    assert not (tmp_path / "gauge_livesum_4242.db").exists()
    assert (tmp_path / "counter_4242.db").exists()


def test_an_empty_multiproc_dir_turns_multiprocess_off_instead_of_writing_into_the_working_directory(tmp_path):
    """A worker started with PROMETHEUS_MULTIPROC_DIR="" once left counter_*.db files in the repository."""
    root = Path(__file__).resolve().parents[2]
    script = (
        "import django; django.setup();"
        "from core import metrics;"
        "from prometheus_client import Counter;"
        "Counter('storeplane_probe_total', 'probe').inc()"
    )
    # Outside a test run (no PYTEST_VERSION): the settings take the variable as given, as a worker would.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env |= {
        "PROMETHEUS_MULTIPROC_DIR": "",
        "PYTHONPATH": str(root),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "true",
        "DJANGO_ENV_FILE": str(tmp_path.parent / "no.env"),
    }
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=True, timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
