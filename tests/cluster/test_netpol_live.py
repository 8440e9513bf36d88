"""The chart's NetworkPolicies probed live, on a cluster that enforces them (NETPOL_ENFORCED=1 says it does).

The local cluster has no NetworkPolicy implementation, so there the probe matrix is skipped and
tests/chart/test_chart_netpol_analysis.py proves the rules by analysis; this module is the same claim made against
packets. Two stores (one WooCommerce, one Medusa) are rendered the way the platform renders them; their
NetworkPolicies and Services are applied as rendered, and each pod the chart would run is stood in for by a toolbox
pod with the same labels and container ports that listens on them (the network is under test, not the engines,
whose images need not exist on that cluster). Around them: a pod with the controller's labels in a namespace with the
controller's namespace labels, another pod there, a look-alike with the controller's labels in an unlabelled
namespace, and a hostNetwork pod (the node path). Every pod then connects (`nc`, from inside the cluster) to every
store pod's port and every store Service; the connections that open must be exactly network-config-analyzer's
connectivity map of the same rendered objects.

The hostNetwork pod must reach every web port; what it cannot reach is not asserted, because Kubernetes always
admits traffic between a pod and its own node whatever the policies say.

Environment: NETPOL_ENFORCED=1 runs it; NETPOL_KUBECONFIG (default $KUBECONFIG, else the local cluster's);
NETPOL_NODE_CIDRS, comma-separated: the address a hostNetwork pod's connections to pods come from on that cluster
(default: values-local's ipBlocks); NETPOL_TOOLBOX_IMAGE and NETPOL_PULL_POLICY (default: values-local's toolbox).
The test also checks, on the local cluster, that values-local's node address is the pod bridge's own address.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from scripts.localcluster.paths import BRIDGE, KUBECONFIG, VENV_BIN
from tests.chart.test_chart_netpol_analysis import (
    ALL,
    CHART,
    CONTROLLER_LABELS,
    PUBLIC,
    components,
    connectivity,
    endpoint,
    store_pairs,
    topology,
    write_scenario,
)

ENFORCED = os.environ.get("NETPOL_ENFORCED") == "1"
NOT_ENFORCED = (
    "NETPOL_ENFORCED=1 is not set: no NetworkPolicy implementation runs on this cluster (the local one has none), so "
    "probes would show every port open whatever the policies say; tests/chart/test_chart_netpol_analysis.py proves "
    "the rules by analysis instead"
)
PROBE_TIMEOUT = 3  # seconds per connection attempt (a dropped SYN waits this long)
READY_TIMEOUT = 180
LOCAL = yaml.safe_load((CHART / "values-local.yaml").read_text())


class Kube:
    """kubectl against the cluster under test."""

    def __init__(self) -> None:
        kubeconfig = os.environ.get("NETPOL_KUBECONFIG") or os.environ.get("KUBECONFIG") or str(KUBECONFIG)
        self.kubectl = os.environ.get("KUBECTL_BIN") or str(VENV_BIN / "kubectl")
        self.env = {**os.environ, "KUBECONFIG": kubeconfig}

    def run(self, *args: str, input: str | None = None, timeout: float = 120, check: bool = True):
        proc = subprocess.run(
            [self.kubectl, *args], input=input, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args[:5])} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        return proc

    def apply(self, objects: list[dict]) -> None:
        self.run("apply", "-f", "-", input=yaml.safe_dump_all(objects))

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json").stdout)


def _toolbox() -> tuple[str, str]:
    image = LOCAL["toolbox"]["image"]
    default = f"{image['repository']}:{image['tag']}"
    return os.environ.get("NETPOL_TOOLBOX_IMAGE", default), os.environ.get("NETPOL_PULL_POLICY", image["pullPolicy"])


def stand_in(ns: str, name: str, labels: dict, ports: list[dict], host_network: bool = False) -> dict:
    """A toolbox pod with a workload's labels and container ports, listening on each port (busybox nc has no -z or
    -k; `-ll -e true` accepts connection after connection and closes each)."""
    image, pull = _toolbox()
    listeners = " ".join(f"nc -ll -p {p['containerPort']} -e true &" for p in ports)
    container = {
        "name": "main",
        "image": image,
        "imagePullPolicy": pull,
        "command": ["sh", "-c", f"{listeners} sleep 3600 & wait"],
        "ports": [{k: p[k] for k in ("name", "containerPort", "protocol") if k in p} for p in ports],
        "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
    }
    if ports:
        container["readinessProbe"] = {"tcpSocket": {"port": ports[0]["containerPort"]}, "periodSeconds": 1}
    spec = {
        "containers": [container],
        "terminationGracePeriodSeconds": 1,
        "automountServiceAccountToken": False,
        # No pod here needs a name resolved; nameserver 127.0.0.1 keeps every query inside the pod.
        "dnsPolicy": "None",
        "dnsConfig": {"nameservers": ["127.0.0.1"]},
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    if host_network:
        spec["hostNetwork"] = True
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": spec,
    }


def store_stand_ins(store_id: str, objs: list[dict]) -> list[tuple[str, dict]]:
    """(NCA endpoint name, stand-in pod) for each workload and helm test pod of a rendered store."""
    out = []
    for obj, _ in components(objs).values():
        if obj["kind"] == "Pod":
            labels, ports = obj["metadata"]["labels"], []
        else:
            labels = obj["spec"]["template"]["metadata"]["labels"]
            ports = obj["spec"]["template"]["spec"]["containers"][0].get("ports", [])
        out.append((endpoint(store_id, obj), stand_in(store_id, obj["metadata"]["name"], labels, ports)))
    return out


def allows(matrix: dict, src: str, dst: str, port: int) -> bool:
    granted = matrix.get((src, dst), ())
    return granted == ALL or any(proto == "TCP" and lo <= port <= hi for proto, lo, hi in granted)


def probe(kube: Kube, ns: str, pod: str, targets: list[tuple[str, int]]) -> dict[tuple[str, int], bool]:
    """Connect from one pod to each (address, port) at once; True where the connection opened."""
    connect = f"nc -w {PROBE_TIMEOUT} {{ip}} {{port}} -e true 2>/dev/null"
    lines = [
        f'({connect.format(ip=ip, port=port)} && echo "open {ip} {port}" || echo "shut {ip} {port}") &'
        for ip, port in targets
    ]
    out = kube.run("-n", ns, "exec", pod, "--", "sh", "-c", "\n".join([*lines, "wait"]), timeout=60).stdout
    seen = {(ip, int(port)): state == "open" for state, ip, port in re.findall(r"^(open|shut) (\S+) (\d+)$", out, re.M)}
    assert set(seen) == set(targets), f"{ns}/{pod} answered for {sorted(seen)} of {sorted(targets)}:\n{out}"
    return seen


def wait_ready(kube: Kube, namespaces: list[str]) -> None:
    for ns in namespaces:
        proc = kube.run(
            "-n",
            ns,
            "wait",
            "--for=condition=Ready",
            "pod",
            "--all",
            f"--timeout={READY_TIMEOUT}s",
            check=False,
            timeout=READY_TIMEOUT + 30,
        )
        if proc.returncode != 0:
            pods = kube.run("-n", ns, "get", "pods", "-o", "wide", check=False).stdout
            pytest.fail(f"stand-in pods of {ns} not Ready in {READY_TIMEOUT}s:\n{pods}\n{proc.stderr}")


def delete_namespaces(kube: Kube, namespaces: list[str], timeout: float = 120) -> None:
    for ns in namespaces:
        kube.run("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [ns for ns in namespaces if kube.run("get", "namespace", ns, "--ignore-not-found", "-o", "name").stdout]
        if not left:
            return
        for ns in left:
            kube.run("-n", ns, "delete", "pods", "--all", "--grace-period=0", "--force", "--wait=false", check=False)
        time.sleep(2)
    raise AssertionError(f"namespaces still there {timeout:.0f} s after deletion: {left}")


@pytest.mark.skipif(not ENFORCED, reason=NOT_ENFORCED)
def test_two_stores_probe_exactly_the_analysed_matrix(tmp_path):
    kube = Kube()
    sfx = secrets.token_hex(3)
    stores = ((f"npl-woo-{sfx}", "woocommerce"), (f"npl-med-{sfx}", "medusa"))
    ingress_ns, tools_ns = f"npl-ingress-{sfx}", f"npl-tools-{sfx}"
    node_cidrs = [c for c in os.environ.get("NETPOL_NODE_CIDRS", "").split(",") if c] or list(
        LOCAL["networkPolicy"]["ingressController"]["ipBlocks"]
    )
    sets = ("networkPolicy.ingressController.ipBlocks={" + ",".join(node_cidrs) + "}",)
    scenario = write_scenario(
        tmp_path / "live", stores=stores, sets=sets, node_cidrs=node_cidrs, ingress_ns=ingress_ns, tools_ns=tools_ns
    )
    matrix = store_pairs(connectivity(scenario), scenario.objects)

    namespaces = [o for o in topology(stores, ingress_ns, tools_ns) if o["kind"] == "Namespace"]
    namespaces = [o for o in namespaces if o["metadata"]["name"] != "kube-system"]
    names = [o["metadata"]["name"] for o in namespaces]
    pods = [
        (scenario.controller, stand_in(ingress_ns, "traefik", dict(CONTROLLER_LABELS), [])),
        (f"{ingress_ns}/debug[Pod]", stand_in(ingress_ns, "debug", {"app": "debug"}, [])),
        (f"{tools_ns}/lookalike[Pod]", stand_in(tools_ns, "lookalike", dict(CONTROLLER_LABELS), [])),
    ]
    node_probe = stand_in(ingress_ns, "node-probe", {"app": "node-probe"}, [], host_network=True)
    try:
        kube.apply(namespaces)
        for store_id, objs in scenario.objects.items():
            kube.apply([o for o in objs if o["kind"] in ("NetworkPolicy", "Service")])
            pods += store_stand_ins(store_id, objs)
        kube.apply([p for _, p in pods] + [node_probe])
        wait_ready(kube, names)

        by_endpoint = {ep: p for ep, p in pods}
        live = {}
        for ns in names:
            for item in kube.json("-n", ns, "get", "pods")["items"]:
                live[(ns, item["metadata"]["name"])] = item["status"]["podIP"]
        ip_of = {ep: live[(p["metadata"]["namespace"], p["metadata"]["name"])] for ep, p in pods}
        # Targets: every listening store pod on its port, and every store Service on its port (-> the pod's port).
        targets = []  # (destination endpoint, address, port, the pod's port the policy sees)
        for ep, p in pods:
            for port in p["spec"]["containers"][0]["ports"]:
                targets.append((ep, ip_of[ep], port["containerPort"], port["containerPort"]))
        for store_id, _ in stores:
            for svc in kube.json("-n", store_id, "get", "services")["items"]:
                comp = svc["spec"]["selector"]["app.kubernetes.io/component"]
                [(dst, pod)] = [
                    (ep, p)
                    for ep, p in pods
                    if ep.startswith(f"{store_id}/")
                    and p["metadata"]["labels"].get("app.kubernetes.io/component") == comp
                ]
                by_name = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
                for port in svc["spec"]["ports"]:
                    target_port = by_name.get(port["targetPort"], port["targetPort"])
                    targets.append((dst, svc["spec"]["clusterIP"], port["port"], int(target_port)))

        def run(src: str) -> tuple[str, dict]:
            p = by_endpoint[src]
            mine = [(ip, port) for dst, ip, port, _ in targets if dst != src]
            return src, probe(kube, p["metadata"]["namespace"], p["metadata"]["name"], mine)

        with ThreadPoolExecutor(max_workers=4) as pool:
            observed = dict(pool.map(run, list(by_endpoint)))
        wrong = []
        for src, seen in observed.items():
            for dst, ip, port, pod_port in targets:
                if dst == src:
                    continue
                want = allows(matrix, src, dst, pod_port)
                if seen[(ip, port)] != want:
                    wrong.append(
                        f"{src} -> {dst} via {ip}:{port}: {'open' if seen[(ip, port)] else 'shut'}, "
                        f"analysis says {'open' if want else 'shut'}"
                    )
        # The node path: every web port answers the hostNetwork pod (pod addresses; Service addresses from the host
        # network are not the ingress path).
        web = [
            (ip, port)
            for dst, ip, port, pod_port in targets
            if ip == ip_of[dst] and by_endpoint[dst]["metadata"]["labels"]["app.kubernetes.io/component"] in PUBLIC
        ]
        node_seen = probe(kube, ingress_ns, "node-probe", web)
        wrong += [
            f"node -> {ip}:{port}: shut, the ingress path must reach it"
            for (ip, port), ok in node_seen.items()
            if not ok
        ]
        assert web and not wrong, "\n".join(wrong)
    finally:
        delete_namespaces(kube, names)


@pytest.mark.k8s
def test_values_local_node_address_is_the_pod_bridge_address(k8s_cluster):
    # The hostNetwork Traefik's connections to pods leave from the bridge's own address (tests/cluster/
    # test_ingress.py shows the source); the local policies must name exactly that address.
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", BRIDGE], capture_output=True, text=True, check=True).stdout
    addresses = re.findall(r"inet (\S+)/\d+", out)
    assert LOCAL["networkPolicy"]["ingressController"]["ipBlocks"] == [f"{a}/32" for a in addresses], out
