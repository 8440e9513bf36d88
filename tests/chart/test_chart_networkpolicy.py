"""The rendered NetworkPolicies, evaluated with Kubernetes' semantics: the configured ingress controller (ingress-nginx
by default, Traefik in values-vps) reaches each web workload on its real container port and nothing else; databases
accept only their app; egress is DNS, the app's database and the public internet without private ranges.
"""

from __future__ import annotations

import pytest

from .chart_helpers import (
    COMBOS,
    NAMESPACE,
    Peer,
    by_kind,
    combo_id,
    connection_allowed,
    load_values,
    pod_specs,
    render_combo,
    store_pod,
    values_files,
)

PUBLIC = {"wordpress", "medusa", "storefront"}
DATABASES = {"mariadb": "wordpress", "postgresql": "medusa"}
PROBE_PORTS = [22, 53, 80, 443, 3306, 5432, 8000, 8080, 9000]


def _setup(combo):
    objs = render_combo(combo)
    values = load_values(values_files(*combo))
    policies = by_kind(objs, "NetworkPolicy")
    pods = {p.labels["app.kubernetes.io/component"]: p for p in pod_specs(objs)}
    ports = {c: p.spec["containers"][0]["ports"][0]["containerPort"] for c, p in pods.items() if not p.is_test}
    ic = values["networkPolicy"]["ingressController"]
    controller = Peer(
        "ingress-controller-ns",
        dict(ic["namespaceSelector"]["matchLabels"]),
        dict((ic["podSelector"] or {}).get("matchLabels", {})),
    )
    return policies, pods, ports, controller


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_ingress_controller_reaches_web_workloads_on_their_real_port_only(combo):
    policies, pods, ports, controller = _setup(combo)
    assert policies, "NetworkPolicy must be rendered in every values file"
    for comp, port in ports.items():
        dst = store_pod(pods[comp])
        for p in set(PROBE_PORTS) | {port}:
            allowed = connection_allowed(policies, controller, dst, p)
            assert allowed == (comp in PUBLIC and p == port), f"controller -> {comp}:{p} allowed={allowed}"
        assert not connection_allowed(policies, controller, dst, port, "UDP")


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_other_namespaces_and_lookalikes_are_denied(combo):
    policies, pods, ports, controller = _setup(combo)
    # The controller's pod labels in another namespace, and another pod in the controller's namespace.
    impostors = [
        Peer("other", {"kubernetes.io/metadata.name": "other"}, dict(controller.labels)),
        Peer(controller.namespace, dict(controller.ns_labels), {"app.kubernetes.io/name": "something-else"}),
        Peer(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE}, dict(controller.labels)),
        Peer(None, {}, {}, ip="203.0.113.9"),
    ]
    for comp, port in ports.items():
        for src in impostors:
            assert not connection_allowed(policies, src, store_pod(pods[comp]), port), f"{src} -> {comp}"


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_databases_accept_only_their_app(combo):
    policies, pods, ports, _ = _setup(combo)
    for db, app in DATABASES.items():
        if db not in pods:
            continue
        dst = store_pod(pods[db])
        for comp, pod in pods.items():
            allowed = connection_allowed(policies, store_pod(pod), dst, ports[db])
            assert allowed == (comp in (app, f"test-{db}")), f"{comp} -> {db} allowed={allowed}"
        stranger = Peer(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE}, {"app": "debug"})
        assert not connection_allowed(policies, stranger, dst, ports[db])


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_egress_is_dns_database_and_public_internet_only(combo):
    policies, pods, ports, _ = _setup(combo)
    dns = Peer("kube-system", {"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
    for comp, pod in pods.items():
        src = store_pod(pod)
        assert connection_allowed(policies, src, dns, 53, "UDP") and connection_allowed(policies, src, dns, 53, "TCP")
        assert not connection_allowed(policies, src, dns, 80)
        web = comp in PUBLIC
        assert connection_allowed(policies, src, Peer(ip="93.184.216.34"), 443) == web, comp
        for private in ("10.96.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "127.0.0.1"):
            assert not connection_allowed(policies, src, Peer(ip=private), 443), f"{comp} -> {private}"
        assert not connection_allowed(policies, src, Peer(ip="93.184.216.34"), 25), comp
    if "wordpress" in pods:
        assert connection_allowed(policies, store_pod(pods["wordpress"]), store_pod(pods["mariadb"]), ports["mariadb"])
    if "medusa" in pods:
        assert connection_allowed(
            policies, store_pod(pods["medusa"]), store_pod(pods["postgresql"]), ports["postgresql"]
        )
        assert not connection_allowed(
            policies, store_pod(pods["postgresql"]), store_pod(pods["medusa"]), ports["medusa"]
        )
    if "storefront" in pods:
        assert connection_allowed(policies, store_pod(pods["storefront"]), store_pod(pods["medusa"]), ports["medusa"])
        assert not connection_allowed(
            policies, store_pod(pods["storefront"]), store_pod(pods["postgresql"]), ports["postgresql"]
        )


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_helm_test_pods_reach_their_target(combo):
    policies, pods, ports, _ = _setup(combo)
    for comp, pod in pods.items():
        if pod.is_test:
            target = comp.removeprefix("test-")
            assert connection_allowed(policies, store_pod(pod), store_pod(pods[target]), ports[target]), comp


def test_vps_admits_traefik_in_kube_system_and_not_nginx():
    policies, pods, ports, controller = _setup(("woocommerce", "vps"))
    assert controller.ns_labels == {"kubernetes.io/metadata.name": "kube-system"}
    assert connection_allowed(policies, controller, store_pod(pods["wordpress"]), ports["wordpress"])
    nginx = Peer(
        "ingress-nginx", {"kubernetes.io/metadata.name": "ingress-nginx"}, {"app.kubernetes.io/name": "ingress-nginx"}
    )
    assert not connection_allowed(policies, nginx, store_pod(pods["wordpress"]), ports["wordpress"])


def test_evaluator_is_not_permissive_without_policies():
    # Guard for the evaluator itself: with the policies removed everything is allowed (Kubernetes' default), so the
    # denials above come from the chart's policies.
    _, pods, ports, controller = _setup(("woocommerce", "default"))
    assert connection_allowed([], controller, store_pod(pods["mariadb"]), ports["mariadb"])
