"""Backup and restore of one real WooCommerce store on the local cluster (real chart, images, helm, kubectl, the
Traefik ingress, and a real S3 endpoint: rclone serve s3), provisioned once for the module: a product (WP-CLI) and
an order (a WooCommerce order row in its MariaDB) are added, the store is backed up (mariadb-dump and the content
volume's tar streamed into the bucket, manifest last), and restored into a NEW store with new secrets whose products
and order match the source, whose site URL is its own and which serves the product through the ingress. A corrupted
part is refused before the new store's namespace exists. Last, the source store is restored from its own backup
(restore into the same store): what was added after the backup is gone, the backup's data is back."""

import http.client
import json
import threading
import time

import pytest
from django.db import connection

from audit.models import AuditEvent
from backups import restore_in_place
from backups import services as backup_services
from backups.models import Backup, BackupStatus, Restore
from provisioning import services
from provisioning.models import ProvisioningRun
from provisioning.setup import component_pod
from provisioning.tests.module_cluster import on_the_cluster
from provisioning.tests.test_chain_k8s import explain
from stores import services as store_services
from stores.models import Store, StoreStatus

pytestmark = pytest.mark.k8s
S = StoreStatus
LANTERN = ("Backup Lantern", "BKUP-LANTERN-1")
ORDER_SQL = """
INSERT INTO wp_posts (post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt, post_status,
  comment_status, ping_status, post_password, post_name, to_ping, pinged, post_modified, post_modified_gmt,
  post_content_filtered, post_parent, guid, menu_order, post_type, post_mime_type, comment_count)
VALUES (1, NOW(), UTC_TIMESTAMP(), '', 'Order from the backup test', '', 'wc-processing', 'closed', 'closed', '',
  'order-backup-test', '', '', NOW(), UTC_TIMESTAMP(), '', 0, '', 0, 'shop_order', '', 0);
SET @order = LAST_INSERT_ID();
INSERT INTO wp_postmeta (post_id, meta_key, meta_value) VALUES
  (@order, '_order_total', '24.00'), (@order, '_billing_email', 'buyer@example.com'), (@order, '_order_key', 'wc_bk1');
"""
ORDERS_SQL = (
    "SELECT p.post_title, p.post_status, m.meta_key, m.meta_value FROM wp_posts p JOIN wp_postmeta m"
    " ON m.post_id = p.ID WHERE p.post_type = 'shop_order' ORDER BY p.ID, m.meta_key"
)


def _sql(cluster, store: Store, sql: str) -> str:
    pod = component_pod(store, "mariadb")
    return cluster.kubectl_run(
        *("-n", store.namespace, "exec", "-i", pod, "-c", "mariadb", "--", "sh", "-c"),
        'MYSQL_PWD="$MARIADB_PASSWORD" exec mariadb -N -B -h 127.0.0.1 -u "$MARIADB_USER" "$MARIADB_DATABASE"',
        input=sql,
    ).stdout


def _wp(cluster, store: Store, *args: str) -> str:
    pod = component_pod(store, "wordpress")
    return cluster.kubectl_run("-n", store.namespace, "exec", pod, "-c", "wordpress", "--", "wp", *args).stdout


def products(cluster, store: Store) -> list[tuple]:
    listed = json.loads(_wp(cluster, store, "wc", "product", "list", "--format=json", "--user=1"))
    return sorted((p["sku"], p["name"], p["regular_price"], p["stock_quantity"]) for p in listed)


def through_ingress(store: Store, path: str = "/") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": f"{store.id}.localhost:8080"})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


MAINTENANCE = '<meta name="storeplane-status" content="maintenance">'


class Shopper:
    """Opens the store's front page through the ingress every half second in a thread, keeping what it saw."""

    def __init__(self, store: Store) -> None:
        self.store, self.seen, self._stop = store, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen.append(through_ingress(self.store, "/"))
            except OSError as error:
                self.seen.append((0, type(error).__name__))
            self._stop.wait(0.5)

    def __enter__(self) -> "Shopper":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=35)

    def summary(self) -> list[tuple[int, str]]:
        return [(status, body[:80]) for status, body in self.seen]


def _remove(cluster, store_id: str) -> None:
    cluster.helm_run("uninstall", store_id, "-n", store_id, "--wait", "--timeout", "60s", check=False)
    cluster.kubectl_run(
        "delete", "namespace", store_id, "--ignore-not-found", "--wait=true", "--timeout=120s", check=False
    )
    with connection.cursor() as cursor:  # committed rows of the module (audit rows have no ORM delete)
        cursor.execute("DELETE FROM audit_auditevent WHERE store_id = %s", [store_id])
    Restore.objects.filter(store_id=store_id).delete()
    ProvisioningRun.objects.filter(store_id=store_id).delete()


@pytest.fixture(scope="module")
def cluster_store(k8s_cluster, s3_endpoint, django_db_setup, django_db_blocker, tmp_path_factory):
    """One WooCommerce store made ready by the real create chain, with a product and an order added, backed up once;
    yields (cluster, store, backup, bucket directory, created store ids). Everything is removed at the end."""
    from accounts.tests.factories import UserFactory
    from backups import storage

    _, root = s3_endpoint
    created: list[str] = []
    with (
        on_the_cluster(k8s_cluster, s3_endpoint, bucket="k8s-backups", STORE_CREATION_COOLDOWN_SECONDS=0),
        django_db_blocker.unblock(),
    ):
        owner = UserFactory()
        store = store_services.store_create(owner=owner, name="backup-source", engine="woocommerce")
        created.append(store.id)
        try:
            started = time.monotonic()
            assert services.provision(store.id) == "ready", explain(store)
            print(f"backups k8s: source provisioned in {time.monotonic() - started:.0f}s")
            store = Store.objects.select_related("owner").get(pk=store.pk)
            name, sku = LANTERN
            _wp(
                *(k8s_cluster, store, "wc", "product", "create", f"--name={name}", "--type=simple"),
                *("--regular_price=12.00", f"--sku={sku}", "--manage_stock=true", "--stock_quantity=7"),
                *("--status=publish", "--user=1", "--porcelain"),
            )
            _sql(k8s_cluster, store, ORDER_SQL)
            storage.ensure_bucket()
            backup = backup_services.backup_request(store_id=store.id, actor=owner)
            started = time.monotonic()
            assert backup_services.run_backup(backup.id) == "succeeded", Backup.objects.get(pk=backup.pk).failure_reason
            print(f"backups k8s: backed up in {time.monotonic() - started:.1f}s")
            yield k8s_cluster, store, Backup.objects.get(pk=backup.pk), root / "k8s-backups", created
        finally:
            for store_id in created:
                _remove(k8s_cluster, store_id)
            Backup.objects.filter(store__owner=owner).delete()
            Store.objects.filter(owner=owner).delete()
            owner.delete()


@pytest.mark.django_db
def test_backup_artifact_in_the_bucket(cluster_store):
    cluster, store, backup, bucket, _ = cluster_store
    folder = bucket / "stores" / store.id / backup.id
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["parts"]) == {"database", "uploads"}
    dump = (folder / "database.sql").read_bytes()
    assert b"CREATE TABLE `wp_posts`" in dump and LANTERN[1].encode() in dump and b"order-backup-test" in dump
    assert manifest["parts"]["database"]["size"] == len(dump) == backup.parts["database"]["size"]
    assert (folder / "uploads.tar").stat().st_size == manifest["parts"]["uploads"]["size"] > 0
    assert {"secret": f"{store.id}-mariadb", "keys": ["mariadb-password", "mariadb-root-password"]} in manifest[
        "secretReferences"
    ]
    text = (folder / "manifest.json").read_text()
    assert not any(value in text for value in store.secrets.values())


@pytest.mark.django_db
def test_restore_into_a_new_store_matches_the_source(cluster_store):
    cluster, source, backup, _, created = cluster_store
    clone = store_services.store_create(
        owner=source.owner, name="backup-clone", engine="woocommerce", restore_from=backup.id
    )
    created.append(clone.id)
    started = time.monotonic()
    assert services.provision(clone.id) == "ready", explain(clone)
    print(f"backups k8s: restored into a new store in {time.monotonic() - started:.0f}s")
    clone = Store.objects.get(pk=clone.pk)
    assert products(cluster, clone) == products(cluster, source)
    assert LANTERN[1] in {sku for sku, *_ in products(cluster, clone)}
    assert _sql(cluster, clone, ORDERS_SQL) == _sql(cluster, source, ORDERS_SQL) != ""
    # Its own URL, its own secrets, served through the ingress with the source's product.
    assert _wp(cluster, clone, "option", "get", "home").strip() == clone.storefront_url
    assert _wp(cluster, clone, "option", "get", "blogname").strip() == "backup-clone"
    assert clone.secrets["dbPassword"] != source.secrets["dbPassword"]
    assert clone.secrets["adminPassword"] != source.secrets["adminPassword"]
    status, shop = through_ingress(clone, "/shop/")
    assert status == 200 and LANTERN[0] in shop
    steps = [s for s, st in ProvisioningRun.objects.filter(store=clone).order_by("id").values_list("step", "status")]
    assert steps.index("restore_verify") < steps.index("namespace")
    assert steps.index("engine_setup") < steps.index("restore_database") < steps.index("served") < steps.index("ready")
    assert AuditEvent.objects.filter(store_id=clone.id, message=f"Data restored from backup {backup.id}").exists()


@pytest.mark.django_db
def test_a_corrupted_part_is_refused_before_the_namespace_exists(cluster_store):
    cluster, source, backup, bucket, created = cluster_store
    part = bucket / "stores" / source.id / backup.id / "uploads.tar"
    original = part.read_bytes()
    try:
        part.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        clone = store_services.store_create(
            owner=source.owner, name="backup-corrupt", engine="woocommerce", restore_from=backup.id
        )
        created.append(clone.id)
        assert services.provision(clone.id) == "failed"
        clone.refresh_from_db()
        assert clone.status == S.FAILED and "uploads.tar does not match its manifest" in clone.failure_reason
        found = cluster.kubectl_run("get", "namespace", clone.id, "--ignore-not-found", "-o", "name").stdout
        assert found.strip() == ""
        assert list(ProvisioningRun.objects.filter(store=clone).values_list("step", flat=True)) == ["restore_verify"]
    finally:
        part.write_bytes(original)
    assert Backup.objects.get(pk=backup.pk).status == BackupStatus.SUCCEEDED


@pytest.mark.django_db
def test_restore_into_the_same_store_brings_the_backup_back_and_drops_what_came_after(cluster_store):
    """The source store itself restored from its backup: a product and an order added after the backup are gone,
    the backup's products and order are there, and it serves the same URL with the same secrets; the backup taken
    first holds what the store had (the later product)."""
    cluster, source, backup, _, _ = cluster_store
    source = Store.objects.select_related("owner").get(pk=source.pk)
    at_backup = products(cluster, source), _sql(cluster, source, ORDERS_SQL)
    _wp(
        *(cluster, source, "wc", "product", "create", "--name=After The Backup", "--type=simple"),
        *("--regular_price=3.00", "--sku=AFTER-BACKUP-1", "--status=publish", "--user=1", "--porcelain"),
    )
    _sql(cluster, source, ORDER_SQL.replace("order-backup-test", "order-after-backup").replace("wc_bk1", "wc_af1"))
    assert "AFTER-BACKUP-1" in {sku for sku, *_ in products(cluster, source)}
    assert "wc_af1" in _sql(cluster, source, ORDERS_SQL)  # the later order's key

    restore_in_place.store_restore_request(store_id=source.id, backup_id=backup.id, confirm=True, actor=source.owner)
    started = time.monotonic()
    with Shopper(source) as shopper:  # a shopper who keeps opening the shop while it is restored
        assert restore_in_place.restore_in_place(source.id) == "restored", explain(source)
    print(f"backups k8s: restored into the same store in {time.monotonic() - started:.0f}s")
    # While the data was replaced the shop was closed to them ("briefly closed", 503), never a gateway error.
    assert any(status == 503 and MAINTENANCE in body for status, body in shopper.seen), shopper.summary()
    assert all(status in (200, 301, 302, 503) for status, _ in shopper.seen), shopper.summary()
    restored = Store.objects.get(pk=source.pk)
    assert restored.status == S.READY and restored.last_restore["backupId"] == backup.id
    assert (products(cluster, restored), _sql(cluster, restored, ORDERS_SQL)) == at_backup
    assert "wc_af1" not in at_backup[1]
    # The same store: its URL, its secrets (the admin password set back to the store's own), served as before.
    assert (restored.storefront_url, restored.secrets) == (source.storefront_url, source.secrets)
    assert _wp(cluster, restored, "option", "get", "home").strip() == source.storefront_url
    status, shop = through_ingress(restored, "/shop/")
    assert status == 200 and LANTERN[0] in shop and "After The Backup" not in shop
    safety = Backup.objects.get(pk=restored.last_restore["safetyBackupId"])
    assert (safety.trigger, safety.status) == ("restore", BackupStatus.SUCCEEDED)
    runs = ProvisioningRun.objects.filter(store=restored, operation="restore").order_by("id")
    steps = list(runs.values_list("step", "status"))
    assert [s for s, _ in steps][:3] == ["release_check", "restore_verify", "backup_database"]
    assert all(status == "succeeded" for _, status in steps), steps
