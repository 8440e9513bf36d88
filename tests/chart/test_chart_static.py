"""Static checks of charts/ecommerce-store, no cluster: every engine x values file renders, lints, validates strictly
against Kubernetes 1.20 and 1.33, and keeps the chart's promises (labels, security, resources, secrets, routing).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .chart_helpers import (
    COMBOS,
    ENGINE_CI,
    NAMESPACE,
    PLATFORM_FILES,
    by_kind,
    combo_id,
    component,
    helm_template,
    load_values,
    one,
    pod_resources,
    pod_specs,
    quantity,
    render,
    render_combo,
    run_helm,
    selector_matches,
    values_files,
)
from .tools import CHART, legacy_kubernetes_validate_path

combos = pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
ENGINE_COMPONENTS = {
    "woocommerce": {"wordpress", "mariadb"},
    "medusa": {"medusa", "postgresql"},
    "medusa-storefront": {"medusa", "postgresql", "storefront"},
}


def engine_components(combo: tuple[str, str]) -> set[str]:
    """The workloads a combo renders: values-local and values-vps turn the storefront on for every Medusa store."""
    if combo[0] == "medusa" and combo[1] in ("local", "vps"):
        return ENGINE_COMPONENTS["medusa-storefront"]
    return ENGINE_COMPONENTS[combo[0]]


# Objects a Kubernetes 1.20 API server serves; nothing newer may be rendered.
APIS_1_20 = {"v1", "apps/v1", "networking.k8s.io/v1", "policy/v1beta1", "batch/v1"}
# (secret values file keys) -> the keys the platform must pass per engine.
REQUIRED_SECRETS = {
    "woocommerce": [
        "wordpress.admin.username",
        "wordpress.admin.email",
        "wordpress.admin.password",
        "wordpress.saltSeed",
        "mariadb.rootPassword",
        "mariadb.password",
    ],
    "medusa": [
        "medusa.jwtSecret",
        "medusa.cookieSecret",
        "medusa.admin.email",
        "medusa.admin.password",
        "postgresql.password",
    ],
}


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d[part]
    return d


def secret_values(engine_case: str) -> list[str]:
    ci = yaml.safe_load((CHART / ENGINE_CI[engine_case]).read_text())
    engine = ci["engine"]
    return [str(_get(ci, k)) for k in REQUIRED_SECRETS[engine]]


# --- lint, schema, API validation -----------------------------------------------------------------------------------


@combos
def test_helm_lint_strict_passes(combo):
    files = values_files(*combo)
    # Capabilities as on the local cluster's API server (Kubernetes 1.20).
    proc = run_helm("lint", "--strict", "--kube-version", "1.20.0", ".", *[a for f in files for a in ("-f", f)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@combos
def test_renders_only_the_engine_workloads(combo):
    objs = render_combo(combo)
    workloads = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]
    assert {component(o) for o in workloads} == engine_components(combo)
    kinds = {o["kind"] for o in objs}
    assert {"ResourceQuota", "LimitRange", "NetworkPolicy", "Ingress", "Secret", "Service"} <= kinds
    assert "PersistentVolume" not in kinds, "a PV in the release makes `helm uninstall --wait` hang"
    assert all(o["metadata"].get("namespace") == NAMESPACE for o in objs)


@combos
def test_only_apis_served_by_kubernetes_1_20(combo):
    for o in render_combo(combo):
        assert o["apiVersion"] in APIS_1_20, f"{o['kind']}/{o['metadata']['name']} uses {o['apiVersion']}"


def _kubernetes_validate(objs: list[dict], version: str, pythonpath: Path | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    else:
        env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("k8s_validate_runner.py")), version],
        input=json.dumps(objs),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def all_rendered() -> list[dict]:
    return [o for combo in COMBOS for o in render_combo(combo)]


@pytest.mark.parametrize("version", ["1.20", "1.33"])
def test_every_object_validates_strictly(all_rendered, version):
    # 1.20 schemas ship only with kubernetes-validate <= 1.24.x (isolated copy); 1.33 with the pinned 1.37.0.
    legacy = legacy_kubernetes_validate_path() if version == "1.20" else None
    result = _kubernetes_validate(all_rendered, version, legacy)
    assert result["failures"] == []
    assert (str(legacy) in result["module"]) if legacy else ("site-packages" in result["module"])


@pytest.mark.parametrize("version", ["1.20", "1.33"])
def test_validator_rejects_unknown_kinds_and_fields(version):
    # Proves the validation above can fail: an API 1.20 lacks, and an unknown field.
    legacy = legacy_kubernetes_validate_path() if version == "1.20" else None
    bad = [
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"bogus": 1}},
        {  # an unknown field deep inside (container level, reached through several $refs)
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 1, "bogus": 1}]}]},
                },
            },
        },
    ]
    if version == "1.20":
        bad.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"}})
    failures = _kubernetes_validate(bad, version, legacy)["failures"]
    assert [f["index"] for f in failures] == list(range(len(bad)))


def test_schema_rejects_bad_values_with_the_key_named():
    proc = helm_template(
        [ENGINE_CI["woocommerce"]], ("engine=shopify", "storeId=Bad_Id", "wordpress.tpyo=1", "mariadb.containerPort=0")
    )
    assert proc.returncode != 0
    assert proc.stdout == ""
    for key in ("/engine", "/storeId", "tpyo", "/mariadb/containerPort"):
        assert key in proc.stderr


# --- secrets ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine_case", ["woocommerce", "medusa"])
def test_missing_required_secret_fails_naming_the_key(engine_case):
    engine = "woocommerce" if engine_case == "woocommerce" else "medusa"
    for key in REQUIRED_SECRETS[engine]:
        proc = helm_template([ENGINE_CI[engine_case], "values-local.yaml"], (f"{key}=",))
        assert proc.returncode != 0, f"rendered without {key}"
        assert proc.stdout == "", "nothing may be rendered when a secret is missing"
        assert f"{key} is required" in proc.stderr


def test_only_the_engines_secrets_are_required():
    # A medusa store needs no WordPress secret and vice versa: the ci files set only their own.
    for case in ENGINE_CI:
        ci = yaml.safe_load((CHART / ENGINE_CI[case]).read_text())
        other = "wordpress" if ci["engine"] == "medusa" else "medusa"
        assert other not in ci
        assert render([ENGINE_CI[case]])


def test_short_secrets_are_rejected():
    proc = helm_template([ENGINE_CI["woocommerce"]], ("mariadb.password=short",))
    assert proc.returncode != 0 and proc.stdout == ""
    assert "mariadb.password must be at least 12 characters" in proc.stderr
    proc = helm_template([ENGINE_CI["medusa"]], ("medusa.jwtSecret=only-twenty-chars-xx",))
    assert proc.returncode != 0 and "medusa.jwtSecret must be at least 32 characters" in proc.stderr


def test_no_default_secret_in_values_files():
    for f in ["values.yaml", "values-local.yaml", "values-vps.yaml"]:
        values = yaml.safe_load((CHART / f).read_text())
        for engine_keys in REQUIRED_SECRETS.values():
            for key in engine_keys:
                with contextlib.suppress(KeyError):
                    assert not _get(values, key), f"{f} sets a default for {key}"
        assert "changeme" not in (CHART / f).read_text().lower()


@combos
def test_secret_values_appear_only_in_secrets(combo):
    objs = render_combo(combo)
    secrets = secret_values(combo[0])
    outside = yaml.safe_dump([o for o in objs if o["kind"] != "Secret"])
    for value in secrets:
        assert value not in outside
        assert base64.b64encode(value.encode()).decode() not in outside
    for pod in pod_specs(objs):
        for c in pod.containers():
            for env in c.get("env", []):
                if "value" in env:
                    assert not any(s in env["value"] for s in secrets), f"{pod.name} {env['name']} holds a secret"
                if re.search(r"PASSWORD|SECRET|_KEY$|_SALT$", env["name"]):
                    assert "secretKeyRef" in env.get("valueFrom", {}), f"{pod.name} {env['name']} not from a Secret"
    assert by_kind(objs, "ConfigMap") == []
    # Every secret value the platform passed is stored in some Secret of the release.
    stored = {base64.b64decode(v).decode() for s in by_kind(objs, "Secret") for v in s["data"].values()}
    seed = yaml.safe_load((CHART / ENGINE_CI[combo[0]]).read_text()).get("wordpress", {}).get("saltSeed")
    assert set(secrets) - {seed} <= stored  # the salt seed is stored only through its eight derived salts


def test_wordpress_salts_are_stable_distinct_and_consumed():
    files = [ENGINE_CI["woocommerce"], "values-local.yaml"]
    first = one(render(files), "Secret", "store-ci1woo-wordpress")["data"]
    # An upgrade with other non-secret values keeps every key.
    again = one(
        render(files, ("storeName=Renamed", "wordpress.resources.limits.cpu=400m")), "Secret", "store-ci1woo-wordpress"
    )
    assert again["data"] == first
    salt_keys = [k for k in first if k.endswith("-key") or k.endswith("-salt")]
    assert len(salt_keys) == 8 and len({first[k] for k in salt_keys}) == 8
    other_seed = one(
        render(files, ("wordpress.saltSeed=another-seed-of-at-least-32-characters",)),
        "Secret",
        "store-ci1woo-wordpress",
    )
    assert all(other_seed["data"][k] != first[k] for k in salt_keys)
    deploy = one(render(files), "Deployment", "store-ci1woo-wordpress")
    env = {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
    for k in salt_keys:
        ref = env["WORDPRESS_" + k.upper().replace("-", "_")]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "store-ci1woo-wordpress", "key": k}


# --- labels and selectors ---------------------------------------------------------------------------------------------


@combos
def test_component_labels_are_unique_and_selectors_never_overlap(combo):
    objs = render_combo(combo)
    pods = pod_specs(objs)
    comps = [p.labels["app.kubernetes.io/component"] for p in pods]
    assert len(comps) == len(set(comps)), comps
    workloads = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]
    for w in workloads:
        sel = w["spec"]["selector"]
        assert sel["matchLabels"]["app.kubernetes.io/component"] == component(w)
        matched = [p.name for p in pods if selector_matches(sel, p.labels)]
        assert matched == [f"{w['kind']}/{w['metadata']['name']}"], f"{w['metadata']['name']} selects {matched}"
    for svc in by_kind(objs, "Service"):
        matched = [p.name for p in pods if selector_matches({"matchLabels": svc["spec"]["selector"]}, p.labels)]
        assert len(matched) == 1 and not matched[0].startswith("Pod/"), f"{svc['metadata']['name']} -> {matched}"


def test_selectors_do_not_change_on_upgrade():
    # An upgrade changes chart-level values (image, resources, name, storage): selectors stay put.
    for case in ENGINE_CI:
        files = [ENGINE_CI[case], "values-local.yaml"]
        before = render(files)
        after = render(
            files,
            (
                "storeName=Renamed",
                "commonLabels.team=ops",
                "wordpress.image.tag=other",
                "medusa.image.tag=other",
                "mariadb.resources.limits.cpu=300m",
                "postgresql.resources.limits.cpu=300m",
            ),
        )

        def selectors(objs):
            out = {}
            for o in objs:
                if o["kind"] in ("Deployment", "StatefulSet"):
                    out[o["metadata"]["name"]] = (o["spec"]["selector"], o["spec"].get("volumeClaimTemplates"))
                if o["kind"] == "Service":
                    out["svc/" + o["metadata"]["name"]] = o["spec"]["selector"]
            return out

        assert selectors(before) == selectors(after)
        for sel in selectors(before).values():
            text = json.dumps(sel)
            assert "version" not in text and "helm.sh/chart" not in text and "team" not in text


@combos
def test_provisioner_finds_its_containers_by_component(combo):
    # The provisioner execs into `-l app.kubernetes.io/component=X -c X`: exactly one pod template, that container.
    pods = pod_specs(render_combo(combo))
    app = "wordpress" if combo[0] == "woocommerce" else "medusa"
    matching = [p for p in pods if p.labels.get("app.kubernetes.io/component") == app]
    assert len(matching) == 1 and not matching[0].is_test
    assert [c["name"] for c in matching[0].spec["containers"]] == [app]


# --- pods: security, probes, resources, DNS -------------------------------------------------------------------------

ROOT_ALLOWED_CAPS = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "NET_BIND_SERVICE"}


def _effective(pod_sc: dict, c_sc: dict, key: str):
    return c_sc.get(key, pod_sc.get(key))


@combos
def test_every_container_is_hardened(combo):
    local = combo[1] == "local"
    for pod in pod_specs(render_combo(combo)):
        assert pod.spec["automountServiceAccountToken"] is False, pod.name
        assert not pod.spec.get("hostNetwork") and not pod.spec.get("hostPID") and not pod.spec.get("hostIPC")
        psc = pod.spec.get("securityContext", {})
        for c in pod.containers():
            sc = c.get("securityContext", {})
            where = f"{pod.name}:{c['name']}"
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert not sc.get("privileged"), where
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), where
            assert (_effective(psc, sc, "seccompProfile") or {}).get("type") == "RuntimeDefault", where
            added = set(sc.get("capabilities", {}).get("add") or [])
            non_root = _effective(psc, sc, "runAsNonRoot")
            if local or c["name"] != "wordpress":
                # Every image runs as non-root except upstream WordPress (Apache binds :80 as root, then drops).
                assert non_root is True, where
                assert added == set(), where
                if _effective(psc, sc, "runAsUser") is not None:
                    assert _effective(psc, sc, "runAsUser") != 0, where
            else:
                assert added <= ROOT_ALLOWED_CAPS, where


@combos
def test_every_port_is_tcp(combo):
    objs = render_combo(combo)
    for pod in pod_specs(objs):
        for c in pod.containers():
            for p in c.get("ports", []):
                assert p.get("protocol") == "TCP", f"{pod.name}:{c['name']}"
    for svc in by_kind(objs, "Service"):
        assert svc["spec"]["type"] == "ClusterIP"
        for p in svc["spec"]["ports"]:
            assert p.get("protocol") == "TCP", svc["metadata"]["name"]


@combos
def test_probes_grace_period_and_images_come_from_values(combo):
    values = load_values(values_files(*combo))
    for pod in pod_specs(render_combo(combo)):
        comp = pod.labels["app.kubernetes.io/component"]
        for c in pod.spec.get("initContainers", []) + (pod.spec["containers"] if pod.is_test else []):
            tb = values["toolbox"]["image"]
            assert c["image"] == f"{tb['repository']}:{tb['tag']}" and c["imagePullPolicy"] == tb["pullPolicy"]
        if pod.is_test:
            assert pod.spec["restartPolicy"] == "Never"
            continue
        v = values[comp]
        assert pod.spec["terminationGracePeriodSeconds"] == v["terminationGracePeriodSeconds"]
        (c,) = pod.spec["containers"]
        assert c["image"] == f"{v['image']['repository']}:{v['image']['tag']}"
        assert c["imagePullPolicy"] == v["image"]["pullPolicy"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert probe in c, f"{pod.name} lacks {probe}"
            assert c[probe]["periodSeconds"] == v[probe]["periodSeconds"]
        assert [p["containerPort"] for p in c["ports"]] == [v["containerPort"]]
        if c["readinessProbe"].get("httpGet"):
            assert c["readinessProbe"]["httpGet"]["port"] == c["ports"][0]["name"]


def test_upstream_defaults_are_pinned():
    objs = render([ENGINE_CI["woocommerce"]]) + render([ENGINE_CI["medusa"]])
    images = {c["image"] for p in pod_specs(objs) for c in p.containers()}
    assert images == {
        "wordpress:6.7-php8.2-apache",
        "mariadb:11.4",
        "postgres:16-alpine",
        "ghcr.io/storeplane/medusa:1.20.11",
        "busybox:1.36",
    }
    digest = render([ENGINE_CI["woocommerce"]], ("mariadb.image.digest=sha256:" + "a" * 64,))
    assert (
        one(digest, "StatefulSet", "store-ci1woo-mariadb")["spec"]["template"]["spec"]["containers"][0]["image"]
        == "mariadb@sha256:" + "a" * 64
    )


@pytest.mark.parametrize("engine_case", list(ENGINE_CI))
def test_local_values_use_local_images_dns_and_storage(engine_case):
    objs = render_combo((engine_case, "local"))
    for pod in pod_specs(objs):
        assert pod.spec["dnsPolicy"] == "None", pod.name
        assert pod.spec["dnsConfig"] == {"nameservers": ["127.0.0.1"]}, pod.name
        for c in pod.containers():
            assert c["image"].startswith("storeplane.local/") and c["image"].endswith(":local"), c["image"]
            assert c["imagePullPolicy"] == "Never"
    ports = {
        p.labels["app.kubernetes.io/component"]: p.spec["containers"][0]["ports"][0]["containerPort"]
        for p in pod_specs(objs)
        if not p.is_test
    }
    assert ports.get("wordpress", 8080) == 8080 and ports.get("mariadb", 3306) == 3306
    assert ports.get("medusa", 9000) == 9000 and ports.get("postgresql", 5432) == 5432
    claims = by_kind(objs, "PersistentVolumeClaim") + [
        t for s in by_kind(objs, "StatefulSet") for t in s["spec"]["volumeClaimTemplates"]
    ]
    assert claims and all(c["spec"]["storageClassName"] == "hostpath" for c in claims)
    for pod in pod_specs(objs):
        if not pod.is_test:
            assert pod.spec["terminationGracePeriodSeconds"] <= 10


@pytest.mark.parametrize("engine_case", list(ENGINE_CI))
def test_default_values_leave_storage_class_to_the_cluster(engine_case):
    objs = render([ENGINE_CI[engine_case]])
    claims = by_kind(objs, "PersistentVolumeClaim") + [
        t for s in by_kind(objs, "StatefulSet") for t in s["spec"]["volumeClaimTemplates"]
    ]
    assert claims and all("storageClassName" not in c["spec"] for c in claims)
    for pod in pod_specs(objs):
        assert "dnsPolicy" not in pod.spec and "dnsConfig" not in pod.spec


def test_databases_are_reached_through_service_env_vars():
    woo = render([ENGINE_CI["woocommerce"], "values-local.yaml"])
    wp = one(woo, "Deployment", "store-ci1woo-wordpress")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in wp["containers"][0]["env"]}
    assert env["WORDPRESS_DB_HOST"] == "$(STORE_CI1WOO_MARIADB_SERVICE_HOST):3306"
    assert one(woo, "Service", "store-ci1woo-mariadb")  # the env var's source
    init = {e["name"]: e["value"] for e in wp["initContainers"][0]["env"]}
    assert init["DB_HOST"] == "$(STORE_CI1WOO_MARIADB_SERVICE_HOST)" and init["DB_PORT"] == "3306"
    med = render([ENGINE_CI["medusa"], "values-local.yaml"])
    m = one(med, "Deployment", "store-ci2med-medusa")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in m["containers"][0]["env"]}
    assert env["DATABASE_HOST"] == "$(STORE_CI2MED_POSTGRESQL_SERVICE_HOST)"
    assert env["DATABASE_PORT"] == "5432" and env["MEDUSA_DISABLE_TELEMETRY"] == "true"
    assert one(med, "Service", "store-ci2med-postgresql")
    assert m.get("enableServiceLinks", True) is True  # service env vars must stay on


@combos
def test_resources_fit_limit_range_and_quota(combo):
    objs = render_combo(combo)
    lr = one(objs, "LimitRange", objs[0]["metadata"]["labels"]["storeplane.io/store-id"] + "-limits")["spec"]["limits"]
    container_lr = next(item for item in lr if item["type"] == "Container")
    pvc_lr = next(item for item in lr if item["type"] == "PersistentVolumeClaim")
    pods = pod_specs(objs)
    for pod in pods:
        for c in pod.containers():
            res = c["resources"]
            for r in ("cpu", "memory"):
                req, lim = quantity(res["requests"][r]), quantity(res["limits"][r])
                assert req <= lim, f"{pod.name}:{c['name']} {r}"
                assert quantity(container_lr["min"][r]) <= req, f"{pod.name}:{c['name']} {r} below min"
                assert lim <= quantity(container_lr["max"][r]), f"{pod.name}:{c['name']} {r} above max"
    hard = one(objs, "ResourceQuota", objs[0]["metadata"]["labels"]["storeplane.io/store-id"] + "-quota")["spec"][
        "hard"
    ]
    # Worst moment: every workload at its replicas plus its rolling-update surge, and every helm test pod at once.
    for kind, key in (("requests", "requests"), ("limits", "limits")):
        for r in ("cpu", "memory"):
            total = sum(pod_resources(p, kind, r) * (p.replicas + p.surge) for p in pods)
            assert total <= quantity(hard[f"{key}.{r}"]), f"{kind}.{r}: {total} > {hard[f'{key}.{r}']}"
    assert sum(p.replicas + p.surge for p in pods) <= int(hard["pods"])
    assert len(by_kind(objs, "Service")) <= int(hard["services"])
    claims = by_kind(objs, "PersistentVolumeClaim") + [
        t for s in by_kind(objs, "StatefulSet") for t in s["spec"]["volumeClaimTemplates"]
    ]
    assert len(claims) <= int(hard["persistentvolumeclaims"])
    sizes = [quantity(c["spec"]["resources"]["requests"]["storage"]) for c in claims]
    assert sum(sizes) <= quantity(hard["requests.storage"])
    assert all(quantity(pvc_lr["min"]["storage"]) <= s <= quantity(pvc_lr["max"]["storage"]) for s in sizes)


# --- ingress ---------------------------------------------------------------------------------------------------------


def _routes(ing: dict) -> dict:
    (rule,) = ing["spec"]["rules"]
    return {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}


def test_ingress_routes_per_engine():
    woo = one(render([ENGINE_CI["woocommerce"]]), "Ingress", "store-ci1woo")
    assert woo["spec"]["rules"][0]["host"] == "store-ci1woo.stores.example.test"
    assert _routes(woo) == {"/": "store-ci1woo-wordpress"}
    med = one(render([ENGINE_CI["medusa"]]), "Ingress", "store-ci2med")
    assert _routes(med) == {
        "/store": "store-ci2med-medusa",
        "/admin": "store-ci2med-medusa",
        "/app": "store-ci2med-medusa",
    }
    sf = render([ENGINE_CI["medusa-storefront"]])
    ing = one(sf, "Ingress", "store-ci3sf")
    # A suffix without its leading dot still yields "<id>.<suffix>".
    assert ing["spec"]["rules"][0]["host"] == "store-ci3sf.stores.example.test"
    assert _routes(ing) == {
        "/store": "store-ci3sf-medusa",
        "/admin": "store-ci3sf-medusa",
        "/app": "store-ci3sf-medusa",
        "/": "store-ci3sf-storefront",
    }
    for obj in (woo, med, ing):
        for path in obj["spec"]["rules"][0]["http"]["paths"]:
            assert path["pathType"] == "Prefix" and path["backend"]["service"]["port"] == {"name": "http"}
        assert "tls" not in obj["spec"]


def test_local_ingress_is_for_the_local_traefik_with_plain_prefix_paths():
    for case in ("woocommerce", "medusa"):
        ing = next(o for o in render([ENGINE_CI[case], "values-local.yaml"]) if o["kind"] == "Ingress")
        assert ing["spec"]["ingressClassName"] == "traefik"
        assert not any("nginx" in key for key in (ing["metadata"].get("annotations") or {}))
        assert {p["pathType"] for p in ing["spec"]["rules"][0]["http"]["paths"]} == {"Prefix"}
        assert ing["spec"]["rules"][0]["host"].endswith(".localhost")


def test_ingress_backends_exist_with_an_http_port():
    for combo in COMBOS:
        objs = render_combo(combo)
        for ing in by_kind(objs, "Ingress"):
            for svc_name in _routes(ing).values():
                svc = one(objs, "Service", svc_name)
                assert "http" in [p["name"] for p in svc["spec"]["ports"]]


@pytest.mark.parametrize("engine_case", list(ENGINE_CI))
def test_vps_ingress_has_tls_through_cert_manager(engine_case):
    objs = render_combo((engine_case, "vps"))
    (ing,) = by_kind(objs, "Ingress")
    host = ing["spec"]["rules"][0]["host"]
    assert ing["spec"]["ingressClassName"] == "traefik"
    assert ing["spec"]["tls"] == [{"hosts": [host], "secretName": ing["metadata"]["name"] + "-tls"}]
    assert ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert ing["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"


def test_ingress_host_override_and_disable():
    objs = render([ENGINE_CI["woocommerce"]], ("ingress.host=shop.example.test",))
    assert one(objs, "Ingress", "store-ci1woo")["spec"]["rules"][0]["host"] == "shop.example.test"
    assert by_kind(render([ENGINE_CI["woocommerce"]], ("ingress.enabled=false",)), "Ingress") == []


# --- misc ------------------------------------------------------------------------------------------------------------


def test_service_account_is_optional_and_never_mounts_a_token():
    objs = render([ENGINE_CI["medusa-storefront"]])
    (sa,) = by_kind(objs, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False and sa["metadata"]["name"] == "store-ci3sf"
    assert all(p.spec["serviceAccountName"] == "store-ci3sf" for p in pod_specs(objs))
    plain = render([ENGINE_CI["medusa"]])
    assert by_kind(plain, "ServiceAccount") == []
    assert not any(o["kind"] in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding") for o in objs + plain)


@combos
def test_helm_test_pods_cover_every_workload(combo):
    objs = render_combo(combo)
    tests = [p for p in pod_specs(objs) if p.is_test]
    targets = {p.labels["app.kubernetes.io/component"].removeprefix("test-") for p in tests}
    assert targets == engine_components(combo)
    for t in tests:
        assert t.owner["metadata"]["annotations"]["helm.sh/hook"] == "test"
        script = t.spec["containers"][0]["command"][-1]
        assert "wget" in script or "nc" in script
    assert by_kind(render(values_files(*combo), ("tests.enabled=false",)), "Pod") == []


WORKLOADS = ("wordpress", "mariadb", "medusa", "postgresql", "storefront")
# Maps documented as one row (their inner keys are Kubernetes' own fields).
ROW_OBJECTS = re.compile(r"(Selector|resources|SecurityContext|securityContext|Probe|\.image|^dnsConfig|^limitRange\.)")


def test_readme_documents_every_value():
    readme = (CHART / "README.md").read_text()
    rows = {r for r in re.findall(r"^\| `([^`]+)` \|", readme, flags=re.M) if not r.endswith(".yaml")}
    documented = {r.replace("<workload>", w) for r in rows for w in WORKLOADS}

    def leaves(d, prefix=""):
        for k, v in d.items():
            path = f"{prefix}{k}"
            if isinstance(v, dict) and v and path not in {"resourceQuota.hard"} and not ROW_OBJECTS.search(path):
                yield from leaves(v, path + ".")
            else:
                yield path

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert [k for k in leaves(values) if k not in documented] == []
    # And no row documents a key that does not exist.
    all_paths = set(leaves(values))
    stale = [r for r in rows if not any(r.replace("<workload>", w) in all_paths for w in WORKLOADS)]
    assert stale == []


def test_platform_values_files_are_the_documented_set():
    assert sorted(p.name for p in CHART.glob("values*.yaml")) == ["values-local.yaml", "values-vps.yaml", "values.yaml"]
    assert sorted(p.name for p in (CHART / "ci").glob("*-values.yaml")) == sorted(
        Path(v).name for v in ENGINE_CI.values()
    )
    assert set(PLATFORM_FILES) == {"default", "local", "vps"}
