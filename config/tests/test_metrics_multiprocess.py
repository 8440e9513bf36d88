"""Multiprocess bookkeeping in the gunicorn hooks: a fresh directory at server start, and a dead worker's live
gauges dropped so active_provisioning_operations never counts a process that is gone."""

import importlib

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
