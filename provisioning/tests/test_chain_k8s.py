"""The provisioning chain against the real local cluster (real helm, kubectl, chart and images): stores of both
engines become ready and usable and are deleted without leftovers; a store whose image cannot start fails with a
readable reason and reaches ready on retry once fixed; a worker killed mid-install leaves a store that recovery
fails cleanly with no release stuck pending; five stores at once never exceed the concurrency limit."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings

from provisioning import services
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.recovery import recover
from provisioning.tests.celery_worker import start_worker, wait_for
from stores import services as store_services
from stores.models import Store
from tests.cluster.test_cluster import _http_through_port_forward

pytestmark = pytest.mark.k8s
ROOT = Path(django_settings.BASE_DIR)


@pytest.fixture
def real_cluster(k8s_cluster, settings, monkeypatch):
    """Points the platform at the local cluster, and removes every store namespace the test made."""
    settings.KUBECONFIG = str(k8s_cluster.kubeconfig)
    settings.HELM_BIN, settings.KUBECTL_BIN = str(k8s_cluster.helm), str(k8s_cluster.kubectl)
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME", "KUBECONFIG"):
        monkeypatch.setenv(name, k8s_cluster.env[name])
    created: list[str] = []
    k8s_cluster.track = created.append
    yield k8s_cluster
    for store_id in created:
        k8s_cluster.helm_run(
            "uninstall", store_id, "-n", store_id, "--wait", "--timeout", "60s", check=False, timeout=90
        )
        k8s_cluster.kubectl_run(
            "delete",
            "namespace",
            store_id,
            "--ignore-not-found",
            "--wait=true",
            "--timeout=120s",
            check=False,
            timeout=150,
        )


def new_store(cluster, owner, **kwargs) -> Store:
    store = store_services.store_create(owner=owner, **kwargs)
    cluster.track(store.id)
    return store


def explain(store: Store) -> str:
    store.refresh_from_db()
    runs = ProvisioningRun.objects.filter(store=store).order_by("id").values_list("step", "status", "error")
    return f"{store.status}: {store.failure_reason}\n" + "\n".join(map(str, runs))


def gone(cluster, store_id: str) -> bool:
    namespace = cluster.kubectl_run("get", "namespace", store_id, "--ignore-not-found", "-o", "name", check=False)
    releases = json.loads(cluster.helm_run("list", "-A", "-a", "-o", "json").stdout)
    return namespace.stdout.strip() == "" and store_id not in {r["name"] for r in releases}


@pytest.mark.django_db
def test_a_woocommerce_store_becomes_ready_usable_and_is_deleted_cleanly(real_cluster, tenant):
    store = new_store(real_cluster, tenant, name="woo-real", engine="woocommerce", password="Tenant-Woo-Pw-1")
    assert services.provision(store.id) == "ready", explain(store)
    store.refresh_from_db()
    assert store.storefront_url == f"http://{store.id}.localhost:8080"
    assert store.admin_credentials == {"email": tenant.email, "username": "admin", "password": "Tenant-Woo-Pw-1"}
    ns = store.namespace
    pods = json.loads(real_cluster.kubectl_run("-n", ns, "get", "pods", "-o", "json").stdout)["items"]
    wordpress_pod = next(
        p["metadata"]["name"] for p in pods if p["metadata"]["labels"].get("app.kubernetes.io/component") == "wordpress"
    )
    # Setup ran in the WordPress pod, container wordpress, with the password on stdin only.
    setup = ProvisioningRun.objects.get(store=store, step="engine_setup")
    install = next(argv for argv in setup.argv if "install" in argv and "core" in argv)
    assert install[install.index("exec") + 2] == wordpress_pod and install[install.index("-c") + 1] == "wordpress"
    assert "Tenant-Woo-Pw-1" not in json.dumps(setup.argv)
    for check in (["wp", "core", "is-installed"], ["wp", "plugin", "is-active", "woocommerce"]):
        real_cluster.kubectl_run("-n", ns, "exec", wordpress_pod, "-c", "wordpress", "--", *check)
    status, body = _http_through_port_forward(real_cluster, ns, f"svc/{store.id}-wordpress", 80, "/wp-login.php")
    assert status == 200 and "user_login" in body

    store_services.store_request_deletion(store_id=store.id, actor=tenant)
    assert services.delete(store.id) == "deleted", explain(store)
    assert gone(real_cluster, store.id)


@pytest.mark.django_db
def test_a_medusa_store_becomes_ready_and_its_admin_can_log_in(real_cluster, tenant):
    store = new_store(real_cluster, tenant, name="medusa-real", engine="medusa")
    assert services.provision(store.id) == "ready", explain(store)
    store.refresh_from_db()
    creds = store.admin_credentials
    assert creds["email"] == tenant.email and len(creds["password"]) >= 16
    ns = store.namespace
    port_args = (real_cluster, ns, f"svc/{store.id}-medusa", 9000)
    status, _ = _http_through_port_forward(*port_args, "/health")
    assert status == 200
    # Log in to the Medusa admin API through a port-forward, as an operator's client would.
    login = subprocess.run(
        [sys.executable, "-c", LOGIN_SCRIPT, str(real_cluster.kubectl), ns, f"svc/{store.id}-medusa", creds["email"]],
        input=creds["password"],
        env=real_cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "200 token"
    setup = ProvisioningRun.objects.get(store=store, step="engine_setup")
    # The step's row lists the pod lookup, then each command it ran in the medusa container.
    lookup, *execs = setup.argv
    assert "get" in lookup and "pods" in lookup and execs
    assert all("-c" in argv and argv[argv.index("-c") + 1] == "medusa" for argv in execs)
    store_services.store_request_deletion(store_id=store.id, actor=tenant)
    assert services.delete(store.id) == "deleted", explain(store)
    assert gone(real_cluster, store.id)


LOGIN_SCRIPT = r"""
import json, socket, subprocess, sys, time, urllib.request
kubectl, ns, target, email = sys.argv[1:5]
password = sys.stdin.read()
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
fwd = subprocess.Popen([kubectl, "-n", ns, "port-forward", "--address", "127.0.0.1", target, f"{port}:9000"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    fwd.stdout.readline()
    body = json.dumps({"email": email, "password": password}).encode()
    for _ in range(30):
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/admin/auth/token", data=body,
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                data = json.loads(resp.read())
                print(resp.status, "token" if data.get("access_token") else "no-token")
                break
        except urllib.error.HTTPError as exc:
            print(exc.code, "refused"); break
        except OSError:
            time.sleep(1)
finally:
    fwd.terminate()
"""


@pytest.mark.django_db
def test_a_store_whose_image_cannot_start_fails_readably_and_retries_to_ready(real_cluster, tenant, settings, tmp_path):
    values = yaml.safe_load((ROOT / "charts/ecommerce-store/values-local.yaml").read_text())
    values["wordpress"]["image"]["tag"] = "does-not-exist"
    broken = tmp_path / "values-broken.yaml"
    broken.write_text(yaml.safe_dump(values))
    settings.HELM_VALUES_FILE = str(broken)  # absolute: replaces the chart's local values file
    settings.HELM_TIMEOUT = "40s"
    store = new_store(real_cluster, tenant, name="broken-image", engine="woocommerce")
    assert services.provision(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == "failed"
    assert "helm exited" in store.failure_reason and (
        "deadline" in store.failure_reason or "timed out" in store.failure_reason
    ), store.failure_reason
    assert ProvisioningRun.objects.get(store=store, step="helm_install").status == RunStatus.FAILED

    settings.HELM_VALUES_FILE = "values-local.yaml"  # the cause is fixed
    settings.HELM_TIMEOUT = "5m"
    store_services.store_retry(store_id=store.id, actor=tenant)
    assert services.provision(store.id, attempt=0) == "ready", explain(store)
    assert Store.objects.get(pk=store.pk).retry_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_install_is_recovered_without_a_stuck_release(real_cluster, settings):
    from accounts.tests.factories import UserFactory

    owner = UserFactory()
    worker = start_worker(real_cluster, concurrency=1, extra_env={"STORE_LOCK_TTL_SECONDS": "6"})
    try:
        store = new_store(real_cluster, owner, name="killed", engine="woocommerce")

        def pending():
            out = real_cluster.helm_run("history", store.id, "-n", store.id, "-o", "json", check=False).stdout
            return out.strip().startswith("[") and any(r["status"].startswith("pending") for r in json.loads(out))

        wait_for(pending, 240, "helm to start installing")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool, mid-install
        worker.wait()
    subprocess.run(["pkill", "-9", "-f", f"upgrade --install {store.id} "], check=False)  # and its helm
    time.sleep(7)  # the dead worker's store lock expires
    settings.RECOVERY_GRACE_SECONDS = 0
    lines = recover()
    assert any(line.startswith(f"{store.id} provisioning: failed (worker lost)") for line in lines), lines
    store.refresh_from_db()
    assert store.status == "failed" and "Safe to retry" in store.failure_reason
    history = real_cluster.helm_run("history", store.id, "-n", store.id, "-o", "json", check=False).stdout
    assert "pending" not in history  # remediated: never-deployed pending release removed
    assert not ProvisioningRun.objects.filter(store=store, status=RunStatus.RUNNING).exists()


@pytest.mark.django_db(transaction=True)
def test_five_stores_at_once_never_run_more_than_the_limit(real_cluster):
    from accounts.tests.factories import UserFactory

    limit = 2
    worker = start_worker(real_cluster, concurrency=5, extra_env={"PROVISIONING_MAX_CONCURRENT": str(limit)})
    try:
        owner = UserFactory(admin=True)  # admins skip the creation cooldown
        stores = [new_store(real_cluster, owner, name=f"wave-{i}", engine="woocommerce") for i in range(5)]
        ids = [s.id for s in stores]
        wait_for(
            lambda: Store.objects.filter(pk__in=ids, status__in=["ready", "failed"]).count() == 5,
            900,
            "five stores to finish",
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    assert list(Store.objects.filter(pk__in=ids).values_list("status", flat=True)) == ["ready"] * 5
    # While a store holds a slot it runs its steps from "namespace" to "ready": those windows never overlap more
    # than the limit.
    windows = []
    for store_id in ids:
        runs = ProvisioningRun.objects.filter(store_id=store_id, operation="create")
        start = runs.get(step="namespace").started_at
        end = runs.get(step="ready").finished_at
        windows.append((start, end))
    edges = sorted([(s, 1) for s, _ in windows] + [(e, -1) for _, e in windows], key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    assert peak == limit
