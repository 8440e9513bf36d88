"""The chart's suspended rendering (`suspended=true`, what the platform's suspend installs), no cluster: every engine
workload at zero replicas with its volumes still rendered, the Ingress sending every path to the closed page, one
hardened closed-page pod the controller (and only it) may reach, within the quota, and valid for Kubernetes 1.20;
`suspended=false` renders exactly what the default does."""

import pytest

from .chart_helpers import (
    COMBOS,
    NAMESPACE,
    Peer,
    by_kind,
    combo_id,
    component,
    connection_allowed,
    load_values,
    one,
    pod_specs,
    render_combo,
    store_pod,
    values_files,
)

combos = pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
SUSPENDED = ("suspended=true",)


@combos
def test_every_engine_workload_is_at_zero_and_keeps_its_volumes(combo):
    normal, suspended = render_combo(combo), render_combo(combo, SUSPENDED)
    workloads = {o["metadata"]["name"]: o for o in suspended if o["kind"] in ("Deployment", "StatefulSet")}
    for obj in normal:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            assert workloads[obj["metadata"]["name"]]["spec"]["replicas"] == 0, obj["metadata"]["name"]
            templates = obj["spec"].get("volumeClaimTemplates")
            assert workloads[obj["metadata"]["name"]]["spec"].get("volumeClaimTemplates") == templates
    closed_page = [o for o in workloads.values() if component(o) == "closed"]
    assert [o["spec"]["replicas"] for o in closed_page] == [1]
    claims = lambda objs: sorted(o["metadata"]["name"] for o in by_kind(objs, "PersistentVolumeClaim"))  # noqa: E731
    assert claims(suspended) == claims(normal)
    secrets = lambda objs: sorted(o["metadata"]["name"] for o in by_kind(objs, "Secret"))  # noqa: E731
    assert secrets(suspended) == secrets(normal)


@combos
def test_the_ingress_sends_every_path_to_the_closed_page(combo):
    objs = render_combo(combo, SUSPENDED)
    (ingress,) = by_kind(objs, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    paths = [(p["path"], p["pathType"], p["backend"]["service"]["name"]) for p in rule["http"]["paths"]]
    service = one(objs, "Service", paths[0][2])
    assert paths == [("/", "Prefix", service["metadata"]["name"])] and service["metadata"]["name"].endswith("-closed")
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


@combos
def test_the_closed_page_pod_is_hardened_small_and_reachable_by_the_controller_only(combo):
    objs = render_combo(combo, SUSPENDED)
    (pod,) = [p for p in pod_specs(objs) if p.labels.get("app.kubernetes.io/component") == "closed"]
    (container,) = pod.containers()
    sc = container["securityContext"]
    assert pod.spec["automountServiceAccountToken"] is False and pod.spec["securityContext"]["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["command"][:2] == ["nc", "-ll"] and container["image"].startswith(
        load_values(values_files(*combo))["toolbox"]["image"]["repository"]
    )
    port = container["ports"][0]["containerPort"]
    policies = by_kind(objs, "NetworkPolicy")
    controller = load_values(values_files(*combo))["networkPolicy"]["ingressController"]
    ns_labels = controller["namespaceSelector"].get("matchLabels", {})
    pod_labels = controller["podSelector"].get("matchLabels", {})
    traefik = Peer("ingress", ns_labels, pod_labels)
    assert connection_allowed(policies, traefik, store_pod(pod), port)
    neighbour = Peer(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE}, {"app": "anything-else"})
    assert not connection_allowed(policies, neighbour, store_pod(pod), port)


def test_the_closed_page_answers_503_with_retry_after_and_the_store_name():
    objs = render_combo(("woocommerce", "local"), (*SUSPENDED, "storeName=Bob's <Shop>"))
    (page,) = [o for o in by_kind(objs, "ConfigMap") if component(o) == "closed"]
    html, script = page["data"]["index.html"], page["data"]["respond.sh"]
    assert "HTTP/1.1 503 Service Unavailable" in script and "Retry-After: %s" in script
    assert "Bob&#39;s &lt;Shop&gt; is temporarily closed" in html  # escaped, never raw HTML from a store name
    assert '<meta name="storeplane-status" content="suspended">' in html


def test_not_suspended_renders_what_the_default_renders():
    for combo in COMBOS:
        assert render_combo(combo, ("suspended=false",)) == render_combo(combo)


# Maintenance (`maintenance=true`, what a restore into the same store installs while it loads the data): the shop's
# workloads keep running, and shoppers get the closed page, saying the store is briefly closed.
MAINTENANCE = ("maintenance=true",)


@combos
def test_in_maintenance_the_workloads_run_and_every_path_goes_to_the_closed_page(combo):
    normal, closed = render_combo(combo), render_combo(combo, MAINTENANCE)
    replicas = lambda objs: {  # noqa: E731
        o["metadata"]["name"]: o["spec"]["replicas"] for o in objs if o["kind"] in ("Deployment", "StatefulSet")
    }
    running = replicas(closed)
    assert {name: n for name, n in running.items() if not name.endswith("-closed")} == replicas(normal)
    assert [n for name, n in running.items() if name.endswith("-closed")] == [1]
    (ingress,) = by_kind(closed, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in rule["http"]["paths"]] == [
        ("/", next(o["metadata"]["name"] for o in by_kind(closed, "Service") if component(o) == "closed"))
    ]


def test_the_maintenance_page_says_briefly_closed_with_a_short_retry_after():
    objs = render_combo(("medusa", "local"), (*MAINTENANCE, "storeName=Bob's <Shop>"))
    (page,) = [o for o in by_kind(objs, "ConfigMap") if component(o) == "closed"]
    html, script = page["data"]["index.html"], page["data"]["respond.sh"]
    assert '<meta name="storeplane-status" content="maintenance">' in html
    assert "Bob&#39;s &lt;Shop&gt; is being restored" in html and "closed by its owner" not in html
    assert "X-Store-Status: maintenance" in script
    (pod,) = [p for p in pod_specs(objs) if p.labels.get("app.kubernetes.io/component") == "closed"]
    env = {e["name"]: e["value"] for e in pod.containers()[0]["env"]}
    assert env["RETRY_AFTER"] == "120"


def test_suspended_wins_over_maintenance_and_maintenance_false_renders_the_default():
    both = render_combo(("woocommerce", "local"), (*SUSPENDED, *MAINTENANCE))
    assert both == render_combo(("woocommerce", "local"), SUSPENDED)
    for combo in COMBOS:
        assert render_combo(combo, ("maintenance=false",)) == render_combo(combo)


@combos
def test_standby_runs_the_maintenance_page_as_it_will_be_while_the_ingress_still_sends_shoppers_to_the_shop(combo):
    """The platform starts the closed page with closedPage.standby, waits for it, then sets maintenance: the pod,
    its page and its Service must not change between the two (a change would restart the pod behind the Ingress)."""
    standby = render_combo(combo, ("closedPage.standby=true",))
    closed = render_combo(combo, ("closedPage.standby=true", *MAINTENANCE))
    assert by_kind(standby, "Ingress") == by_kind(render_combo(combo), "Ingress")
    for kind in ("ConfigMap", "Deployment", "Service"):
        page = [o for o in by_kind(standby, kind) if component(o) == "closed"]
        assert page and page == [o for o in by_kind(closed, kind) if component(o) == "closed"], kind
