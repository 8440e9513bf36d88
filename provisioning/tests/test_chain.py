"""The create and delete chains against scripted helm/kubectl, for the paths a real cluster cannot produce on
demand: each step recorded, secrets only in a 0600 values file and on stdin, readable failures with nothing
secret in them, retryable versus final failures, a full queue, and a namespace that will not go away."""

import json
import logging

import pytest

from audit.models import AuditEvent
from provisioning import concurrency, services
from provisioning.errors import ClusterUnreachable, OperationFailed
from provisioning.ingress import StoreNotServed
from provisioning.models import ProvisioningRun, RunStatus
from stores import services as store_services
from stores.models import Store
from stores.tests.factories import StoreFactory
from stores.tests.helpers import UNREADABLE_TOKEN as TOKEN
from stores.tests.helpers import make_unreadable, stored
from stores.tests.test_read_api import ready_store

pytestmark = pytest.mark.django_db

CREATE_STEPS = [
    "namespace",
    "release_check",
    "helm_install",
    "readiness",
    "urls",
    "engine_setup",
    "served",
    "ready",
]


def everything_recorded(store: Store) -> str:
    """Every place a secret could leak to: run rows, audit rows, the store's reason."""
    store.refresh_from_db()
    runs = list(ProvisioningRun.objects.filter(store=store).values("argv", "error", "traceback"))
    audits = list(AuditEvent.objects.filter(store_id=store.id).values("message", "metadata"))
    return json.dumps([runs, audits, store.failure_reason], default=str)


def test_a_woocommerce_store_goes_ready_with_every_step_recorded(cluster, caplog):
    caplog.set_level(logging.DEBUG)
    store = StoreFactory(admin_credentials={"password": "tenant-chosen-pw"})
    assert services.provision(store.id) == "ready"
    store.refresh_from_db()
    assert store.status == "ready"
    assert store.storefront_url == cluster.url(store.id)
    assert store.admin_url == cluster.url(store.id) + "/wp-admin"
    # Ready only after the controller answered for the store's host, as a browser would ask it.
    assert f"{store.id}.localhost:{cluster.ingress.port}" in cluster.ingress.hosts
    assert store.admin_credentials == {"email": store.owner.email, "username": "admin", "password": "tenant-chosen-pw"}
    runs = list(ProvisioningRun.objects.filter(store=store).order_by("id"))
    assert [r.step for r in runs] == CREATE_STEPS
    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    assert all(r.duration_ms is not None for r in runs)
    # Secrets reached helm only in a 0600 file that is gone afterwards, and wp only on stdin.
    (install,) = cluster.installs()
    assert install["values_mode"] == "0o600"
    assert "tenant-chosen-pw" in install["values"] and store.secrets["dbPassword"] in install["values"]
    from pathlib import Path

    assert not Path(install["values_path"]).exists()
    for call in cluster.helm.calls + cluster.kubectl.calls:
        assert not any(secret in " ".join(call["argv"]) for secret in store.secrets.values())
    wp_install = next(c for c in cluster.kubectl.calls if "install" in c["argv"] and "core" in c["argv"])
    assert "--prompt=admin_password" in wp_install["argv"] and wp_install["stdin"] == "tenant-chosen-pw\n"
    assert "tenant-chosen-pw" not in everything_recorded(store)
    assert "tenant-chosen-pw" not in caplog.text
    # After the install, one exec configures the shop and one seeds the catalog, in WP-CLI's own syntax: the theme
    # and each product's values are argv items; a product is created only when no product has its SKU.
    assert cluster.wp_calls() == [
        "plugin|activate|woocommerce|",
        "plugin|is-active|woocommerce|",
        "theme|activate|storefront|",
        "wc|tool|run|install_pages|--user=1|",
        "option|update|woocommerce_currency|USD|",
        "option|update|woocommerce_currency_pos|left|",
        "option|update|woocommerce_store_address|123 Main St|",
        "option|update|woocommerce_store_city|Anytown|",
        "option|update|woocommerce_default_country|US:CA|",
        "option|update|woocommerce_store_postcode|90210|",
        "option|update|woocommerce_enable_guest_checkout|yes|",
        "option|update|woocommerce_calc_taxes|no|",
        'option|update|woocommerce_cod_settings|{"enabled": "yes", "title": "Cash on Delivery", "description": '
        '"Pay with cash upon delivery.", "instructions": "Pay with cash upon delivery.", "enable_for_virtual": '
        '"yes"}|--format=json|',
        "rewrite|structure|/%postname%/|",
        "rewrite|flush|--hard|",
        "wc|product|list|--sku=TSHIRT-001|--field=id|--user=1|",
        "wc|product|create|--name=Classic T-Shirt|--type=simple|--regular_price=24.99|--sku=TSHIRT-001|"
        "--manage_stock=true|--stock_quantity=50|--status=publish|--user=1|--porcelain|",
        "wc|product|list|--sku=HEADPHONES-001|--field=id|--user=1|",
        "wc|product|create|--name=Wireless Headphones|--type=simple|--regular_price=79.99|--sale_price=59.99|"
        "--sku=HEADPHONES-001|--manage_stock=true|--stock_quantity=30|--status=publish|--user=1|--porcelain|",
        "wc|product|list|--sku=WALLET-001|--field=id|--user=1|",
        "wc|product|create|--name=Leather Wallet|--type=simple|--regular_price=39.99|--sku=WALLET-001|"
        "--manage_stock=true|--stock_quantity=100|--status=publish|--user=1|--porcelain|",
    ]
    # The namespace carries the store's labels.
    applied = next(json.loads(c["stdin"]) for c in cluster.kubectl.calls if "apply" in c["argv"])
    assert applied["metadata"]["labels"]["storeplane.io/store-id"] == store.id
    assert AuditEvent.objects.filter(store_id=store.id, new_status="ready").exists()


def test_secrets_are_generated_once_and_reused_on_the_next_run(cluster):
    store = StoreFactory()
    services.provision(store.id)
    first = Store.objects.get(pk=store.pk).secrets
    Store.objects.filter(pk=store.pk).update(status="provisioning")
    services.provision(store.id)
    assert Store.objects.get(pk=store.pk).secrets == first
    values = [i["values"] for i in cluster.installs()]
    assert values[0] == values[1]


def test_a_helm_failure_fails_the_store_with_a_readable_reason_and_no_secret(cluster, caplog):
    cluster.control.set(helm="install")
    store = StoreFactory(admin_credentials={"password": "tenant-chosen-pw"})
    assert services.provision(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == "failed"
    assert "context deadline exceeded" in store.failure_reason
    run = ProvisioningRun.objects.get(store=store, step="helm_install")
    assert run.status == RunStatus.FAILED and run.argv and "upgrade" in run.argv[0]
    recorded = everything_recorded(store)
    for secret in [*store.secrets.values(), "tenant-chosen-pw"]:
        assert secret not in recorded
        assert secret not in caplog.text
    assert not ProvisioningRun.objects.filter(store=store, step="ready").exists()


def test_an_unreachable_cluster_is_retried_then_fails(cluster):
    cluster.control.set(kubectl="unreachable")
    store = StoreFactory()
    with pytest.raises(OperationFailed) as raised:
        services.CREATE.run(store.id)
    assert raised.value.retryable and isinstance(raised.value.cause, ClusterUnreachable)
    assert Store.objects.get(pk=store.pk).status == "provisioning"  # nothing marked: the task decides
    assert services.provision(store.id, attempt=1) == "failed"  # the last try gives up
    store.refresh_from_db()
    assert store.status == "failed" and "connect" in store.failure_reason.lower()


def test_engine_setup_failure_fails_the_store(cluster):
    cluster.control.set(kubectl="setup")
    store = StoreFactory()
    assert services.provision(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == "failed"
    assert ProvisioningRun.objects.get(store=store, step="engine_setup").status == RunStatus.FAILED


def test_woocommerce_that_does_not_activate_fails_the_store_with_that_reason(cluster, settings):
    settings.WORDPRESS_PATH = "/var/www/html"
    cluster.control.set(kubectl="inactive")
    store = StoreFactory(theme=None)
    assert services.provision(store.id) == "failed"
    store.refresh_from_db()
    assert (store.status, store.failure_reason) == ("failed", "WooCommerce did not activate.")
    # The check comes right after activation, with WP-CLI's --path; nothing else ran.
    assert cluster.wp_calls() == [
        "plugin|activate|woocommerce|--path=/var/www/html|",
        "plugin|is-active|woocommerce|--path=/var/www/html|",
    ]
    assert ProvisioningRun.objects.get(store=store, step="engine_setup").status == RunStatus.FAILED


def test_a_failed_woocommerce_step_fails_the_store_with_the_step_and_wp_clis_error(cluster):
    cluster.control.set(kubectl="no-theme")
    store = StoreFactory(theme="astra")
    assert services.provision(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == "failed"
    assert store.failure_reason == (
        "WooCommerce setup failed while activating the astra theme: The 'astra' theme could not be found."
    )
    # The step stopped the script: no pages, options or products after it.
    assert cluster.wp_calls()[-1] == "theme|activate|astra|"


def test_woocommerce_products_already_there_are_not_created_again(cluster, settings):
    settings.WORDPRESS_PATH = "/var/www/html"
    cluster.control.set(kubectl="seeded")  # every SKU lookup finds a product
    store = StoreFactory(theme=None)
    assert services.provision(store.id) == "ready"
    calls = cluster.wp_calls()
    assert not any(c.startswith("theme|") for c in calls)  # no theme chosen: none activated
    assert [c for c in calls if c.startswith("wc|product|")] == [
        f"wc|product|list|--sku={sku}|--field=id|--user=1|--path=/var/www/html|"
        for sku in ("TSHIRT-001", "HEADPHONES-001", "WALLET-001")
    ]


def test_a_store_no_controller_takes_is_retried_then_fails_with_that_reason(cluster, settings):
    settings.STORE_SERVE_TIMEOUT_SECONDS = 1
    cluster.control.set(kubectl="no-controller")
    store = StoreFactory()
    with pytest.raises(OperationFailed) as raised:
        services.CREATE.run(store.id)
    assert raised.value.retryable and isinstance(raised.value.cause, StoreNotServed)
    assert Store.objects.get(pk=store.pk).status == "provisioning"  # nothing marked: the task decides
    assert services.provision(store.id, attempt=1) == "failed"
    store.refresh_from_db()
    assert store.status == "failed" and "ingress controller" in store.failure_reason
    assert store.storefront_url is None
    assert not ProvisioningRun.objects.filter(store=store, step__in=["engine_setup", "ready"]).exists()


def test_a_store_its_controller_does_not_serve_never_goes_ready(cluster, settings):
    settings.STORE_SERVE_TIMEOUT_SECONDS = 1
    cluster.ingress.status = 502
    store = StoreFactory()
    assert services.provision(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == "failed" and store.storefront_url is None
    assert f"was not served at {cluster.url(store.id)}/ within 1 seconds" in store.failure_reason
    assert "(last answer: HTTP 502)" in store.failure_reason
    served = ProvisioningRun.objects.get(store=store, step="served")
    assert served.status == RunStatus.FAILED
    assert not ProvisioningRun.objects.filter(store=store, step="ready").exists()
    assert set(cluster.ingress.hosts) == {f"{store.id}.localhost:{cluster.ingress.port}"}


def test_a_medusa_store_is_ready_only_once_its_store_api_answers_json(cluster, settings):
    settings.STORE_SERVE_TIMEOUT_SECONDS = 1
    cluster.ingress.json_api = False  # Medusa down: the controller sends /store/* to the storefront's HTML
    store = StoreFactory(engine="medusa", theme=None)
    assert services.provision(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == "failed" and store.storefront_url is None
    assert f"{cluster.url(store.id)}/store/regions" in store.failure_reason and "not JSON" in store.failure_reason

    cluster.ingress.json_api = True
    store_services.store_retry(store_id=store.id, actor=store.owner)
    assert services.provision(store.id) == "ready"
    assert {"/", "/store/regions"} <= set(cluster.ingress.paths)


def test_a_full_queue_fails_the_store_with_that_reason(cluster, settings):
    settings.PROVISIONING_MAX_CONCURRENT = 1
    settings.PROVISIONING_MAX_QUEUE = 0
    store = StoreFactory()
    with concurrency.provisioning_semaphore().slot("someone-else"):
        assert services.provision(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == "failed" and "queue is full" in store.failure_reason
    assert cluster.helm.calls == []


def test_a_busy_store_is_not_touched(cluster):
    store = StoreFactory()
    with concurrency.store_lock(store.id), pytest.raises(Exception, match="already running"):
        services.provision(store.id)
    assert Store.objects.get(pk=store.pk).status == "requested"


def test_a_store_that_moved_on_is_skipped(cluster):
    store = StoreFactory(status="ready")
    assert services.provision(store.id) == "skipped"
    assert cluster.helm.calls == [] and not ProvisioningRun.objects.exists()


def test_deletion_removes_release_and_namespace_then_deleted(cluster):
    store = StoreFactory(status="deleting")
    assert services.delete(store.id) == "deleted"
    store.refresh_from_db()
    assert store.status == "deleted" and store.deleted_at is not None
    steps = list(ProvisioningRun.objects.filter(store=store).order_by("id").values_list("step", "status"))
    assert steps == [(s, "succeeded") for s in ("helm_uninstall", "namespace_delete", "cleanup_verify", "deleted")]


def test_a_namespace_that_stays_leaves_the_store_failed_not_deleted(cluster, settings):
    settings.DELETE_VERIFY_TIMEOUT_SECONDS = 1
    cluster.control.set(kubectl="terminating")
    store = StoreFactory(status="deleting")
    assert services.delete(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == "failed" and store.deleted_at is None
    assert store.failure_reason == f"Deletion failed: Namespace {store.id} was still terminating after 1 seconds."


def test_secrets_no_key_decrypts_fail_the_store_and_nothing_is_generated(cluster, tenant):
    store = StoreFactory(owner=tenant, secrets={"dbPassword": "kept"})
    make_unreadable(store, "secrets")
    assert services.provision(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == "failed" and "restore the old key in CREDENTIALS_ENCRYPTION_KEY" in store.failure_reason
    assert stored(store)[2] == TOKEN  # the old secrets are kept for when the key comes back
    assert cluster.helm.calls == [] and cluster.kubectl.calls == []


def test_a_store_whose_secrets_no_key_decrypts_can_still_be_deleted(cluster, tenant):
    store = ready_store(tenant)
    store_services.store_request_deletion(store_id=store.id, actor=tenant)
    make_unreadable(store, "admin_credentials", "secrets")
    assert services.delete(store.id) == "deleted"
    assert Store.objects.get(pk=store.pk).status == "deleted"
    assert any("uninstall" in c["argv"] for c in cluster.helm.calls)
