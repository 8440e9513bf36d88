"""The wait-for-database init containers give up (issue 18's known gap): a pod the kubelet starts before it knows
the database Service has the Service's env variable unexpanded and used to wait forever. Each wait now exits
non-zero at once when its address is missing and after toolbox.waitTimeoutSeconds otherwise, so the kubelet
restarts it with fresh variables. Statically (the rendered bound), behaviourally (the rendered script run by
busybox, as the toolbox runs it) and on the real cluster (a pod started without the Service is restarted and then
gets its address)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time

import pytest
import yaml

from .chart_helpers import (
    COMBOS,
    ENGINE_CI,
    combo_id,
    helm_template,
    load_values,
    pod_specs,
    render,
    render_combo,
    values_files,
)

BUSYBOX = shutil.which("busybox")


def _waits(objs: list[dict]) -> list[tuple[str, dict]]:
    return [
        (f"{pod.name}/{c['name']}", c)
        for pod in pod_specs(objs)
        for c in pod.spec.get("initContainers", [])
        if c["name"].startswith("wait-for-")
    ]


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_every_database_wait_is_bounded_by_the_values_timeout(combo):
    engine, platform = combo
    waits = _waits(render_combo(combo))
    # One wait per engine workload that needs a database: WordPress on MariaDB, Medusa on PostgreSQL.
    assert sorted(c["name"] for _, c in waits) == (
        ["wait-for-mariadb"] if engine == "woocommerce" else ["wait-for-postgresql"]
    )
    bound = str(load_values(values_files(engine, platform))["toolbox"]["waitTimeoutSeconds"])
    for where, c in waits:
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["WAIT_TIMEOUT"] == bound == "120", where
        assert c["terminationMessagePolicy"] == "FallbackToLogsOnError", where  # the reason in the pod's status
        assert "exit 1" in c["command"][-1], where


def test_the_bound_is_a_value_and_the_schema_checks_it():
    objs = render([ENGINE_CI["woocommerce"]], ("toolbox.waitTimeoutSeconds=45",))
    [(_, wait)] = _waits(objs)
    assert {e["name"]: e["value"] for e in wait["env"]}["WAIT_TIMEOUT"] == "45"
    proc = helm_template([ENGINE_CI["woocommerce"]], ("toolbox.waitTimeoutSeconds=0",))
    assert proc.returncode != 0 and "/toolbox/waitTimeoutSeconds" in proc.stderr


# --- the rendered script, run by busybox as the toolbox image runs it ---------------------------------------------


@pytest.fixture
def busybox_path(tmp_path) -> str:
    """A PATH of busybox applets only (the toolbox's sh, nc, date, sleep), not the host's own tools."""
    if not BUSYBOX:
        pytest.skip("busybox is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for applet in ("sh", "nc", "date", "sleep"):
        (bin_dir / applet).symlink_to(BUSYBOX)
    return str(bin_dir)


def _run_wait(path: str, host: str, port: int, timeout: int, limit: float = 30) -> tuple[int, str, float]:
    [(_, wait)] = _waits(render([ENGINE_CI["woocommerce"], "values-local.yaml"]))
    env = {e["name"]: e["value"] for e in wait["env"]}
    env.update(PATH=path, DB_HOST=host, DB_PORT=str(port), WAIT_TIMEOUT=str(timeout))
    started = time.monotonic()
    proc = subprocess.run(wait["command"], env=env, capture_output=True, text=True, timeout=limit)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_an_unexpanded_service_variable_exits_non_zero_at_once(busybox_path):
    # What the kubelet leaves in the env when it did not know the Service: the reference itself.
    code, out, took = _run_wait(busybox_path, "$(STORE_CI1WOO_MARIADB_SERVICE_HOST)", 3306, timeout=120)
    assert code == 1 and took < 5
    assert "not in this container's environment" in out


def test_a_database_that_never_answers_is_given_up_after_the_bound(busybox_path):
    code, out, took = _run_wait(busybox_path, "127.0.0.1", _closed_port(), timeout=3)
    assert code == 1 and 3 <= took < 15, (took, out)
    assert "did not answer in 3s" in out and "waiting for 127.0.0.1" in out


def test_a_database_that_answers_ends_the_wait(busybox_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        code, out, took = _run_wait(busybox_path, "127.0.0.1", server.getsockname()[1], timeout=60)
    assert code == 0 and took < 10, out


# --- on the real cluster -------------------------------------------------------------------------------------------


def _kubectl(cluster, namespace: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(cluster.kubectl), "--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=cluster.env,
        input=stdin,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _wait_status(cluster, namespace: str, pod: str) -> dict:
    status = json.loads(_kubectl(cluster, namespace, "get", "pod", pod, "-o", "json").stdout)["status"]
    return (status.get("initContainerStatuses") or [{}])[0]


@pytest.mark.k8s
def test_a_pod_started_before_its_service_is_restarted_and_gets_the_address(k8s_cluster, k8s_namespace):
    # The WordPress pod's own init container, as rendered for the local cluster, in a bare Pod whose database
    # Service does not exist yet: the kubelet gives it the unexpanded variable, it exits 1 and is restarted; once
    # the Service exists, the restarted container has its address and waits for it (bounded) instead.
    cluster, ns = k8s_cluster, k8s_namespace
    objs = render([ENGINE_CI["woocommerce"], "values-local.yaml"], ("storeId=waitcheck",))
    wordpress = next(p for p in pod_specs(objs) if p.spec.get("initContainers"))
    service = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"].endswith("-mariadb"))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "wait-check"},
        "spec": {
            "restartPolicy": "Always",
            "securityContext": wordpress.spec.get("securityContext", {}),
            **{k: wordpress.spec[k] for k in ("dnsPolicy", "dnsConfig") if k in wordpress.spec},
            "initContainers": wordpress.spec["initContainers"],
            "containers": [{**wordpress.spec["initContainers"][0], "name": "idle", "command": ["sleep", "3600"]}],
        },
    }
    _kubectl(cluster, ns, "apply", "-f", "-", stdin=yaml.safe_dump(pod))

    deadline = time.monotonic() + 90
    while (restarts := _wait_status(cluster, ns, "wait-check").get("restartCount", 0)) < 1:
        assert time.monotonic() < deadline, "the init container was never restarted"
        time.sleep(2)
    last = _wait_status(cluster, ns, "wait-check")["lastState"]["terminated"]
    assert last["exitCode"] == 1
    assert "not in this container's environment" in last.get("message", "")  # FallbackToLogsOnError

    service["metadata"].pop("namespace", None)
    _kubectl(cluster, ns, "apply", "-f", "-", stdin=yaml.safe_dump(service))
    cluster_ip = json.loads(_kubectl(cluster, ns, "get", "service", service["metadata"]["name"], "-o", "json").stdout)[
        "spec"
    ]["clusterIP"]
    # The kubelet's back-off doubles from 10 s: a few restarts later the container starts with the Service known.
    deadline = time.monotonic() + 150
    while True:
        log = _kubectl(cluster, ns, "logs", "wait-check", "-c", "wait-for-mariadb").stdout
        if f"waiting for {cluster_ip}:" in log:
            break
        assert time.monotonic() < deadline, f"no attempt reached the Service's address after {restarts}+ restarts"
        time.sleep(3)
