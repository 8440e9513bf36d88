"""WooCommerce engine setup on a real store (real chart, images, helm and kubectl on the local cluster): after
setup_woocommerce the store's database holds the shop's pages, options, Cash on Delivery and the three products,
its WordPress serves the shop, and a second run of setup (a retry) adds nothing."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from provisioning import helm, kubectl
from provisioning.models import Operation, ProvisioningRun
from provisioning.services import namespace_labels
from provisioning.setup import WOOCOMMERCE_CONFIGURE, WOOCOMMERCE_SEED_PRODUCTS, component_pod, setup_woocommerce
from provisioning.steps import Attempt, step
from provisioning.tests.test_chain_k8s import new_store, real_cluster  # noqa: F401 (a fixture)
from provisioning.values import admin_email, ensure_secrets, helm_values, secret_values

pytestmark = pytest.mark.k8s


def install_release(store, secrets) -> None:
    """The chain's steps before engine setup: namespace, helm install with the local values, rollouts."""
    kubectl.create_namespace(store.namespace, namespace_labels(store))
    with helm.values_file(helm_values(store, secrets)) as secrets_file:
        files = [Path(settings.HELM_CHART_PATH) / settings.HELM_VALUES_FILE, secrets_file]
        helm.upgrade_install(
            store.helm_release, settings.HELM_CHART_PATH, store.namespace, files, secrets=secret_values(store, secrets)
        )
    for workload in kubectl.list_workloads(store.namespace):
        kubectl.rollout_status(store.namespace, workload, timeout=settings.READINESS_TIMEOUT_SECONDS)


def served(cluster, namespace: str, service: str, host: str, path: str) -> tuple[int, str]:
    """GET path from the store's WordPress service through `kubectl port-forward` on 127.0.0.1, with the store's
    Host header (WordPress answers its own host; a pod IP is never used)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    forward = subprocess.Popen(
        [str(cluster.kubectl), "-n", namespace, "port-forward", "--address", "127.0.0.1", service, f"{port}:80"],
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Forwarding from 127.0.0.1" in forward.stdout.readline()
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
        for _ in range(30):
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 (loopback)
                    return resp.status, resp.read().decode(errors="replace")
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode(errors="replace")
            except OSError:
                time.sleep(1)
        raise AssertionError(f"{path} never answered through the port-forward")
    finally:
        forward.terminate()
        forward.wait(timeout=10)


@pytest.mark.django_db
def test_woocommerce_setup_on_a_real_store_makes_a_shop_and_a_rerun_doubles_nothing(real_cluster, tenant):  # noqa: F811
    store = new_store(real_cluster, tenant, name="woo-shop", engine="woocommerce", theme="astra")
    secrets = ensure_secrets(store)
    install_release(store, secrets)
    host = f"{store.id}.localhost:{settings.STORE_INGRESS_PORT}"
    run = Attempt(store, Operation.CREATE, 0, None, secret_values(store, secrets))
    durations = []
    for _ in range(2):  # the second run is what a retry of the step does
        started = time.monotonic()
        with step(run, "engine_setup"):
            setup_woocommerce(store, url=f"http://{host}", email=admin_email(store), password=secrets["adminPassword"])
        durations.append(time.monotonic() - started)
    print(f"setup_woocommerce: first run {durations[0]:.1f}s, second run {durations[1]:.1f}s")

    first, second = ProvisioningRun.objects.filter(store=store, step="engine_setup").order_by("id")
    # Few round trips, each recorded as the runner started it (the one that said no too): `is-installed` (no), the
    # install, the shop's configuration and the products; the re-run finds WordPress installed and runs the two
    # idempotent scripts again. Each run first looks up the pod.
    shop = [["sh", "-c", WOOCOMMERCE_CONFIGURE], ["sh", "-c", WOOCOMMERCE_SEED_PRODUCTS]]
    is_installed, install = ["wp", "core", "is-installed"], ["wp", "core", "install"]
    for row, expected in ((first, [is_installed, install, *shop]), (second, [is_installed, *shop])):
        assert "get" in row.argv[0] and "pods" in row.argv[0]
        assert [argv[argv.index("--") + 1 :][:3] for argv in row.argv[1:]] == expected
    assert secrets["adminPassword"] not in json.dumps([first.argv, second.argv])

    pod = component_pod(store, "wordpress")

    def wp(*args: str) -> str:
        done = real_cluster.kubectl_run("-n", store.namespace, "exec", pod, "-c", "wordpress", "--", "wp", *args)
        return done.stdout

    products = json.loads(wp("post", "list", "--post_type=product", "--format=json", "--fields=ID,post_title"))
    assert [p["post_title"] for p in products] == ["Classic T-Shirt", "Wireless Headphones", "Leather Wallet"]
    listed = json.loads(wp("wc", "product", "list", "--format=json", "--user=1"))
    assert [(p["sku"], p["regular_price"], p["sale_price"], p["price"], p["stock_quantity"]) for p in listed] == [
        ("TSHIRT-001", "24.99", "", "24.99", 50),
        ("HEADPHONES-001", "79.99", "59.99", "59.99", 30),
        ("WALLET-001", "39.99", "", "39.99", 100),
    ]
    for product in products:
        terms = json.loads(wp("post", "term", "list", str(product["ID"]), "product_type", "--format=json"))
        assert [t["slug"] for t in terms] == ["simple"]

    pages = json.loads(wp("post", "list", "--post_type=page", "--format=json", "--fields=ID,post_name,post_status"))
    by_slug = {}
    for page in pages:
        by_slug.setdefault(page["post_name"], []).append(page)
    for key, slug in (("shop", "shop"), ("cart", "cart"), ("checkout", "checkout"), ("myaccount", "my-account")):
        [page] = by_slug[slug]  # exactly one page each, after two runs
        assert page["post_status"] == "publish"
        assert wp("option", "get", f"woocommerce_{key}_page_id").strip() == str(page["ID"])

    assert wp("option", "get", "woocommerce_currency").strip() == "USD"
    assert wp("option", "get", "woocommerce_default_country").strip() == "US:CA"
    assert wp("option", "get", "woocommerce_store_address").strip() == "123 Main St"
    assert wp("option", "get", "woocommerce_enable_guest_checkout").strip() == "yes"
    assert wp("option", "get", "permalink_structure").strip() == "/%postname%/"
    assert wp("option", "get", "stylesheet").strip() == "astra"
    cod = json.loads(wp("option", "get", "woocommerce_cod_settings", "--format=json"))
    assert (cod["enabled"], cod["title"]) == ("yes", "Cash on Delivery")

    service = f"svc/{store.id}-wordpress"
    status, shop = served(real_cluster, store.namespace, service, host, "/shop/")
    assert status == 200
    for text in ("Classic T-Shirt", "$24.99", "Wireless Headphones", "$59.99", "Leather Wallet", "$39.99"):
        assert text in shop, text
    status, login = served(real_cluster, store.namespace, service, host, "/wp-login.php")
    assert status == 200 and 'name="log"' in login
