"""Static checks of charts/storeplane, no cluster: both values shapes lint, validate strictly against Kubernetes
1.20 and 1.33, pass checkov (reasoned skips only), and keep the chart's promises: RBAC exactly as wide as the store
chart needs, hardened pods, one beat, migrations as a hook, probes, checksums, schema and secret handling."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from tests.chart.chart_helpers import COMBOS as STORE_COMBOS
from tests.chart.chart_helpers import render_combo as render_store_combo
from tests.chart.test_chart_checkov import _run_checkov
from tests.chart.test_chart_static import _kubernetes_validate
from tests.chart.tools import legacy_kubernetes_validate_path

from .platform_helpers import (
    KUBE_VERSIONS,
    NAMESPACE,
    VALUES,
    component,
    one,
    pod_spec,
    pods,
    render,
    run_helm,
    template,
)

shapes = pytest.mark.parametrize("shape", sorted(VALUES))
SKIPS = Path(__file__).with_name("checkov-skips.yaml")
PLATFORM_COMPONENTS = {"web", "worker", "beat"}

# --- lint, API validation, checkov ---------------------------------------------------------------------------------


@shapes
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_helm_lint_strict_passes(shape, kube_version):
    args = [a for f in VALUES[shape] for a in ("-f", f)]
    proc = run_helm("lint", "--strict", "--kube-version", kube_version, ".", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_object_validates_strictly(kube_version):
    version = kube_version.rsplit(".", 1)[0]
    legacy = legacy_kubernetes_validate_path() if version == "1.20" else None
    objs = [o for shape in VALUES for o in render(shape, kube_version=kube_version)]
    result = _kubernetes_validate(objs, version, legacy)
    assert result["failures"] == []


def test_versioned_apis_follow_the_cluster():
    # PDB policy/v1 and HPA autoscaling/v2 do not exist on 1.20 (the local cluster); newer clusters get them.
    old = render("external", kube_version="1.20.0")
    new = render("external", kube_version="1.33.0")
    assert one(old, "PodDisruptionBudget")["apiVersion"] == "policy/v1beta1"
    assert one(new, "PodDisruptionBudget")["apiVersion"] == "policy/v1"
    assert one(old, "HorizontalPodAutoscaler")["apiVersion"] == "autoscaling/v2beta2"
    assert one(new, "HorizontalPodAutoscaler")["apiVersion"] == "autoscaling/v2"


def test_checkov_reports_only_listed_failures(tmp_path):
    components = {}
    for shape in VALUES:
        objs = render(shape)
        (tmp_path / f"{shape}.yaml").write_text(yaml.safe_dump_all(objs))
        for o in objs:
            components[(shape, o["metadata"]["name"])] = component(o) or o["kind"]
    skips = yaml.safe_load(SKIPS.read_text())
    assert all(s.get("reason", "").strip() and s.get("components") for s in skips), "every skip needs a reason"
    used, unexpected = set(), []
    for failed in _run_checkov(tmp_path):
        shape = Path(failed["file_path"]).stem
        kind, _ns, name = failed["resource"].split(".", 2)
        # Graph checks name a workload's pod template as "<workload>.<its labels>".
        comp = components[(shape, name.split(".app.kubernetes.io/")[0])]
        match = [
            i
            for i, s in enumerate(skips)
            if s["id"] == failed["check_id"] and comp in s["components"] and shape in s.get("values", [shape])
        ]
        if match:
            used.update(match)
        else:
            unexpected.append(f"{failed['check_id']} {failed['check_name']}: {shape} {kind}/{name}")
    assert unexpected == []
    assert sorted(set(range(len(skips))) - used) == [], "stale skip entries: remove them"


# --- RBAC: exactly what installing and deleting a store needs ------------------------------------------------------

# Every kind charts/ecommerce-store renders -> its (API group, resource). A kind missing here fails the test below:
# the provisioner could not install it.
STORE_KIND_RESOURCES = {
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "LimitRange": ("", "limitranges"),
    "ResourceQuota": ("", "resourcequotas"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Pod": ("", "pods"),
    "Secret": ("", "secrets"),
    "Service": ("", "services"),
    "ServiceAccount": ("", "serviceaccounts"),
}
HELM_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}
# What the chain does beyond helm's objects: namespaces (kubectl apply, delete, wait --for=delete, list by label),
# engine setup (exec), logs, and the reads behind `rollout status` and helm --wait.
EXTRA = {
    ("", "namespaces"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "pods/exec"): {"create", "get"},
    ("", "pods/log"): {"get"},
    ("apps", "replicasets"): {"get", "list", "watch"},
    ("apps", "controllerrevisions"): {"get", "list", "watch"},
}


def _grants(role: dict) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"resourceNames/nonResourceURLs: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def test_cluster_role_grants_exactly_the_store_charts_needs():
    store_kinds = {o["kind"] for combo in STORE_COMBOS for o in render_store_combo(combo)}
    assert store_kinds - set(STORE_KIND_RESOURCES) == set(), "a new kind in the store chart needs a rule"
    expected = {STORE_KIND_RESOURCES[k]: set(HELM_VERBS) for k in store_kinds}
    expected[("", "pods")] = {"get", "list", "watch", "create", "delete"}  # helm test pods, rollout status
    expected.update(EXTRA)
    role = one(render("local"), "ClusterRole")
    grants = _grants(role)
    assert grants == expected
    flat = [x for r in role["rules"] for key in ("apiGroups", "resources", "verbs") for x in r[key]]
    assert "*" not in flat
    assert not {"bind", "escalate", "impersonate"} & {v for r in role["rules"] for v in r["verbs"]}


def test_cluster_role_is_bound_to_the_platform_service_account_only():
    objs = render("local")
    binding = one(objs, "ClusterRoleBinding")
    sa = one(objs, "ServiceAccount")
    assert binding["roleRef"]["name"] == one(objs, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}]
    # Names carry the namespace: two installs in different namespaces never share a ClusterRole.
    assert NAMESPACE in binding["metadata"]["name"]


def test_token_reaches_only_the_pods_that_talk_to_kubernetes():
    objs = render("local")
    with_token = set()
    for name, spec in pods(objs):
        assert spec.get("automountServiceAccountToken") is False, name
        if any(v.get("name") == "sa-token" for v in spec.get("volumes", [])):
            with_token.add(name)
    assert with_token == {"Deployment/sp-storeplane-web", "Deployment/sp-storeplane-worker"}


# --- workloads -----------------------------------------------------------------------------------------------------


@shapes
def test_every_container_is_hardened(shape):
    for name, spec in pods(render(shape)):
        psc = spec.get("securityContext", {})
        assert (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", name
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c.get("securityContext", {})
            where = f"{name}:{c['name']}"
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert not sc.get("privileged"), where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc["capabilities"].get("add"), where
            assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, where
            assert sc.get("runAsUser", psc.get("runAsUser")) not in (None, 0), where
            # A read-only root needs a writable /tmp.
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts or c["name"] == "redis", where  # noqa: S108 - a path in the pod
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], where


@shapes
def test_web_worker_beat_run_the_platform_image(shape):
    objs = render(shape)
    image = one(objs, "Deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    for comp, argv0 in (("web", "gunicorn"), ("worker", "celery"), ("beat", "celery")):
        c = pod_spec(one(objs, "Deployment", comp))["containers"][0]
        assert c["image"] == image and c["args"][0] == argv0, comp
    web = pod_spec(one(objs, "Deployment", "web"))["containers"][0]
    assert web["args"] == ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
    assert web["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    assert web["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready"
    if shape == "external":
        assert image.startswith("registry.example.com/storeplane@sha256:")


def test_beat_is_exactly_one_and_recreated():
    for sets in ((), ("worker.replicas=5", "web.replicas=4")):
        beat = one(render("local", sets), "Deployment", "beat")
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}
    worker = one(render("local", ("worker.replicas=5",)), "Deployment", "worker")
    assert worker["spec"]["replicas"] == 5


def test_hpa_owns_web_replicas_when_enabled():
    objs = render("external")
    hpa = one(objs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(objs, "Deployment", "web")["metadata"]["name"]
    assert "replicas" not in one(objs, "Deployment", "web")["spec"]
    local = render("local")
    assert not [o for o in local if o["kind"] == "HorizontalPodAutoscaler"]
    assert one(local, "Deployment", "web")["spec"]["replicas"] == 2


def test_pdb_selects_the_web_pods():
    objs = render("local")
    pdb = one(objs, "PodDisruptionBudget")
    web_labels = one(objs, "Deployment", "web")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["minAvailable"] == 1
    assert all(web_labels[k] == v for k, v in pdb["spec"]["selector"]["matchLabels"].items())


def test_migrations_run_as_a_hook_before_the_new_code():
    ext = one(render("external"), "Job", "migrate")
    assert ext["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    # The bundled database is created by the release itself, so the first migration runs after it.
    local = one(render("local"), "Job", "migrate")
    assert local["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    for job in (ext, local):
        c = pod_spec(job)["containers"][0]
        assert "manage.py migrate --noinput" in c["args"][-1]
        assert job["spec"]["activeDeadlineSeconds"] > 0 and pod_spec(job)["restartPolicy"] == "Never"


def test_helm_test_pod_checks_health_and_migrations():
    pod = one(render("local"), "Pod", "test-platform")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["args"][-1]
    assert "/api/v1/health/ready" in script and "migrate" in script and "--check" in script


def test_config_and_secret_changes_roll_the_pods():
    def annotations(sets):
        objs = render("local", sets)
        return {
            comp: one(objs, "Deployment", comp)["spec"]["template"]["metadata"]["annotations"]
            for comp in PLATFORM_COMPONENTS
        }

    base = annotations(())
    changed_config = annotations(("config.logLevel=DEBUG",))
    changed_secret = annotations(("secrets.values.djangoSecretKey=another-ci-only-secret-key-0123456789abcdef",))
    for comp in PLATFORM_COMPONENTS:
        assert base[comp]["checksum/config"] != changed_config[comp]["checksum/config"], comp
        assert base[comp]["checksum/secrets"] == changed_config[comp]["checksum/secrets"], comp
        assert base[comp]["checksum/secrets"] != changed_secret[comp]["checksum/secrets"], comp


# --- data stores and secrets ---------------------------------------------------------------------------------------


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def test_external_data_stores_come_from_the_named_secrets():
    objs = render("external")
    env = _env(pod_spec(one(objs, "Deployment", "worker"))["containers"][0])
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "storeplane-database", "key": "url"}
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "storeplane-redis", "key": "url"}
    assert env["DJANGO_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "storeplane-secrets"
    assert not [o for o in objs if component(o) in ("postgresql", "redis")]
    assert not [o for o in objs if o["kind"] == "Secret" and o["type"] != "kubernetes.io/service-account-token"]


def test_bundled_pair_is_reached_through_service_env_vars():
    objs = render("local")
    env = _env(pod_spec(one(objs, "Deployment", "worker"))["containers"][0])
    pg = one(objs, "Service", "postgresql")["metadata"]["name"].upper().replace("-", "_")
    assert f"$({pg}_SERVICE_HOST)" in env["DATABASE_URL"]["value"]
    assert "$(BUNDLED_POSTGRES_PASSWORD)" in env["DATABASE_URL"]["value"]
    assert env["CELERY_BROKER_URL"]["value"] == "$(REDIS_URL)"
    redis = pod_spec(one(objs, "Deployment", "redis"))["containers"][0]
    assert redis["args"] == ["/etc/storeplane-redis/redis.conf"]  # the password is in the mounted file, not argv


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("bundled.enabled=false",), "externalDatabase.existingSecret is required"),
        (("secrets.values.djangoSecretKey=",), "secrets.existingSecret is required"),
    ],
)
def test_missing_data_store_or_secret_fails_naming_the_value(sets, message):
    proc = template(VALUES["local"], sets)
    assert proc.returncode != 0 and message in proc.stderr


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (("worker.replicas=-1",), "/worker/replicas"),
        (("image.digest=latest",), "/image/digest"),
        (
            ("containerSecurityContext.readOnlyRootFilesystem=false",),
            "/containerSecurityContext/readOnlyRootFilesystem",
        ),
        (("config.extraEnv.lower_case=1",), "lower_case"),
        (("secrets.values.djangoSecretKey=short",), "/secrets/values/djangoSecretKey"),
        (("backups.s3.endpoint=s3.example.com",), "/backups/s3/endpoint"),
        (("unknownKey=1",), "unknownKey"),
    ],
)
def test_schema_rejects_bad_values_with_the_key_named(sets, key):
    proc = template(VALUES["local"], sets)
    assert proc.returncode != 0 and key in proc.stderr, proc.stderr


def test_secret_values_appear_only_in_secrets():
    secret = "ci-only-django-secret-key-0123456789abcdefghijklmnop"
    for o in render("local"):
        text = json.dumps(o)
        if o["kind"] != "Secret":
            assert secret not in text, f"{o['kind']}/{o['metadata']['name']}"


# Throwaway backup keys (tests only): neither may appear in a rendered manifest, base64 in a Secret aside.
BACKUP_KEYS = ("ci-only-backup-access-key-AKIA0123", "ci-only-backup-secret-key-0123456789abcdef")
LOCAL_BACKUPS = (
    "backups.s3.endpoint=http://10.244.0.1:9300",
    f"secrets.values.backupS3AccessKey={BACKUP_KEYS[0]}",
    f"secrets.values.backupS3SecretKey={BACKUP_KEYS[1]}",
)


def test_backup_storage_reaches_web_worker_and_beat_with_its_keys_by_secret_ref():
    # The backups app reads BACKUP_S3_*: the bucket's address from the ConfigMap, its keys from the named Secret.
    objs = render("external")
    cm = one(objs, "ConfigMap")
    assert {k: v for k, v in cm["data"].items() if k.startswith("BACKUP_S3_")} == {
        "BACKUP_S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com",
        "BACKUP_S3_BUCKET": "storeplane-backups-prod",
        "BACKUP_S3_REGION": "eu-west-1",
    }
    for comp in PLATFORM_COMPONENTS:
        container = pod_spec(one(objs, "Deployment", comp))["containers"][0]
        assert {"configMapRef": {"name": cm["metadata"]["name"]}} in container["envFrom"], comp
        env = _env(container)
        assert env["BACKUP_S3_ACCESS_KEY"] == {
            "name": "BACKUP_S3_ACCESS_KEY",
            "valueFrom": {"secretKeyRef": {"name": "storeplane-backup-s3", "key": "BACKUP_S3_ACCESS_KEY"}},
        }, comp
        assert env["BACKUP_S3_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": "storeplane-backup-s3",
            "key": "BACKUP_S3_SECRET_KEY",
        }, comp


def test_backup_keys_from_values_live_only_in_the_chart_made_secret():
    text = template(VALUES["local"], LOCAL_BACKUPS).stdout
    assert "kind: Secret" in text and not [
        key for key in BACKUP_KEYS if key in text
    ]  # not in plain anywhere, the Secret included
    objs = render("local", LOCAL_BACKUPS)
    secret = one(objs, "Secret", name="sp-storeplane-secrets")
    assert [base64.b64decode(secret["data"][k]).decode() for k in ("BACKUP_S3_ACCESS_KEY", "BACKUP_S3_SECRET_KEY")] == [
        *BACKUP_KEYS
    ]
    for comp in PLATFORM_COMPONENTS:
        env = _env(pod_spec(one(objs, "Deployment", comp))["containers"][0])
        assert env["BACKUP_S3_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "sp-storeplane-secrets", comp
        assert "value" not in env["BACKUP_S3_SECRET_KEY"] and "value" not in env["BACKUP_S3_ACCESS_KEY"], comp


def test_backup_storage_without_keys_fails_naming_the_value():
    proc = template(VALUES["local"], ("backups.s3.endpoint=http://10.244.0.1:9300",))
    assert proc.returncode != 0 and "backups.s3.existingSecret is required" in proc.stderr


def test_unconfigured_backup_storage_sets_nothing():
    # Backups off: no BACKUP_S3_* at all (the platform's local default endpoint then fails each backup visibly).
    proc = template(VALUES["local"])
    assert proc.returncode == 0 and "BACKUP_S3_" not in proc.stdout


def test_in_cluster_settings_point_helm_and_kubectl_at_the_image():
    cm = one(render("local"), "ConfigMap")["data"]
    assert cm["HELM_BIN"] == "/usr/local/bin/helm" and cm["KUBECTL_BIN"] == "/usr/local/bin/kubectl"
    assert cm["HELM_CHART_PATH"] == "charts/ecommerce-store" and cm["HELM_VALUES_FILE"] == "values-local.yaml"
    assert "KUBECONFIG" not in cm  # the image's entrypoint writes the in-cluster one
    assert cm["STORE_INGRESS_ADDRESS"] == "10.244.0.1" and cm["DJANGO_DEBUG"] == "false"
