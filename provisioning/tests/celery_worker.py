"""A real Celery worker for tests on the local cluster: a separate process on the test database (transactional
tests commit, so it sees their rows), the test run's Redis prefix, and the cluster's helm, kubectl and kubeconfig."""

import os
import signal
import subprocess
import time
from pathlib import Path

from django.conf import settings as django_settings

ROOT = Path(django_settings.BASE_DIR)


def worker_argv(*, concurrency: int, loglevel: str = "INFO") -> list[str]:
    """A prefork worker of the project's venv, without the chatter (gossip, mingle, heartbeat) a lone worker needs
    not; bench/provisioning starts the same one."""
    return [
        str(ROOT / ".venv/bin/celery"),
        *("-A", "config", "worker", "--concurrency", str(concurrency), "--loglevel", loglevel),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]


def start_worker(cluster, *, concurrency: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """A worker on the local cluster (the k8s_cluster fixture's kubeconfig, helm and kubectl)."""
    return spawn_worker(
        {
            **cluster.env,
            "KUBECONFIG": str(cluster.kubeconfig),
            "HELM_BIN": str(cluster.helm),
            "KUBECTL_BIN": str(cluster.kubectl),
            **(extra_env or {}),
        },
        concurrency=concurrency,
    )


def spawn_worker(overlay: dict[str, str], *, concurrency: int) -> subprocess.Popen:
    """A worker on this test run's database and Redis prefix, with `overlay` (the cluster it talks to) on top."""
    db = django_settings.DATABASES["default"]  # the test database: transactional tests commit, so the worker sees it
    database_url = (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_KEY_PREFIX": django_settings.REDIS_KEY_PREFIX,
        "PROMETHEUS_MULTIPROC_DIR": "",
        **overlay,
        # Last: the cluster's env is a copy of this process's, whose DATABASE_URL names the database, not the test one.
        "DATABASE_URL": database_url,
    }
    return subprocess.Popen(
        worker_argv(concurrency=concurrency),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def stop_worker(worker: subprocess.Popen, *, timeout: float = 60) -> None:
    """A warm shutdown of the worker and its pool (its process group); killed when it does not stop in time."""
    try:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
