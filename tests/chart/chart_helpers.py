"""Rendering the chart with helm and reading the result: the combinations under test, pod specs, quantities, and a
small NetworkPolicy evaluator (the Kubernetes semantics, enough to ask "may this peer reach that pod on this port?").
"""

from __future__ import annotations

import functools
import ipaddress
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from .tools import CHART, helm_bin

NAMESPACE = "store-ns"
RELEASE = "store-rel"
ENGINE_CI = {
    "woocommerce": "ci/woocommerce-values.yaml",
    "medusa": "ci/medusa-values.yaml",
    "medusa-storefront": "ci/medusa-storefront-values.yaml",
}
PLATFORM_FILES = {"default": None, "local": "values-local.yaml", "vps": "values-vps.yaml"}
# Every engine case x every values file: what the tests parametrize over.
COMBOS = [(e, p) for e in ENGINE_CI for p in PLATFORM_FILES]
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}


def combo_id(combo: tuple[str, str]) -> str:
    return f"{combo[0]}+{combo[1]}"


def values_files(engine_case: str, platform: str) -> list[str]:
    files = [ENGINE_CI[engine_case]]
    if PLATFORM_FILES[platform]:
        files.append(PLATFORM_FILES[platform])
    return files


def run_helm(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm_bin()), *args], capture_output=True, text=True, timeout=timeout, cwd=CHART)


def helm_template(files: list[str], sets: tuple[str, ...] = (), show_only: str | None = None):
    args = ["template", RELEASE, ".", "--namespace", NAMESPACE]
    for f in files:
        args += ["-f", f]
    for s in sets:
        args += ["--set", s]
    if show_only:
        args += ["--show-only", show_only]
    return run_helm(*args)


@functools.lru_cache(maxsize=64)
def _render_cached(files: tuple[str, ...], sets: tuple[str, ...]) -> str:
    proc = helm_template(list(files), sets)
    if proc.returncode != 0:
        raise AssertionError(f"helm template {files} {sets} failed: {proc.stderr}")
    return proc.stdout


def render(files: list[str], sets: tuple[str, ...] = ()) -> list[dict]:
    """The rendered objects (fresh copies: tests may mutate them)."""
    return [d for d in yaml.safe_load_all(_render_cached(tuple(files), tuple(sets))) if d]


def render_combo(combo: tuple[str, str], sets: tuple[str, ...] = ()) -> list[dict]:
    return render(values_files(*combo), sets)


def load_values(files: list[str]) -> dict:
    """values.yaml merged with the given files the way helm coalesces them (maps merge, everything else replaces)."""

    def merge(base, over):
        if isinstance(base, dict) and isinstance(over, dict):
            out = dict(base)
            for k, v in over.items():
                out[k] = merge(base.get(k), v) if k in base else v
            return out
        return over

    merged = yaml.safe_load((CHART / "values.yaml").read_text())
    for f in files:
        merged = merge(merged, yaml.safe_load((CHART / f).read_text()))
    return merged


def by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def component(obj: dict) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


@dataclass
class PodSpec:
    """A pod template (workload) or a bare pod (helm test hook), with where it came from."""

    owner: dict
    labels: dict
    spec: dict
    replicas: int = 1
    surge: int = 0
    is_test: bool = False

    @property
    def name(self) -> str:
        return f"{self.owner['kind']}/{self.owner['metadata']['name']}"

    def containers(self, init: bool = True) -> list[dict]:
        return list(self.spec.get("containers", [])) + (list(self.spec.get("initContainers", [])) if init else [])


def pod_specs(objs: list[dict]) -> list[PodSpec]:
    pods = []
    for o in objs:
        if o["kind"] in WORKLOAD_KINDS:
            tmpl = o["spec"]["template"]
            surge = 0
            strategy = o["spec"].get("strategy", {})
            if o["kind"] == "Deployment" and strategy.get("type", "RollingUpdate") == "RollingUpdate":
                surge = int(strategy.get("rollingUpdate", {}).get("maxSurge", 1))
            pods.append(PodSpec(o, tmpl["metadata"]["labels"], tmpl["spec"], o["spec"].get("replicas", 1), surge))
        elif o["kind"] == "Pod":
            pods.append(PodSpec(o, o["metadata"]["labels"], o["spec"], is_test=True))
    return pods


_SUFFIX = {
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def quantity(q) -> Decimal:
    """A Kubernetes quantity ("250m", "1Gi", 2) as a number of base units."""
    s = str(q)
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if s.endswith(suffix):
            return Decimal(s[: -len(suffix)]) * _SUFFIX[suffix]
    return Decimal(s)


def pod_resources(pod: PodSpec, kind: str, resource: str) -> Decimal:
    """Effective pod requests/limits the way the quota counts them: max(sum of containers, largest init container)."""
    main = sum((quantity(c["resources"][kind][resource]) for c in pod.spec["containers"]), Decimal(0))
    init = max((quantity(c["resources"][kind][resource]) for c in pod.spec.get("initContainers", [])), default=0)
    return max(main, Decimal(init))


# --- NetworkPolicy evaluation -------------------------------------------------------------------------------------


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """LabelSelector semantics; an empty selector matches everything."""
    if selector is None:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (namespace + labels) or an outside address."""

    namespace: str | None = None
    ns_labels: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    ip: str | None = None

    def __hash__(self) -> int:
        return hash((self.namespace, self.ip, tuple(sorted(self.labels.items()))))


def _peer_matches(rule_peer: dict, peer: Peer, policy_ns: str) -> bool:
    if "ipBlock" in rule_peer:
        if peer.ip is None:
            return False  # pod peers are matched by selectors in these tests
        addr = ipaddress.ip_address(peer.ip)
        block = rule_peer["ipBlock"]
        if addr not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(addr in ipaddress.ip_network(e) for e in block.get("except", []))
    if peer.ip is not None:
        return False
    if "namespaceSelector" in rule_peer:
        if not selector_matches(rule_peer["namespaceSelector"], peer.ns_labels):
            return False
    elif peer.namespace != policy_ns:
        return False
    return selector_matches(rule_peer.get("podSelector"), peer.labels)


def _ports_match(rule: dict, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and ("port" not in p or int(p["port"]) == port) for p in ports)


def _allowed(policies: list[dict], direction: str, target: Peer, other: Peer, port: int, protocol: str) -> bool:
    """Is traffic allowed in `direction` for the `target` pod (in the policies' namespace) with `other`?"""
    key = "ingress" if direction == "Ingress" else "egress"
    peer_key = "from" if key == "ingress" else "to"
    selecting = [
        p
        for p in policies
        if direction in p["spec"].get("policyTypes", ["Ingress"])
        and selector_matches(p["spec"]["podSelector"], target.labels)
    ]
    if not selecting:
        return True  # no policy isolates this pod in that direction
    for p in selecting:
        for rule in p["spec"].get(key) or []:
            peers = rule.get(peer_key)
            if peers and not any(_peer_matches(rp, other, target.namespace) for rp in peers):
                continue
            if _ports_match(rule, port, protocol):
                return True
    return False


def connection_allowed(policies: list[dict], src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> bool:
    """Both ends' policies must allow it; only pods in the store namespace are governed by these policies."""
    if dst.namespace == NAMESPACE and not _allowed(policies, "Ingress", dst, src, port, protocol):
        return False
    return src.namespace != NAMESPACE or _allowed(policies, "Egress", src, dst, port, protocol)


def store_pod(pod: PodSpec) -> Peer:
    return Peer(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE}, dict(pod.labels))


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())
