"""pytest plugin for the local cluster (registered in pyproject addopts with `-p scripts.localcluster.pytest_plugin`).

- marker `k8s`: the test needs the real cluster (the `k8s_cluster` fixture is added to it automatically);
- `k8s_cluster` (session): starts the cluster once per run only when a test asks for it, or reuses a running one;
  tears down at the end only what it started (set STOREPLANE_KEEP_CLUSTER=1 to keep it for the next run).
  If the cluster cannot start, every test needing it fails with the reason: never skipped.
- `k8s_namespace`: a fresh namespace per test, deleted afterwards together with any helm release in it.
- `fake_cli`: fake `helm` and `kubectl` (see scripts.localcluster.fakecli) for error-path unit tests.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .fakecli import FakeCli
from .paths import KUBECONFIG, REPO_ROOT, VENV_BIN

NAMESPACE_DELETE_TIMEOUT = 120  # seconds; a stuck namespace fails the test's teardown instead of hanging the run


@dataclass
class K8sCluster:
    kubeconfig: Path
    helm: Path
    kubectl: Path
    env: dict[str, str] = field(repr=False)
    started_here: bool = False

    def kubectl_run(self, *args: str, input: str | None = None, timeout: float = 120, check: bool = True):
        return self._run([str(self.kubectl), *args], input, timeout, check)

    def helm_run(self, *args: str, input: str | None = None, timeout: float = 300, check: bool = True):
        return self._run([str(self.helm), *args], input, timeout, check)

    def _run(self, argv: list[str], input: str | None, timeout: float, check: bool):
        proc = subprocess.run(argv, input=input, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv[:6])} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        return proc


def cluster_env(kubeconfig: Path) -> dict[str, str]:
    """Subprocess environment: the project's helm/kubectl first, the kubeconfig, and helm's dirs under .local."""
    helm_home = REPO_ROOT / ".local" / "helm"
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(kubeconfig),
        "HELM_CACHE_HOME": str(helm_home / "cache"),
        "HELM_CONFIG_HOME": str(helm_home / "config"),
        "HELM_DATA_HOME": str(helm_home / "data"),
        "HELM_BIN": str(VENV_BIN / "helm"),
        "KUBECTL_BIN": str(VENV_BIN / "kubectl"),
    }


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "k8s: needs the real local Kubernetes cluster (started once per run)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("k8s") and "k8s_cluster" not in getattr(item, "fixturenames", ()):
            item.fixturenames.insert(0, "k8s_cluster")


@pytest.fixture(scope="session")
def k8s_cluster() -> K8sCluster:
    from . import cluster
    from .util import ClusterError

    try:
        with cluster.machine_lock():
            # A running cluster whose ingress controller `up` only redeploys is still not ours to stop.
            running = cluster.core_healthy(cluster.read_owner())
        kubeconfig = cluster.up()
    except (ClusterError, OSError) as exc:
        pytest.fail(f"the local Kubernetes cluster could not start: {exc}", pytrace=False)
    handle = K8sCluster(
        kubeconfig=kubeconfig,
        helm=VENV_BIN / "helm",
        kubectl=VENV_BIN / "kubectl",
        env=cluster_env(KUBECONFIG),
        started_here=not running,
    )
    yield handle
    if handle.started_here and os.environ.get("STOREPLANE_KEEP_CLUSTER") != "1":
        cluster.down()


def _namespace_name(nodeid: str) -> str:
    test = re.sub(r"[^a-z0-9-]+", "-", nodeid.rsplit("::", 1)[-1].lower()).strip("-")[:40].strip("-")
    return f"t-{test}-{secrets.token_hex(3)}"


@pytest.fixture
def k8s_namespace(k8s_cluster: K8sCluster, request: pytest.FixtureRequest) -> str:
    name = _namespace_name(request.node.nodeid)
    k8s_cluster.kubectl_run("create", "namespace", name)
    yield name
    releases = k8s_cluster.helm_run("list", "-n", name, "-q", "-a", check=False).stdout.split()
    for release in releases:
        k8s_cluster.helm_run("uninstall", release, "-n", name, "--wait", "--timeout", "60s", check=False, timeout=90)
    delete_namespace(k8s_cluster, name)


def delete_namespace(k8s_cluster: K8sCluster, name: str, timeout: float = NAMESPACE_DELETE_TIMEOUT) -> None:
    """Delete a test namespace and wait until it is gone; on timeout, fail with what is still in it.

    The namespace is marked Terminating first: from then on no controller can create a pod in it (the apiserver's
    NamespaceLifecycle admission refuses), so force-deleting its pods cannot make a Deployment start fresh ones.
    A pod deleted while the kubelet is still starting it can sit in Terminating for minutes on this Kubernetes
    (1.20), and the namespace controller waits for every pod, so the pods are removed from the API outright; the
    kubelet still stops their containers.
    """
    k8s_cluster.kubectl_run("delete", "namespace", name, "--wait=false", "--ignore-not-found")
    deadline = time.monotonic() + timeout
    while True:
        k8s_cluster.kubectl_run(
            "-n", name, "delete", "pods", "--all", "--grace-period=0", "--force", "--wait=false", check=False
        )
        if not _namespace_exists(k8s_cluster, name):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"namespace {name} still exists {timeout:.0f} s after its deletion:\n"
                + _namespace_leftovers(k8s_cluster, name)
            )
        time.sleep(2)


def _namespace_exists(k8s_cluster: K8sCluster, name: str) -> bool:
    proc = k8s_cluster.kubectl_run("get", "namespace", name, "--ignore-not-found", "-o", "name", check=False)
    return proc.returncode != 0 or bool(proc.stdout.strip())


def _namespace_leftovers(k8s_cluster: K8sCluster, name: str) -> str:
    """The namespace's conditions (they name what the namespace controller still waits for) and its pods."""
    conditions = k8s_cluster.kubectl_run(
        "get",
        "namespace",
        name,
        "-o",
        'jsonpath={range .status.conditions[*]}{.type}: {.message}{"\\n"}{end}',
        check=False,
    )
    pods = k8s_cluster.kubectl_run("-n", name, "get", "pods", "-o", "wide", check=False)
    return f"{conditions.stdout}{conditions.stderr}{pods.stdout}{pods.stderr}"


@pytest.fixture
def fake_cli(tmp_path: Path) -> FakeCli:
    return FakeCli(tmp_path / "fakecli")
