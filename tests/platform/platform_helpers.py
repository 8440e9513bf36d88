"""Rendering charts/storeplane with helm: the values combinations under test and small readers of the result."""

from __future__ import annotations

import functools
import subprocess

import yaml

from tests.chart.tools import REPO, helm_bin

CHART = REPO / "charts" / "storeplane"
STORE_CHART = REPO / "charts" / "ecommerce-store"
NAMESPACE = "storeplane-ns"
RELEASE = "sp"
# The two shapes the chart ships: production (external data stores, HPA, digest) and the local cluster (bundled).
VALUES = {
    "external": ["ci/external-values.yaml"],
    "local": ["values-local.yaml", "ci/local-values.yaml"],
}
KUBE_VERSIONS = ("1.20.0", "1.33.0")


def run_helm(*args: str, cwd=CHART, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm_bin()), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def template(files: list[str], sets: tuple[str, ...] = (), kube_version: str = "1.20.0") -> subprocess.CompletedProcess:
    args = ["template", RELEASE, ".", "--namespace", NAMESPACE, "--kube-version", kube_version]
    for f in files:
        args += ["-f", f]
    for s in sets:
        args += ["--set", s]
    return run_helm(*args)


@functools.lru_cache(maxsize=32)
def _rendered(files: tuple[str, ...], sets: tuple[str, ...], kube_version: str) -> str:
    proc = template(list(files), sets, kube_version)
    if proc.returncode != 0:
        raise AssertionError(f"helm template {files} {sets} failed: {proc.stderr}")
    return proc.stdout


def render(shape: str, sets: tuple[str, ...] = (), kube_version: str = "1.20.0") -> list[dict]:
    """The objects of one values shape (fresh copies)."""
    return [d for d in yaml.safe_load_all(_rendered(tuple(VALUES[shape]), tuple(sets), kube_version)) if d]


def component(obj: dict) -> str:
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")


def one(objs: list[dict], kind: str, comp: str | None = None, name: str | None = None) -> dict:
    found = [
        o
        for o in objs
        if o["kind"] == kind
        and (comp is None or component(o) == comp)
        and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{kind} {comp or name}: {[o['metadata']['name'] for o in found]}"
    return found[0]


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "Pod":
        return obj["spec"]
    return obj["spec"]["template"]["spec"]


def pods(objs: list[dict]) -> list[tuple[str, dict]]:
    """(name, pod spec) of every workload, Job and Pod."""
    kinds = {"Deployment", "StatefulSet", "Job", "Pod"}
    return [(f"{o['kind']}/{o['metadata']['name']}", pod_spec(o)) for o in objs if o["kind"] in kinds]
