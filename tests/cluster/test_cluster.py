"""The issue's "Done when" list, checked against the real local cluster (one cluster per run; the down/up cycle is the
last test so the others share one start)."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from scripts.localcluster import cluster, guards, ingress, k8sbuild
from scripts.localcluster.paths import KUBECONFIG, POD_CIDR, REPO_ROOT, SERVICE_CIDR
from scripts.localcluster.pytest_plugin import delete_namespace
from scripts.localcluster.util import free_port

HERE = Path(__file__).parent
MANIFESTS = HERE / "manifests"
TINY_CHART = HERE / "charts" / "tiny"

pytestmark = pytest.mark.k8s


def _json(k8s, *args):
    return json.loads(k8s.kubectl_run(*args, "-o", "json").stdout)


def _wait_ready(k8s, namespace, timeout=240):
    """Wait for every Deployment's pods to be Ready; on timeout, fail with what the pods say."""
    proc = k8s.kubectl_run(
        "-n",
        namespace,
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        f"--timeout={timeout}s",
        check=False,
        timeout=timeout + 30,
    )
    if proc.returncode != 0:
        pods = k8s.kubectl_run("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout
        events = k8s.kubectl_run("-n", namespace, "get", "events", "--sort-by=.lastTimestamp", check=False).stdout
        logs = k8s.kubectl_run(
            "-n", namespace, "logs", "--all-containers", "-l", "app", "--tail=30", check=False
        ).stdout
        pytest.fail(f"not Ready in {timeout}s:\n{pods}\n{events[-3000:]}\n{logs[-3000:]}")


def _http_through_port_forward(k8s, namespace, target, remote_port, path):
    """GET path through `kubectl port-forward` on 127.0.0.1 (never a pod IP); returns (status, body)."""
    port = free_port()
    forward = subprocess.Popen(
        [str(k8s.kubectl), "-n", namespace, "port-forward", "--address", "127.0.0.1", target, f"{port}:{remote_port}"],
        env=k8s.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Forwarding from 127.0.0.1" in forward.stdout.readline()
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:  # noqa: S310
                    return resp.status, resp.read().decode(errors="replace")
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode(errors="replace")
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _running(pid: int) -> bool:
    """Still running: a zombie (state Z) has exited and only waits for its parent to collect it. Daemons whose
    `up` has exited belong to PID 1, which on this machine reaps them a second or two later."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_node_is_ready_through_the_checkout_kubeconfig(k8s_cluster):
    assert k8s_cluster.kubeconfig == REPO_ROOT / ".local" / "cluster" / "kubeconfig" == KUBECONFIG
    nodes = _json(k8s_cluster, "--kubeconfig", str(KUBECONFIG), "get", "nodes")["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["localhost"]
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert k8s_cluster.kubectl_run("version", "--client", "-o", "json").stdout.count("v1.37.1") >= 1
    assert "v3.19.0" in k8s_cluster.helm_run("version", "--short").stdout


def test_traffic_guards_are_installed_while_running(k8s_cluster, k8s_namespace):
    uplink = guards.uplink()
    assert uplink, "this machine has a default route; the guard must name its interface"
    for table in ("mangle", "filter"):
        rules = subprocess.run(
            ["iptables", "-w", "5", "-t", table, "-S", "FORWARD"], capture_output=True, text=True, check=True
        )
        forward = [r for r in rules.stdout.splitlines() if r.startswith("-A FORWARD")]
        # The drops come first, before anything that could accept forwarded pod traffic (kube-proxy's jumps).
        assert f"-s {POD_CIDR} -o {uplink}" in forward[0] and forward[0].endswith("-j DROP"), (table, forward)
        assert f"-s {POD_CIDR} ! -o storeplane0" in forward[1] and forward[1].endswith("-j DROP"), (table, forward)
    routes = subprocess.run(["ip", "route", "show", "type", "blackhole"], capture_output=True, text=True).stdout
    assert f"blackhole {SERVICE_CIDR}" in routes

    k8s_cluster.kubectl_run("-n", k8s_namespace, "apply", "-f", str(MANIFESTS / "toolbox-pod.yaml"))
    k8s_cluster.kubectl_run(
        "-n", k8s_namespace, "wait", "--for=condition=Ready", "pod/toolbox", "--timeout=60s", timeout=90
    )
    pod = _json(k8s_cluster, "-n", k8s_namespace, "get", "pod", "toolbox")
    assert pod["spec"]["dnsPolicy"] == "None"
    assert pod["spec"]["dnsConfig"]["nameservers"] == ["127.0.0.1"]
    resolv = k8s_cluster.kubectl_run("-n", k8s_namespace, "exec", "toolbox", "--", "cat", "/etc/resolv.conf").stdout
    assert re.findall(r"^nameserver (\S+)", resolv, re.M) == ["127.0.0.1"]
    # Even a pod that forgets dnsPolicy None gets the kubelet's loopback-only resolv.conf, not the host's.
    kubelet_resolv = (cluster.CONF / "resolv.conf").read_text()
    assert re.findall(r"^nameserver (\S+)", kubelet_resolv, re.M) == ["127.0.0.1"]


def test_kubectl_exec_passes_stdin_and_exit_codes(k8s_cluster, k8s_namespace):
    k8s_cluster.kubectl_run("-n", k8s_namespace, "apply", "-f", str(MANIFESTS / "toolbox-pod.yaml"))
    k8s_cluster.kubectl_run(
        "-n", k8s_namespace, "wait", "--for=condition=Ready", "pod/toolbox", "--timeout=60s", timeout=90
    )
    proc = k8s_cluster.kubectl_run(
        "-n",
        k8s_namespace,
        "exec",
        "-i",
        "toolbox",
        "-c",
        "toolbox",
        "--",
        "sh",
        "-c",
        "tr a-z A-Z; exit 7",
        input="secret-free stdin\n",
        check=False,
    )
    assert proc.returncode == 7
    assert proc.stdout == "SECRET-FREE STDIN\n"
    ok = k8s_cluster.kubectl_run("-n", k8s_namespace, "exec", "toolbox", "--", "id", "-u")
    assert ok.stdout.strip() == "65534"


def test_helm_install_and_uninstall_with_wait_then_namespace_deletion(k8s_cluster):
    namespace = f"t-helm-{int(time.time())}"
    install = k8s_cluster.helm_run(
        "upgrade",
        "--install",
        "shop",
        str(TINY_CHART),
        "-n",
        namespace,
        "--create-namespace",
        "--wait",
        "--timeout",
        "90s",
        "-o",
        "json",
        timeout=150,
    )
    assert json.loads(install.stdout)["info"]["status"] == "deployed"
    deployment = _json(k8s_cluster, "-n", namespace, "get", "deployment", "shop-tiny")
    assert deployment["status"].get("readyReplicas") == 1
    k8s_cluster.helm_run("uninstall", "shop", "-n", namespace, "--wait", "--timeout", "90s", timeout=150)
    assert k8s_cluster.helm_run("list", "-n", namespace, "-q", "-a").stdout.strip() == ""
    left = _json(k8s_cluster, "-n", namespace, "get", "deployments,configmaps", "-l", "app")["items"]
    assert left == []
    k8s_cluster.kubectl_run("delete", "namespace", namespace, "--wait=true", "--timeout=120s", timeout=150)
    gone = k8s_cluster.kubectl_run("get", "namespace", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_missing_image_is_a_clear_helm_failure_within_the_timeout(k8s_cluster, k8s_namespace):
    started = time.monotonic()
    proc = k8s_cluster.helm_run(
        "upgrade",
        "--install",
        "broken",
        str(TINY_CHART),
        "-n",
        k8s_namespace,
        "--set",
        "image=storeplane.local/does-not-exist:local",
        "--wait",
        "--timeout",
        "20s",
        check=False,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode != 0
    assert "context deadline exceeded" in proc.stderr
    assert elapsed < 90, f"helm took {elapsed:.0f}s for a 20s timeout"
    status = json.loads(k8s_cluster.helm_run("status", "broken", "-n", k8s_namespace, "-o", "json").stdout)
    assert status["info"]["status"] == "failed"
    pods = _json(k8s_cluster, "-n", k8s_namespace, "get", "pods")["items"]
    reasons = {s["state"].get("waiting", {}).get("reason") for p in pods for s in p["status"]["containerStatuses"]}
    assert reasons == {"ErrImageNeverPull"}


def test_pvc_of_class_hostpath_binds_and_its_volume_is_removed_after(k8s_cluster, k8s_namespace):
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {
            "storageClassName": "hostpath",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    k8s_cluster.kubectl_run("-n", k8s_namespace, "apply", "-f", "-", input=json.dumps(claim))
    deadline = time.monotonic() + 30
    while (pvc := _json(k8s_cluster, "-n", k8s_namespace, "get", "pvc", "data"))["status"].get("phase") != "Bound":
        assert time.monotonic() < deadline, f"PVC not Bound after 30s: {pvc['status']}"
        time.sleep(1)
    pv = _json(k8s_cluster, "get", "pv", pvc["spec"]["volumeName"])
    host_dir = Path(pv["spec"]["hostPath"]["path"])
    assert host_dir.is_dir() and host_dir.is_relative_to(cluster.VOLUMES)
    assert "meta.helm.sh/release-name" not in pv["metadata"].get("annotations", {})
    k8s_cluster.kubectl_run("-n", k8s_namespace, "delete", "pvc", "data", "--wait=true", "--timeout=60s")
    deadline = time.monotonic() + 30
    while k8s_cluster.kubectl_run("get", "pv", pv["metadata"]["name"], check=False).returncode == 0:
        assert time.monotonic() < deadline, "released PV was not removed within 30s"
        time.sleep(1)
    assert not host_dir.exists()


def test_wordpress_and_mariadb_from_local_images_serve_wp_login(k8s_cluster, k8s_namespace):
    k8s_cluster.kubectl_run("-n", k8s_namespace, "apply", "-f", str(MANIFESTS / "wordpress-mariadb.yaml"))
    _wait_ready(k8s_cluster, k8s_namespace)
    status, body = _http_through_port_forward(k8s_cluster, k8s_namespace, "svc/wordpress", 80, "/wp-login.php")
    assert status == 200
    # Not installed yet, WordPress sends wp-login.php on to its installer: PHP ran and reached MariaDB (a missing
    # database would be a 500 "Error establishing a database connection").
    title = re.search(r"<title>(.*?)</title>", body, re.S)
    assert title and "WordPress" in title.group(1), body[:500]


def test_medusa_and_postgres_from_local_images_answer_health(k8s_cluster, k8s_namespace):
    k8s_cluster.kubectl_run("-n", k8s_namespace, "apply", "-f", str(MANIFESTS / "medusa-postgres.yaml"))
    _wait_ready(k8s_cluster, k8s_namespace, timeout=300)
    status, body = _http_through_port_forward(k8s_cluster, k8s_namespace, "svc/medusa", 9000, "/health")
    assert (status, body.strip()) == (200, "OK")


def test_namespace_teardown_removes_pods_that_would_not_stop_and_their_deployment(k8s_cluster):
    """What every k8s test's namespace goes through afterwards: a Deployment whose pods ignore SIGTERM with a
    ten-minute grace period (one replaced by a fresh, still-starting pod) is gone well within the teardown's
    bound, instead of the namespace controller waiting out the grace period."""
    namespace = f"t-teardown-{secrets.token_hex(3)}"
    k8s_cluster.kubectl_run("create", "namespace", namespace)
    k8s_cluster.kubectl_run("-n", namespace, "apply", "-f", str(MANIFESTS / "stubborn-deployment.yaml"))
    _wait_ready(k8s_cluster, namespace, timeout=120)
    pods = _json(k8s_cluster, "-n", namespace, "get", "pods")["items"]
    k8s_cluster.kubectl_run("-n", namespace, "delete", "pod", pods[0]["metadata"]["name"], "--wait=false")

    delete_namespace(k8s_cluster, namespace, timeout=60)

    gone = k8s_cluster.kubectl_run("get", "namespace", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_second_up_reuses_the_running_cluster_and_the_builds(k8s_cluster):
    before = cluster.read_owner()
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.localcluster", "up"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(KUBECONFIG)
    assert "reusing the running cluster" in proc.stderr
    assert "building Kubernetes" not in proc.stderr
    assert k8sbuild.cached()
    after = cluster.read_owner()
    assert after["procs"] == before["procs"]  # same processes: nothing restarted
    assert after["ports"] == before["ports"]


def test_down_leaves_nothing_behind_and_up_comes_back(k8s_cluster):
    """The costly cycle, done once and last: down removes processes, mounts, rules, routes; up works again."""
    pids = [p.pid for p in cluster.recorded_procs(cluster.read_owner())]
    ingress_ports = cluster.read_owner()["ingress"]
    for _ in range(2):  # safe to run twice
        proc = subprocess.run(
            [sys.executable, "-m", "scripts.localcluster", "down"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
    assert not [p for p in pids if _running(p)]
    assert cluster._stray_pids() == []
    assert cluster._mounts_under((cluster.KUBELET_ROOT, cluster.CONTAINERD_ROOT, cluster.RUN_DIR)) == []
    assert guards.status() == "absent"
    nat = subprocess.run(["iptables", "-w", "5", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    assert "KUBE-SERVICES" not in nat
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout  # the ingress controller too
    assert not [p for p in (ingress_ports["port"], ingress_ports["ping_port"]) if f"127.0.0.1:{p} " in listening]
    assert not [d for d in Path("/proc").glob("[0-9]*/comm") if _read(d) == "traefik\n"]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "storeplane0" not in links
    assert not KUBECONFIG.exists() and cluster.read_owner() is None
    status = subprocess.run(
        [sys.executable, "-m", "scripts.localcluster", "status"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "kube-apiserver" in status and "running" not in status
    # Bring it back for anything that runs after this module; the session fixture tears it down if it started it.
    up = subprocess.run(
        [sys.executable, "-m", "scripts.localcluster", "up"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900
    )
    assert up.returncode == 0, up.stderr[-3000:]
    assert guards.status().startswith("installed")
    assert ingress.health(cluster.read_owner(), cluster.api_for(cluster.read_owner())).ok
