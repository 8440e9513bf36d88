"""Suspend, resume and upgrade of one real WooCommerce store on the local cluster (real chart, images, helm,
kubectl and the Traefik ingress controller), provisioned once for the module: suspended, its URL answers the closed
page through the ingress and its engine and database pods are gone with the volumes kept; resumed, it serves the
product created before the suspension; an upgrade to an image tag that does not exist is rolled back
automatically, the store serves again with its secrets unchanged, and the failure is recorded. A Medusa store of its
own (LIFECYCLE_MEDUSA=1: four minutes more): every route closed while suspended, the seeded catalog served again
once resumed. (A real Celery worker killed mid-suspend, mid-resume, mid-backup, mid-upgrade and mid-restore on the
real cluster, then recovered: provisioning/tests/test_lifecycle_killed_k8s.py.)"""

import base64
import http.client
import json
import os
import time

import pytest
from django.db import connection

from audit.models import AuditEvent
from backups import storage
from backups.models import Backup
from backups.tests.conftest import s3_endpoint  # noqa: F401  (a fixture: the bucket of the backup before an upgrade)
from provisioning import lifecycle, services
from provisioning.models import ProvisioningRun
from provisioning.setup import component_pod
from provisioning.tests.module_cluster import on_the_cluster
from provisioning.tests.test_chain_k8s import explain, new_store, real_cluster  # noqa: F401  (a fixture)
from stores import services as store_services
from stores.models import LifecycleStatus, Store, StoreStatus

pytestmark = pytest.mark.k8s
S, L = StoreStatus, LifecycleStatus
LAMP = ("Lifecycle Lamp", "LAMP-001")
BUCKET = "k8s-lifecycle"


def through_ingress(store: Store, path: str = "/") -> tuple[int, dict[str, str], str]:
    """GET path from the ingress controller on 127.0.0.1:8080 with the store's Host header, as a browser does."""
    conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": f"{store.id}.localhost:8080"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode(errors="replace")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def woo(k8s_cluster, s3_endpoint, django_db_setup, django_db_blocker):  # noqa: F811  (the imported fixture)
    """One WooCommerce store made ready by the real create chain, shared by the module's tests (each test leaves it
    ready and served), with a real S3 endpoint for the backup an upgrade takes first; removed, with its rows, at the
    end."""
    from accounts.tests.factories import UserFactory

    with on_the_cluster(k8s_cluster, s3_endpoint, bucket=BUCKET), django_db_blocker.unblock():
        owner = UserFactory()
        store = store_services.store_create(owner=owner, name="lifecycle-woo", engine="woocommerce")
        started = time.monotonic()
        try:
            assert services.provision(store.id) == "ready", explain(store)
            print(f"lifecycle k8s: provisioned in {time.monotonic() - started:.0f}s")
            storage.ensure_bucket()
            yield k8s_cluster, Store.objects.select_related("owner").get(pk=store.pk)
        finally:
            k8s_cluster.helm_run("uninstall", store.id, "-n", store.id, "--wait", "--timeout", "60s", check=False)
            k8s_cluster.kubectl_run(
                "delete", "namespace", store.id, "--ignore-not-found", "--wait=true", "--timeout=120s", check=False
            )
            with connection.cursor() as cursor:  # the module's committed rows (audit rows have no ORM delete)
                cursor.execute("DELETE FROM audit_auditevent WHERE store_id = %s", [store.id])
            ProvisioningRun.objects.filter(store_id=store.id).delete()
            Backup.objects.filter(store_id=store.id).delete()
            Store.objects.filter(pk=store.id).delete()
            owner.delete()


def pods_by_component(cluster, store: Store) -> dict[str, list[str]]:
    items = json.loads(cluster.kubectl_run("-n", store.namespace, "get", "pods", "-o", "json").stdout)["items"]
    found: dict[str, list[str]] = {}
    for pod in items:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        component = pod["metadata"]["labels"].get("app.kubernetes.io/component", "")
        found.setdefault(component, []).append(pod["status"].get("phase", ""))
    return found


@pytest.mark.django_db
def test_suspend_serves_the_closed_page_frees_the_pods_and_resume_brings_back_the_same_data(woo):
    cluster, store = woo
    pod = component_pod(store, "wordpress")
    name, sku = LAMP
    cluster.kubectl_run(
        *("-n", store.namespace, "exec", pod, "-c", "wordpress", "--", "wp", "wc", "product", "create"),
        *(f"--name={name}", "--type=simple", "--regular_price=12.00", f"--sku={sku}", "--status=publish"),
        *("--user=1", "--porcelain"),
    )
    status, _, shop = through_ingress(store, "/shop/")
    assert status == 200 and name in shop

    store_services.store_request_suspend(store_id=store.id, actor=store.owner)
    started = time.monotonic()
    assert lifecycle.suspend(store.id) == "suspended", explain(store)
    print(f"lifecycle k8s: suspended in {time.monotonic() - started:.1f}s")
    for path in ("/", "/shop/", "/wp-admin/"):
        status, headers, body = through_ingress(store, path)
        assert status == 503, (path, status, body[:200])
        assert headers["Content-Type"].startswith("text/html") and headers["Retry-After"] == "3600"
        assert "This store is closed for now" in body and "lifecycle-woo is temporarily closed" in body
    # The engine and its database run no pod any more; only the closed page does; the volumes are kept.
    assert pods_by_component(cluster, store) == {"closed": ["Running"]}
    claims = json.loads(cluster.kubectl_run("-n", store.namespace, "get", "pvc", "-o", "json").stdout)["items"]
    assert sorted(c["status"]["phase"] for c in claims) == ["Bound", "Bound"]

    store_services.store_request_resume(store_id=store.id, actor=store.owner)
    started = time.monotonic()
    assert lifecycle.resume(store.id) == "ready", explain(store)
    print(f"lifecycle k8s: resumed in {time.monotonic() - started:.1f}s")
    status, _, shop = through_ingress(store, "/shop/")
    assert status == 200 and name in shop and "Classic T-Shirt" in shop
    listed = cluster.kubectl_run(
        *("-n", store.namespace, "exec", component_pod(store, "wordpress"), "-c", "wordpress", "--"),
        *("wp", "wc", "product", "list", "--format=json", "--user=1"),
    ).stdout
    assert sku in {p["sku"] for p in json.loads(listed)}
    assert "closed" not in pods_by_component(cluster, store)
    moves = [(e.previous_status, e.new_status) for e in AuditEvent.objects.filter(store_id=store.id).order_by("id")]
    assert [m for m in moves if m[0] in L.values or m[1] in L.values] == [
        (S.READY, L.SUSPENDING),
        (L.SUSPENDING, L.SUSPENDED),
        (L.SUSPENDED, L.RESUMING),
        (L.RESUMING, S.READY),
    ]


@pytest.mark.django_db
def test_an_upgrade_to_a_bad_image_tag_is_rolled_back_serves_again_and_is_recorded(woo, s3_endpoint):  # noqa: F811
    cluster, store = woo
    secrets = Store.objects.get(pk=store.pk).secrets
    store_services.store_request_upgrade(
        store_id=store.id, actor=store.owner, values={"wordpress": {"image": {"tag": "no-such-tag"}}}
    )
    started = time.monotonic()
    assert lifecycle.upgrade(store.id) == "rolled_back", explain(store)
    print(f"lifecycle k8s: failed upgrade rolled back in {time.monotonic() - started:.1f}s")
    store.refresh_from_db()
    assert store.status == S.READY and store.chart_values == {}
    outcome = store.last_upgrade
    assert outcome["outcome"] == "rolled_back"
    assert "ErrImageNeverPull" in outcome["reason"] and "storeplane.local/wordpress:no-such-tag" in outcome["reason"]
    warning = AuditEvent.objects.filter(store_id=store.id, event_type="warning").latest("id")
    assert warning.message.startswith(f"Upgrade rolled back to revision {outcome['fromRevision']}")
    # Before helm ran, a backup of the store was taken and completed: named by the outcome, taken for the upgrade,
    # its dump and manifest in the bucket.
    backup = Backup.objects.get(pk=outcome["backupId"])
    assert (backup.store_id, backup.status, backup.trigger) == (store.id, "succeeded", "upgrade")
    folder = s3_endpoint[1] / BUCKET / "stores" / store.id / backup.id
    assert b"CREATE TABLE `wp_posts`" in (folder / "database.sql").read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["parts"] == backup.parts and set(backup.parts) == {"database", "uploads"}
    steps = ProvisioningRun.objects.filter(store_id=store.id, operation="upgrade").order_by("id")
    steps = list(steps.values_list("step", flat=True))
    assert steps.index("previous_revision") < steps.index("backup_database") < steps.index("backup_manifest")
    assert steps.index("backup_manifest") < steps.index("helm_upgrade")
    print(
        f"lifecycle k8s: backup before the upgrade in {(backup.finished_at - backup.started_at).total_seconds():.1f}s"
    )

    history = json.loads(cluster.helm_run("history", store.id, "-n", store.id, "-o", "json").stdout)
    assert history[-1]["status"] == "deployed"
    assert history[-1]["description"] == f"Rollback to {outcome['fromRevision']}"
    deployment = json.loads(
        cluster.kubectl_run("-n", store.namespace, "get", "deployment", f"{store.id}-wordpress", "-o", "json").stdout
    )
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "storeplane.local/wordpress:local"
    status, _, shop = through_ingress(store, "/shop/")
    assert status == 200 and "Classic T-Shirt" in shop
    # The generated secrets survived the upgrade and the rollback: the cluster's Secret holds the stored password.
    secret = json.loads(
        cluster.kubectl_run("-n", store.namespace, "get", "secret", f"{store.id}-mariadb", "-o", "json").stdout
    )
    assert base64.b64decode(secret["data"]["mariadb-password"]).decode() == secrets["dbPassword"]
    assert Store.objects.get(pk=store.pk).secrets == secrets


# A Medusa store costs about four minutes here (ready in 90-120 s, resumed in about 100 s: Medusa's own start), which
# the CI budget of this module (8 minutes with the rest) does not have: LIFECYCLE_MEDUSA=1 runs it (476 s for the
# module with it on 2026-12-06).
@pytest.mark.skipif(os.environ.get("LIFECYCLE_MEDUSA") != "1", reason="LIFECYCLE_MEDUSA=1 runs the Medusa case")
@pytest.mark.django_db
def test_a_suspended_medusa_store_closes_every_route_and_resumes_with_its_catalog(real_cluster, tenant):  # noqa: F811
    """Medusa has more to close (storefront, store API, admin API, dashboard): all answer the closed page, and the
    resumed store's API serves the seeded catalog, region and shipping options again."""
    from provisioning.tests.test_medusa_k8s import assert_the_shop

    store = new_store(real_cluster, tenant, name="lifecycle-medusa", engine="medusa")
    assert services.provision(store.id) == "ready", explain(store)
    key = Store.objects.get(pk=store.pk).secrets["publishableKey"]
    store_services.store_request_suspend(store_id=store.id, actor=tenant)
    started = time.monotonic()
    assert lifecycle.suspend(store.id) == "suspended", explain(store)
    print(f"lifecycle k8s: medusa suspended in {time.monotonic() - started:.1f}s")
    for path in ("/", "/store/products", "/admin/auth", "/app"):
        status, _, body = through_ingress(store, path)
        assert status == 503 and "This store is closed for now" in body, (path, status)
    assert pods_by_component(real_cluster, store) == {"closed": ["Running"]}
    store_services.store_request_resume(store_id=store.id, actor=tenant)
    started = time.monotonic()
    assert lifecycle.resume(store.id) == "ready", explain(store)
    print(f"lifecycle k8s: medusa resumed in {time.monotonic() - started:.1f}s")
    assert_the_shop(store, key)
