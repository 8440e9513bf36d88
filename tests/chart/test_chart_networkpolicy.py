"""The rendered NetworkPolicies, evaluated with Kubernetes' semantics: the configured ingress controller (ingress-nginx
by default, Traefik in values-local and values-vps, selected by a namespace label that exists on Kubernetes 1.20) and
the configured node addresses (values-local: the pod bridge's gateway, where the hostNetwork Traefik's packets come
from) reach each web workload on its real container port and nothing else; databases accept only their app; egress
is DNS to the DNS pods, the app's callee and, only where allowInternet is on, the public internet without private
ranges. tests/chart/test_chart_netpol_analysis.py proves the same over several stores with network-config-analyzer.
"""

from __future__ import annotations

import ipaddress

import pytest

from scripts.localcluster import ingress
from scripts.localcluster.paths import POD_CIDR

from .chart_helpers import (
    COMBOS,
    NAMESPACE,
    Peer,
    by_kind,
    combo_id,
    connection_allowed,
    helm_template,
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


def _np_values(combo):
    return load_values(values_files(*combo))["networkPolicy"]


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
    other_store = {"storeplane.io/store-id": "other-store", "app.kubernetes.io/managed-by": "storeplane"}
    impostors = [
        Peer("other", {"kubernetes.io/metadata.name": "other"}, dict(controller.labels)),
        Peer(controller.namespace, dict(controller.ns_labels), {"app.kubernetes.io/name": "something-else"}),
        Peer(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE}, dict(controller.labels)),
        Peer("other-store", other_store, dict(controller.labels)),
        Peer(None, {}, {}, ip="203.0.113.9"),
        Peer(None, {}, {}, ip="10.244.0.7"),  # a pod address of the local bridge, not its gateway
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
def test_egress_is_dns_callee_and_optionally_the_public_internet(combo):
    policies, pods, ports, _ = _setup(combo)
    dns = Peer("kube-system", {"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
    for comp, pod in pods.items():
        src = store_pod(pod)
        assert connection_allowed(policies, src, dns, 53, "UDP") and connection_allowed(policies, src, dns, 53, "TCP")
        assert not connection_allowed(policies, src, dns, 80)
        assert not connection_allowed(policies, src, Peer("other", {}, {"app": "x"}), 53, "UDP"), comp
        web = comp in PUBLIC and _np_values(combo)["egress"]["allowInternet"]
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
        # The SPA's browser calls Medusa through the ingress; the storefront pod itself calls nothing.
        assert not connection_allowed(
            policies, store_pod(pods["storefront"]), store_pod(pods["medusa"]), ports["medusa"]
        )
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


def test_vps_admits_traefik_in_the_labelled_kube_system_and_not_nginx():
    policies, pods, ports, _ = _setup(("woocommerce", "vps"))
    wordpress = store_pod(pods["wordpress"])
    labelled = {"kubernetes.io/metadata.name": "kube-system", "storeplane.io/ingress-controller": "true"}
    traefik = {"app.kubernetes.io/name": "traefik"}
    assert connection_allowed(policies, Peer("kube-system", labelled, traefik), wordpress, ports["wordpress"])
    # Until the operator labels kube-system the controller is not admitted: the chart names no label 1.20 lacks.
    bare = Peer("kube-system", {"kubernetes.io/metadata.name": "kube-system"}, traefik)
    assert not connection_allowed(policies, bare, wordpress, ports["wordpress"])
    nginx = Peer(
        "ingress-nginx", {"kubernetes.io/metadata.name": "ingress-nginx"}, {"app.kubernetes.io/name": "ingress-nginx"}
    )
    assert not connection_allowed(policies, nginx, wordpress, ports["wordpress"])
    assert _np_values(("woocommerce", "vps"))["egress"]["allowInternet"] is True


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_node_addresses_reach_the_web_ports_only_where_configured(combo):
    policies, pods, ports, _ = _setup(combo)
    cidrs = _np_values(combo)["ingressController"]["ipBlocks"]
    gateway = Peer(ip="10.244.0.1")
    for comp, port in ports.items():
        dst = store_pod(pods[comp])
        allowed = connection_allowed(policies, gateway, dst, port)
        assert allowed == (comp in PUBLIC and bool(cidrs)), f"node -> {comp}:{port} allowed={allowed}"
        assert not connection_allowed(policies, gateway, dst, port + 1)


def test_local_node_address_is_the_pod_bridge_gateway():
    # The CNI bridge (isGateway, host-local IPAM without a gateway field) takes the subnet's first address; a
    # hostNetwork Traefik's connections to pod IPs leave from it.
    gateway = next(ipaddress.ip_network(POD_CIDR).hosts())
    assert _np_values(("woocommerce", "local"))["ingressController"]["ipBlocks"] == [f"{gateway}/32"]
    assert _np_values(("woocommerce", "default"))["ingressController"]["ipBlocks"] == []


def test_local_selectors_name_the_local_traefik():
    # The namespace and pod labels scripts/localcluster/ingress.py gives the controller.
    ic = _np_values(("woocommerce", "local"))["ingressController"]
    assert ic["namespaceSelector"]["matchLabels"].items() <= ingress.NAMESPACE_LABELS.items()
    assert ic["podSelector"]["matchLabels"].items() <= ingress.POD_LABELS.items()


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_no_selector_depends_on_a_label_kubernetes_1_20_lacks(combo):
    # kubernetes.io/metadata.name is set on namespaces only from 1.21.
    rendered = str(by_kind(render_combo(combo), "NetworkPolicy"))
    assert "kubernetes.io/metadata.name" not in rendered


def test_schema_refuses_an_empty_controller_namespace_selector_and_bad_cidrs():
    files = values_files("woocommerce", "local")
    proc = helm_template(files, ("networkPolicy.ingressController.namespaceSelector.matchLabels=null",))
    assert proc.returncode != 0 and "namespaceSelector" in proc.stderr, proc.stderr
    proc = helm_template(files, ("networkPolicy.ingressController.ipBlocks[0]=gateway",))
    assert proc.returncode != 0 and "ipBlocks" in proc.stderr, proc.stderr
    assert helm_template(files, ("networkPolicy.ingressController.ipBlocks[0]=192.0.2.1/32",)).returncode == 0


def test_evaluator_is_not_permissive_without_policies():
    # Guard for the evaluator itself: with the policies removed everything is allowed (Kubernetes' default), so the
    # denials above come from the chart's policies.
    _, pods, ports, controller = _setup(("woocommerce", "default"))
    assert connection_allowed([], controller, store_pod(pods["mariadb"]), ports["mariadb"])
