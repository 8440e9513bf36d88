"""The chart's NetworkPolicies proved by analysis, since nothing on the local cluster enforces them.

network-config-analyzer (NCA, pinned in requirements-dev.txt, run offline from its own venv) reads the rendered
objects of four stores (two WooCommerce, two Medusa), each rendered the way the platform renders it (`helm template`
with values-local.yaml and the platform's per-store values, namespace = release = store id), plus a topology of what
else exists on the cluster: the ingress namespace with the controller's pod and an unrelated pod, the DNS pods, and a
namespace holding a look-alike of the controller. The node's address (the pod bridge's gateway, where a hostNetwork
Traefik's packets come from) is an IP source in NCA's model.

The questions are asked with NCA's own queries: `--connectivity` gives the whole matrix, which must be exactly the
ingress path, app -> own database, helm test pod -> its target and DNS; `--permits` and
`--forbids` check spec policies that state the issue's claims one by one. A loosened set (an allow-all rule
injected) makes the same checks fail, so they can fail.

What the model cannot say: Kubernetes always admits traffic between a pod and its own node, whatever the policies
("traffic to and from the node where a Pod is running is always allowed"), so on a single node the hostNetwork
controller can reach the databases however the policies read; the policies deny the node address there, which holds
for a controller on another node and for the controller's pods in production.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from scripts.localcluster import ingress

from . import tools
from .tools import CHART, REPO, ToolMissing, helm_bin

INGRESS_NS = ingress.NAMESPACE
TOOLS_NS = "tenant-tools"
CONTROLLER_LABELS = dict(ingress.POD_LABELS)  # the local Traefik's pod labels
DNS_POD = "kube-system/coredns[Pod]"
PUBLIC = ("wordpress", "medusa", "storefront")
# app -> the only workload it calls, in its own namespace. The storefront calls nothing: it serves a SPA whose
# browser reaches Medusa's store API through the ingress.
CALLS = {"wordpress": "mariadb", "medusa": "postgresql"}
DATABASES = {"mariadb": "wordpress", "postgresql": "medusa"}
STORES = (
    ("shop-woo-a", "woocommerce"),
    ("shop-woo-b", "woocommerce"),
    ("shop-med-a", "medusa"),
    ("shop-med-b", "medusa"),
)
NCA_TIMEOUT = 120


def _nca_spec() -> str:
    """The pin lives in requirements-dev.txt (as a comment: it cannot share the project venv, see there)."""
    found = re.search(r"network-config-analyzer==[0-9][0-9.]*", (REPO / "requirements-dev.txt").read_text())
    if not found:
        raise ToolMissing("requirements-dev.txt names no network-config-analyzer==<version>")
    return found.group(0)


@functools.cache
def nca_python() -> Path:
    """The python of a venv holding the pinned NCA (built once under the cache, like checkov's; ~15 s)."""
    spec = _nca_spec()

    def build(tmp: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True, timeout=120)
        proc = subprocess.run(
            [str(tmp / "bin/python"), "-m", "pip", "--disable-pip-version-check", "-q", "install", spec],
            capture_output=True,
            text=True,
            timeout=tools.PIP_TIMEOUT,
        )
        if proc.returncode != 0:
            raise ToolMissing(f"installing {spec} failed: {proc.stderr[-2000:]}")

    venv = tools._build_once(tools.CACHE / spec.replace("==", "-"), build)
    return venv / "bin" / "python"


def run_nca(*args: str) -> subprocess.CompletedProcess:
    """NCA with no way to a cluster or the network: every input is a local file (NCA falls back to kubectl for
    missing inputs, so PATH holds only its venv and KUBECONFIG names nothing)."""
    python = nca_python()
    env = {"PATH": str(python.parent), "KUBECONFIG": os.devnull, "HOME": str(Path.home())}
    return subprocess.run(
        [str(python), "-m", "nca", *args], capture_output=True, text=True, timeout=NCA_TIMEOUT, env=env
    )


# --- rendering --------------------------------------------------------------------------------------------------


def store_values(store_id: str, engine: str) -> dict:
    """The values file the platform writes for a store (provisioning.values.helm_values, on an unsaved store with
    test-only secrets): the analysis sees what a created store gets, storefront and all."""
    from django.contrib.auth import get_user_model

    from provisioning.values import ENGINE_SECRETS, helm_values
    from stores.models import Store

    store = Store(id=store_id, engine=engine, name=f"Shop {store_id}")
    store.owner = get_user_model()(email=f"owner@{store_id}.example.test")
    secrets = {
        name: "pk_" + "0" * 64 if name == "publishableKey" else f"test-{name}-0123456789abcdef0123456789abcdef"
        for name in ENGINE_SECRETS[engine]
    }
    return helm_values(store, secrets)


@functools.cache
def _render_text(store_id: str, engine: str, sets: tuple[str, ...]) -> str:
    argv = [str(helm_bin()), "template", store_id, str(CHART), "--namespace", store_id]
    argv += ["-f", str(CHART / "values-local.yaml"), "-f", "-"]
    for s in sets:
        argv += ["--set", s]
    proc = subprocess.run(
        argv, input=yaml.safe_dump(store_values(store_id, engine)), capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise AssertionError(f"helm template {store_id} failed: {proc.stderr}")
    return proc.stdout


def render_store(store_id: str, engine: str, sets: tuple[str, ...] = ()) -> list[dict]:
    return [d for d in yaml.safe_load_all(_render_text(store_id, engine, sets)) if d]


def namespace(name: str, labels: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(ns: str, name: str, labels: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "toolbox"}]},
    }


def store_namespace(store_id: str, engine: str) -> dict:
    # The labels provisioning.services.namespace_labels sets; Kubernetes 1.20 adds no kubernetes.io/metadata.name.
    return namespace(
        store_id,
        {
            "app.kubernetes.io/managed-by": "storeplane",
            "storeplane.io/store-id": store_id,
            "storeplane.io/engine": engine,
            "storeplane.io/owner": "1",
        },
    )


def ingress_namespace_labels(name: str) -> dict:
    """The labels the local cluster puts on the controller's namespace (scripts/localcluster/ingress.py)."""
    return {**ingress.NAMESPACE_LABELS, "kubernetes.io/metadata.name": name}


def topology(store_ids_engines, ingress_ns: str = INGRESS_NS, tools_ns: str = TOOLS_NS) -> list[dict]:
    """Everything but the stores' own pods: the ingress namespace (the controller's pod and an unrelated one), the
    DNS pod in kube-system (no name label, as on 1.20), and a namespace with a pod carrying the controller's labels."""
    objs = [store_namespace(s, e) for s, e in store_ids_engines]
    objs += [
        namespace(ingress_ns, ingress_namespace_labels(ingress_ns)),
        pod(ingress_ns, "traefik", CONTROLLER_LABELS),
        pod(ingress_ns, "debug", {"app": "debug"}),
        namespace("kube-system", {}),
        pod("kube-system", "coredns", {"k8s-app": "kube-dns"}),
        namespace(tools_ns, {}),
        pod(tools_ns, "lookalike", dict(CONTROLLER_LABELS)),
    ]
    return objs


@dataclass
class Rendered:
    """The analysis inputs of one scenario: one directory of policies, one of namespaces and pods."""

    root: Path
    objects: dict[str, list[dict]]  # store id -> its rendered objects
    node_cidrs: list[str]
    ingress_ns: str = INGRESS_NS
    tools_ns: str = TOOLS_NS

    @property
    def controller(self) -> str:
        return f"{self.ingress_ns}/traefik[Pod]"

    @property
    def policies(self) -> Path:
        return self.root / "policies"

    @property
    def resources(self) -> Path:
        return self.root / "resources"


def write_scenario(
    root: Path,
    stores=STORES,
    sets: tuple[str, ...] = (),
    extra_policies=(),
    keep_policy=lambda policy: True,
    node_cidrs: list[str] | None = None,
    ingress_ns: str = INGRESS_NS,
    tools_ns: str = TOOLS_NS,
) -> Rendered:
    """Render the stores and write NCA's inputs: the NetworkPolicies, and the workloads plus helm test pods (every
    pod the chart can create) with the topology. `extra_policies` are injected as if the chart had rendered them;
    `keep_policy` drops rendered ones. node_cidrs: the ipBlocks the render uses (default: values-local's)."""
    (root / "policies").mkdir(parents=True)
    (root / "resources").mkdir()
    objects = {}
    for store_id, engine in stores:
        objs = render_store(store_id, engine, sets)
        objects[store_id] = objs
        policies = [o for o in objs if o["kind"] == "NetworkPolicy" and keep_policy(o)]
        pods = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet", "Pod")]
        (root / "policies" / f"{store_id}.yaml").write_text(yaml.safe_dump_all(policies))
        (root / "resources" / f"{store_id}.yaml").write_text(yaml.safe_dump_all(pods))
    if extra_policies:
        (root / "policies" / "injected.yaml").write_text(yaml.safe_dump_all(list(extra_policies)))
    (root / "resources" / "topology.yaml").write_text(yaml.safe_dump_all(topology(stores, ingress_ns, tools_ns)))
    if node_cidrs is None:
        local = yaml.safe_load((CHART / "values-local.yaml").read_text())
        node_cidrs = list(local["networkPolicy"]["ingressController"]["ipBlocks"])
    return Rendered(root, objects, node_cidrs, ingress_ns, tools_ns)


# --- connections ------------------------------------------------------------------------------------------------

ALL = (("*", 0, 0),)  # NCA's "All connections"
_GROUP = re.compile(r"\{protocols:(?P<protocols>[A-Z, ]+?)(?:,dst_ports:(?P<ports>[0-9,\- ]+))?\}")


def conns(protocol_ports: dict[str, list[int]]) -> tuple:
    """Canonical form of a connection set: sorted (protocol, first port, last port), adjacent ports merged."""
    ranges = []
    for protocol, ports in protocol_ports.items():
        for p in sorted(set(ports)):
            if ranges and ranges[-1][0] == protocol and ranges[-1][2] == p - 1:
                ranges[-1] = (protocol, ranges[-1][1], p)
            else:
                ranges.append((protocol, p, p))
    return tuple(sorted(ranges))


def parse_conns(text: str) -> tuple:
    text = text.strip()
    if text == "All connections":
        return ALL
    ranges = []
    for group in _GROUP.finditer(text):
        ports = group.group("ports")
        spans = [(1, 65535)]
        if ports:
            spans = [
                tuple(int(x) for x in part.split("-")) if "-" in part else (int(part),) * 2 for part in ports.split(",")
            ]
        for protocol in group.group("protocols").split(","):
            ranges += [(protocol.strip(), lo, hi) for lo, hi in spans]
    if not ranges:
        raise AssertionError(f"NCA printed a connection set this test cannot read: {text!r}")
    return tuple(sorted(ranges))


def connectivity(scenario: Rendered) -> dict[tuple[str, str], tuple]:
    """NCA's connectivity map, one line per (source, destination) endpoint pair."""
    proc = run_nca(
        "--connectivity",
        str(scenario.policies),
        "--ns_list",
        str(scenario.resources),
        "--pod_list",
        str(scenario.resources),
        "--output_format",
        "txt_no_fw_rules",
    )
    assert proc.returncode == 0, f"nca --connectivity exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    matrix = {}
    for line in proc.stdout.splitlines():
        if " => " not in line:
            continue
        pair, _, text = line.partition(" : ")
        src, _, dst = pair.partition(" => ")
        matrix[(src.strip(), dst.strip())] = parse_conns(text)
    assert matrix, f"nca printed no connections:\n{proc.stdout}\n{proc.stderr}"
    return matrix


def endpoint(store_id: str, obj: dict) -> str:
    return f"{store_id}/{obj['metadata']['name']}[{obj['kind']}]"


def components(objs: list[dict]) -> dict[str, tuple[dict, int | None]]:
    """component -> (its workload or test pod, the port its container listens on; None for test pods)."""
    found = {}
    for o in objs:
        if o["kind"] in ("Deployment", "StatefulSet"):
            spec = o["spec"]["template"]["spec"]
            found[o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]] = (
                o,
                spec["containers"][0]["ports"][0]["containerPort"],
            )
        elif o["kind"] == "Pod":
            found[o["metadata"]["labels"]["app.kubernetes.io/component"]] = (o, None)
    return found


def expected_matrix(scenario: Rendered) -> dict[tuple[str, str], tuple]:
    """The only connections a store pod may have, built from the issue's rules and the rendered container ports."""
    expected = {}
    for store_id, objs in scenario.objects.items():
        comps = components(objs)
        port = {c: p for c, (_, p) in comps.items()}
        ep = {c: endpoint(store_id, o) for c, (o, _) in comps.items()}
        for c in comps:
            expected[(ep[c], DNS_POD)] = conns({"TCP": [53], "UDP": [53]})
            if c in PUBLIC:
                for source in [scenario.controller, *nca_ip_sources(scenario.node_cidrs)]:
                    expected[(source, ep[c])] = conns({"TCP": [port[c]]})
            if c in CALLS and CALLS[c] in comps:
                expected[(ep[c], ep[CALLS[c]])] = conns({"TCP": [port[CALLS[c]]]})
            if c.startswith("test-"):
                target = c.removeprefix("test-")
                expected[(ep[c], ep[target])] = conns({"TCP": [port[target]]})
    return expected


def nca_ip_sources(cidrs: list[str]) -> list[str]:
    """How NCA names an IP source: a single address as itself, a block as first-last."""
    names = []
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        names.append(str(net.network_address) if net.num_addresses == 1 else f"{net[0]}-{net[-1]}")
    return names


def store_pairs(matrix: dict, store_ids) -> dict:
    """The pairs with a store pod at either end (the rest of the cluster is not the chart's business)."""
    prefixes = tuple(f"{s}/" for s in store_ids)
    return {k: v for k, v in matrix.items() if k[0].startswith(prefixes) or k[1].startswith(prefixes)}


# --- spec policies for --permits / --forbids --------------------------------------------------------------------


def spec_policy(ns: str, name: str, selector: dict, ingress=None, egress=None) -> dict:
    spec: dict = {"podSelector": selector, "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def component_selector(store_id: str, comp: str) -> dict:
    return {"matchLabels": {"app.kubernetes.io/instance": store_id, "app.kubernetes.io/component": comp}}


def ports_except(*excluded: tuple[str, int]) -> list[dict]:
    """Every TCP and UDP port but the excluded (protocol, port) pairs, as NetworkPolicy port ranges."""
    out = []
    for protocol in ("TCP", "UDP"):
        start = 1
        for p in sorted(p for proto, p in excluded if proto == protocol) + [65536]:
            if p > start:
                out.append({"protocol": protocol, "port": start, "endPort": p - 1})
            start = p + 1
    return out


CONTROLLER_PEER = {
    "namespaceSelector": {"matchLabels": {"storeplane.io/ingress-controller": "true"}},
    "podSelector": {"matchLabels": dict(CONTROLLER_LABELS)},
}


def other_namespaces(store_id: str) -> dict:
    """Every namespace but the store's own (NotIn also matches namespaces without the label)."""
    return {"namespaceSelector": {"matchExpressions": [_not_in("storeplane.io/store-id", store_id)]}}


def other_stores(store_id: str) -> dict:
    return {
        "namespaceSelector": {
            "matchExpressions": [
                {"key": "storeplane.io/store-id", "operator": "Exists"},
                _not_in("storeplane.io/store-id", store_id),
            ]
        }
    }


def _not_in(key: str, *values: str) -> dict:
    return {"key": key, "operator": "NotIn", "values": list(values)}


def query(kind: str, spec_policies: list[dict], scenario: Rendered, name: str) -> subprocess.CompletedProcess:
    spec_file = scenario.root / f"spec-{name}.yaml"
    spec_file.write_text(yaml.safe_dump_all(spec_policies))
    return run_nca(
        f"--{kind}",
        str(spec_file),
        "--base_np_list",
        str(scenario.policies),
        "--ns_list",
        str(scenario.resources),
        "--pod_list",
        str(scenario.resources),
    )


def each_store(scenario: Rendered):
    for store_id, objs in scenario.objects.items():
        yield store_id, {c: p for c, (_, p) in components(objs).items()}


def spec_ingress_reaches_web(scenario: Rendered) -> list[dict]:
    """Claim: the controller's pods and the node address reach every web workload on its container port."""
    out = []
    for s, ports in each_store(scenario):
        for c in PUBLIC:
            if c in ports:
                tcp = [{"protocol": "TCP", "port": ports[c]}]
                rules = [{"from": [CONTROLLER_PEER], "ports": tcp}]
                rules += [{"from": [{"ipBlock": {"cidr": cidr}}], "ports": tcp} for cidr in scenario.node_cidrs]
                out.append(spec_policy(s, f"ingress-to-{c}", component_selector(s, c), ingress=rules))
    return out


def spec_apps_reach_their_callee(scenario: Rendered) -> list[dict]:
    """Claim: wordpress -> its mariadb, medusa -> its postgresql."""
    out = []
    for s, ports in each_store(scenario):
        for app, callee in CALLS.items():
            if app in ports and callee in ports:
                rule = {
                    "from": [{"podSelector": component_selector(s, app)}],
                    "ports": [{"protocol": "TCP", "port": ports[callee]}],
                }
                out.append(spec_policy(s, f"{app}-to-{callee}", component_selector(s, callee), ingress=[rule]))
    return out


def spec_other_stores(scenario: Rendered) -> list[dict]:
    """Forbidden: any pod of another store to or from any pod of this one, on any port."""
    return [
        spec_policy(s, "other-stores", {}, ingress=[{"from": [other_stores(s)]}], egress=[{"to": [other_stores(s)]}])
        for s, _ in each_store(scenario)
    ]


def spec_other_stores_databases(scenario: Rendered) -> list[dict]:
    """Forbidden: any pod of another store to this store's database, on any port."""
    out = []
    for s, ports in each_store(scenario):
        for db in DATABASES:
            if db in ports:
                rule = {"from": [other_stores(s)]}
                out.append(spec_policy(s, f"other-stores-to-{db}", component_selector(s, db), ingress=[rule]))
    return out


def spec_database_strangers(scenario: Rendered) -> list[dict]:
    """Forbidden: anything but its app (and its helm test pod) to a database: other namespaces (the ingress's
    included), other pods of the store, any address (the node's included)."""
    out = []
    for s, ports in each_store(scenario):
        for db, app in DATABASES.items():
            if db in ports:
                peers = [
                    other_namespaces(s),
                    {
                        "podSelector": {
                            "matchExpressions": [_not_in("app.kubernetes.io/component", app, f"test-{db}", db)]
                        }
                    },
                    {"ipBlock": {"cidr": "0.0.0.0/0"}},
                ]
                out.append(spec_policy(s, f"strangers-to-{db}", component_selector(s, db), ingress=[{"from": peers}]))
    return out


def spec_ingress_other_ports(scenario: Rendered) -> list[dict]:
    """Forbidden: the ingress path to a web workload on any other port or protocol, or to a non-web workload."""
    out = []
    for s, ports in each_store(scenario):
        sources = [CONTROLLER_PEER] + [{"ipBlock": {"cidr": cidr}} for cidr in scenario.node_cidrs]
        for c, port in ports.items():
            # A web workload's own port is the one allowed; everything else about it, and non-web pods, is not.
            rule = {"from": sources, "ports": ports_except(("TCP", port))} if c in PUBLIC else {"from": sources}
            out.append(spec_policy(s, f"ingress-path-to-{c}", component_selector(s, c), ingress=[rule]))
    return out


def spec_lookalikes(scenario: Rendered) -> list[dict]:
    """Forbidden: another pod of the ingress namespace, the controller's labels in another namespace, and every
    address but the node's."""
    peers = [
        {
            "namespaceSelector": {"matchLabels": {"storeplane.io/ingress-controller": "true"}},
            "podSelector": {"matchExpressions": [_not_in("app.kubernetes.io/name", "traefik")]},
        },
        {
            "namespaceSelector": {
                "matchExpressions": [{"key": "storeplane.io/ingress-controller", "operator": "DoesNotExist"}]
            },
            "podSelector": {"matchLabels": dict(CONTROLLER_LABELS)},
        },
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(scenario.node_cidrs)}},
    ]
    return [spec_policy(s, "lookalikes", {}, ingress=[{"from": peers}]) for s, _ in each_store(scenario)]


def spec_egress_out(scenario: Rendered) -> list[dict]:
    """Forbidden: egress out of the store's namespace but DNS to the DNS pods; any address (no internet locally)."""
    out = []
    for s, _ in each_store(scenario):
        rules = [
            {"to": [other_namespaces(s)], "ports": ports_except(("TCP", 53), ("UDP", 53))},
            {
                "to": [{**other_namespaces(s), "podSelector": {"matchExpressions": [_not_in("k8s-app", "kube-dns")]}}],
                "ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}],
            },
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
        ]
        out.append(spec_policy(s, "egress-out", {}, egress=rules))
    return out


def assert_permits(scenario: Rendered, specs: list[dict], name: str) -> None:
    proc = query("permits", specs, scenario, name)
    assert proc.returncode == 0 and "permits all connections" in proc.stdout, f"{name}:\n{proc.stdout}\n{proc.stderr}"


def assert_forbids(scenario: Rendered, specs: list[dict], name: str) -> None:
    proc = query("forbids", specs, scenario, name)
    assert proc.returncode == 0 and "forbids connections" in proc.stdout, f"{name}:\n{proc.stdout}\n{proc.stderr}"


def allow_all_namespaces(store_id: str, egress: bool = True) -> dict:
    """The loosening: every pod of the store open to (and, with egress, towards) every pod of every namespace."""
    everyone = [{"namespaceSelector": {}}]
    return spec_policy(
        store_id, "injected-allow-all", {}, ingress=[{"from": everyone}], egress=[{"to": everyone}] if egress else None
    )


FORBIDS = {
    "other-stores-databases": spec_other_stores_databases,
    "other-stores": spec_other_stores,
    "database-strangers": spec_database_strangers,
    "ingress-other-ports": spec_ingress_other_ports,
    "lookalikes": spec_lookalikes,
    "egress-out": spec_egress_out,
}
PERMITS = {"ingress-reaches-web": spec_ingress_reaches_web, "apps-reach-callee": spec_apps_reach_their_callee}


# --- tests ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Rendered:
    return write_scenario(tmp_path_factory.mktemp("netpol") / "chart")


def test_the_analysis_runs_on_what_the_platform_renders(scenario):
    # Guards the inputs: both engines, every workload the local values enable, the node address, the helm test pods.
    comps = {s: set(components(objs)) for s, objs in scenario.objects.items()}
    assert comps["shop-woo-a"] == {"wordpress", "mariadb", "test-wordpress", "test-mariadb"}
    medusa = {"medusa", "postgresql", "storefront", "test-medusa", "test-postgresql", "test-storefront"}
    assert comps["shop-med-a"] == medusa
    assert scenario.node_cidrs == ["10.244.0.1/32"]
    assert run_nca("--version").stdout.strip().endswith(_nca_spec().split("==")[1])


def test_connectivity_matrix_is_exactly_the_allowed_paths(scenario):
    actual = store_pairs(connectivity(scenario), scenario.objects)
    expected = expected_matrix(scenario)
    missing = {k: v for k, v in expected.items() if k not in actual}
    extra = {k: v for k, v in actual.items() if k not in expected}
    different = {k: (expected[k], actual[k]) for k in expected.keys() & actual.keys() if expected[k] != actual[k]}
    assert not (missing or extra or different), f"missing {missing}\nextra {extra}\ndifferent {different}"


def test_ingress_path_reaches_every_web_port(scenario):
    assert_permits(scenario, spec_ingress_reaches_web(scenario), "ingress-reaches-web")


def test_each_app_reaches_its_own_database(scenario):
    specs = spec_apps_reach_their_callee(scenario)
    assert {p["metadata"]["name"] for p in specs} >= {"wordpress-to-mariadb", "medusa-to-postgresql"}
    assert_permits(scenario, specs, "apps-reach-callee")


def test_no_store_reaches_another_stores_database(scenario):
    assert_forbids(scenario, spec_other_stores_databases(scenario), "other-stores-databases")


def test_no_store_reaches_another_store(scenario):
    assert_forbids(scenario, spec_other_stores(scenario), "other-stores")


def test_databases_accept_only_their_app(scenario):
    assert_forbids(scenario, spec_database_strangers(scenario), "database-strangers")


def test_ingress_path_reaches_web_workloads_on_their_port_only(scenario):
    assert_forbids(scenario, spec_ingress_other_ports(scenario), "ingress-other-ports")


def test_lookalikes_and_other_addresses_are_denied(scenario):
    assert_forbids(scenario, spec_lookalikes(scenario), "lookalikes")


def test_egress_leaves_the_namespace_only_for_dns(scenario):
    assert_forbids(scenario, spec_egress_out(scenario), "egress-out")


@pytest.fixture(scope="module")
def loosened(tmp_path_factory) -> Rendered:
    root = tmp_path_factory.mktemp("netpol") / "loosened"
    return write_scenario(root, extra_policies=[allow_all_namespaces(s) for s, _ in STORES])


def test_an_injected_allow_all_rule_fails_the_same_checks(loosened):
    proc = query("forbids", spec_other_stores_databases(loosened), loosened, "other-stores-databases")
    assert proc.returncode != 0 and "does not forbid" in proc.stdout, proc.stdout
    # NCA names a connection both sets allow: a pod of one store to another store's database.
    example = re.search(
        r"src: \['(?P<src>[a-z-]+)/[^']*'\], dst: \['(?P<dst>[a-z-]+)/(?P=dst)-(mariadb|postgresql)", proc.stdout
    )
    assert example and example["src"] != example["dst"], proc.stdout
    proc = query("forbids", spec_other_stores(loosened), loosened, "other-stores")
    assert proc.returncode != 0 and "does not forbid" in proc.stdout, proc.stdout
    proc = query("forbids", spec_database_strangers(loosened), loosened, "database-strangers")
    assert proc.returncode != 0 and "does not forbid" in proc.stdout, proc.stdout
    assert store_pairs(connectivity(loosened), loosened.objects) != expected_matrix(loosened)


def test_one_store_opened_alone_is_still_closed_to_other_stores(tmp_path):
    # An ingress-only allow-all in one store lets the unpoliced namespaces (ingress, tenant-tools) reach its database,
    # but the other stores' own default deny still keeps their pods out: isolation holds from both ends.
    scenario = write_scenario(tmp_path / "one", extra_policies=[allow_all_namespaces("shop-woo-a", egress=False)])
    proc = query("forbids", spec_database_strangers(scenario), scenario, "database-strangers")
    assert proc.returncode != 0 and re.search(r"dst: \['shop-woo-a/shop-woo-a-mariadb", proc.stdout), proc.stdout
    assert_forbids(scenario, spec_other_stores(scenario), "other-stores")


def test_without_the_node_address_the_ingress_path_is_not_permitted(tmp_path):
    scenario = write_scenario(tmp_path / "no-node", sets=("networkPolicy.ingressController.ipBlocks=null",))
    proc = query("permits", spec_ingress_reaches_web(scenario), scenario, "ingress-reaches-web")
    assert proc.returncode != 0 and "does not permit" in proc.stdout, proc.stdout
    assert "10.244.0.1" in proc.stdout


@pytest.mark.parametrize("name", FORBIDS)
def test_every_forbids_claim_fails_on_the_loosened_set(loosened, name):
    # None of the forbids specs is vacuous: each one catches the allow-all rule.
    proc = query("forbids", FORBIDS[name](loosened), loosened, name)
    assert proc.returncode != 0 and "does not forbid" in proc.stdout, proc.stdout


@pytest.fixture(scope="module")
def default_deny_only(tmp_path_factory) -> Rendered:
    root = tmp_path_factory.mktemp("netpol") / "deny"
    return write_scenario(root, keep_policy=lambda p: p["metadata"]["name"].endswith("-default-deny"))


@pytest.mark.parametrize("name", PERMITS)
def test_every_permits_claim_fails_on_default_deny_alone(default_deny_only, name):
    proc = query("permits", PERMITS[name](default_deny_only), default_deny_only, name)
    assert proc.returncode != 0 and "does not permit" in proc.stdout, proc.stdout
