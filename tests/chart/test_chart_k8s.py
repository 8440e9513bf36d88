"""The chart on the real local cluster (values-local.yaml): install, every workload Ready, `helm upgrade` with a
changed value keeps the same Secrets and selectors, `helm test` passes, and `helm uninstall` leaves nothing of the
release. Uses the cluster plugin's fixtures k8s_cluster (session) and k8s_namespace (fresh per test).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time

import pytest
import yaml

from .chart_helpers import ENGINE_CI
from .tools import CHART

pytestmark = pytest.mark.k8s

HELM_TIMEOUT = "6m"
PROC_TIMEOUT = 420  # above helm's own --timeout, so helm reports its failure first
APP = {"woocommerce": ("wordpress", "mariadb"), "medusa": ("medusa", "postgresql")}
EXTRA = {"woocommerce": (), "medusa": ("storefront",)}  # values-local.yaml runs the storefront for every Medusa store
RETAINED_BY_KUBERNETES = "PersistentVolumeClaim"  # claims from volumeClaimTemplates outlive their StatefulSet


def _run(cluster, *argv, timeout=PROC_TIMEOUT, check=True, stdin=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, env=cluster.env, input=stdin
    )
    if check and proc.returncode != 0:
        # argv holds no secret (they travel in values files); stderr may name keys, never values.
        raise AssertionError(f"{argv[0]} {argv[1]} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return proc


def _helm(cluster, *args, **kw):
    return _run(cluster, cluster.helm, "--kubeconfig", cluster.kubeconfig, *args, **kw)


def _kubectl_json(cluster, namespace, *args):
    out = _run(cluster, cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "-n", namespace, *args, "-o", "json")
    return json.loads(out.stdout)


def _workloads(cluster, ns, release):
    items = _kubectl_json(cluster, ns, "get", "deployments,statefulsets", "-l", f"app.kubernetes.io/instance={release}")
    return {f"{i['kind']}/{i['metadata']['name']}": i for i in items["items"]}


def _assert_all_ready(cluster, ns, release, expected_components):
    workloads = _workloads(cluster, ns, release)
    comps = {w["metadata"]["labels"]["app.kubernetes.io/component"] for w in workloads.values()}
    assert comps == set(expected_components)
    for name, w in workloads.items():
        want = w["spec"]["replicas"]
        assert w["status"].get("readyReplicas", 0) == want, f"{name}: {w['status']}"
        assert w["status"].get("observedGeneration") == w["metadata"]["generation"], name
    # Pods of a replaced ReplicaSet may still be terminating when helm returns: wait (bounded) for the settled set.
    deadline = time.monotonic() + 90
    while True:
        pods = _kubectl_json(cluster, ns, "get", "pods", "-l", f"app.kubernetes.io/instance={release}")["items"]
        running = [
            p
            for p in pods
            if not p["metadata"]["labels"]["app.kubernetes.io/component"].startswith("test-")
            and not p["metadata"].get("deletionTimestamp")
        ]
        if len(running) == len(expected_components) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert sorted(p["metadata"]["labels"]["app.kubernetes.io/component"] for p in running) == sorted(
        expected_components
    )
    for p in running:
        ready = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
        assert ready.get("Ready") == "True", p["metadata"]["name"]
    return workloads, running


def _secret_digests(cluster, ns, release):
    """name -> key -> sha256 of the value: comparable across revisions, and a failed assert prints no secret."""
    items = _kubectl_json(cluster, ns, "get", "secrets", "-l", f"app.kubernetes.io/instance={release}")["items"]
    return {
        s["metadata"]["name"]: {k: hashlib.sha256(v.encode()).hexdigest() for k, v in s["data"].items()} for s in items
    }


def _release_state(helm_json_stdout: str) -> tuple[str, int]:
    # helm's JSON holds the values and the manifest (secrets included): keep only what the test asserts.
    release = json.loads(helm_json_stdout)
    return release["info"]["status"], release["version"]


def _store_id(namespace: str) -> str:
    sid = re.sub(r"[^a-z0-9-]", "-", namespace.lower())[:40].strip("-")
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", sid), namespace
    return sid


@pytest.mark.parametrize("engine", ["woocommerce", "medusa"])
def test_chart_lifecycle_on_local_cluster(k8s_cluster, k8s_namespace, engine, tmp_path, record_property):
    cluster, ns = k8s_cluster, k8s_namespace
    release = store_id = _store_id(ns)
    app, db = APP[engine]
    components = (app, db, *EXTRA[engine])
    # The platform's way: values-local.yaml, then a 0600 file with the store's ids and secrets.
    secrets_file = tmp_path / "store-values.yaml"
    values = yaml.safe_load((CHART / ENGINE_CI[engine]).read_text())
    values.update(storeId=store_id, storeName=f"k8s test {engine}")
    secrets_file.touch(mode=0o600)
    secrets_file.write_text(yaml.safe_dump(values))
    base = [
        "upgrade",
        "--install",
        release,
        str(CHART),
        "--namespace",
        ns,
        "--create-namespace",
        "-f",
        str(CHART / "values-local.yaml"),
        "-f",
        str(secrets_file),
        "--wait",
        "--timeout",
        HELM_TIMEOUT,
        "--output",
        "json",
    ]
    timings = {}

    t0 = time.monotonic()
    installed = _release_state(_helm(cluster, *base).stdout)
    timings["install"] = time.monotonic() - t0
    assert installed == ("deployed", 1)
    workloads, pods = _assert_all_ready(cluster, ns, release, components)
    selectors = {n: w["spec"]["selector"] for n, w in workloads.items()}
    secrets = _secret_digests(cluster, ns, release)
    assert {f"{store_id}-{app}", f"{store_id}-{db}"} <= set(secrets)

    # The provisioner's path: one pod per component label, container named after it, service env vars expanded.
    (app_pod,) = [p for p in pods if p["metadata"]["labels"]["app.kubernetes.io/component"] == app]
    env_name = "WORDPRESS_DB_HOST" if engine == "woocommerce" else "DATABASE_HOST"
    out = _run(
        cluster,
        cluster.kubectl,
        "--kubeconfig",
        cluster.kubeconfig,
        "-n",
        ns,
        "exec",
        app_pod["metadata"]["name"],
        "-c",
        app,
        "--",
        "printenv",
        env_name,
    ).stdout.strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+(:3306)?", out), f"{env_name} not expanded from the Service: {out!r}"

    # Upgrade with a changed value that rolls every pod: same Secrets, same selectors, Ready again.
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({"storeName": "renamed", "commonLabels": {"storeplane.io/upgrade-check": "2"}}))
    t0 = time.monotonic()
    upgraded = _release_state(_helm(cluster, *base, "-f", str(changed)).stdout)
    timings["upgrade"] = time.monotonic() - t0
    assert upgraded == ("deployed", 2)
    workloads2, pods2 = _assert_all_ready(cluster, ns, release, components)
    assert {n: w["spec"]["selector"] for n, w in workloads2.items()} == selectors
    assert _secret_digests(cluster, ns, release) == secrets
    assert all(p["metadata"]["labels"].get("storeplane.io/upgrade-check") == "2" for p in pods2)

    t0 = time.monotonic()
    tested = _helm(cluster, "test", release, "--namespace", ns, "--timeout", "3m")
    timings["helm_test"] = time.monotonic() - t0
    assert len(re.findall(r"Phase:\s+Succeeded", tested.stdout)) == len(components), tested.stdout
    test_components = ",".join(f"test-{c}" for c in components)
    test_pods = _kubectl_json(cluster, ns, "get", "pods", "-l", f"app.kubernetes.io/component in ({test_components})")
    # helm deletes passed test pods (hook-succeeded); they may still be terminating.
    assert [p["metadata"]["name"] for p in test_pods["items"] if not p["metadata"].get("deletionTimestamp")] == []

    t0 = time.monotonic()
    _helm(cluster, "uninstall", release, "--namespace", ns, "--wait", "--timeout", "3m")
    timings["uninstall"] = time.monotonic() - t0
    assert (
        _run(
            cluster, cluster.helm, "--kubeconfig", cluster.kubeconfig, "status", release, "-n", ns, check=False
        ).returncode
        != 0
    )
    kinds = "all,secrets,configmaps,pvc,ingresses,networkpolicies,resourcequotas,limitranges,serviceaccounts"
    # Only the database's data claim may remain (Kubernetes keeps volumeClaimTemplate claims; deleting the
    # namespace, which the platform does next, removes it). ReplicaSets and pods are garbage-collected after helm
    # returns, so poll for a bounded time.
    expected = [f"{RETAINED_BY_KUBERNETES}/data-{store_id}-{db}-0"]
    deadline = time.monotonic() + 120
    while True:
        left = _kubectl_json(cluster, ns, "get", kinds, "-l", f"app.kubernetes.io/instance={release}")["items"]
        left_names = [f"{i['kind']}/{i['metadata']['name']}" for i in left]
        rest = _kubectl_json(cluster, ns, "get", "all,ingresses,networkpolicies,resourcequotas,limitranges")["items"]
        if (left_names == expected and rest == []) or time.monotonic() > deadline:
            break
        time.sleep(2)
    timings["uninstall_to_empty"] = time.monotonic() - t0
    assert left_names == expected
    assert [f"{i['kind']}/{i['metadata']['name']}" for i in rest] == []
    for k, v in timings.items():
        record_property(f"{engine}_{k}_seconds", round(v, 1))
    print(f"[chart-k8s] {engine}: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
