"""What a tenant and an operator do in a real browser: sign up, create a WooCommerce store, watch its page follow
the real provisioning worker on the local cluster, see URLs and credentials, open the shop through the local ingress
controller (its home, the shop page with the 3 sample products, the wp-admin login), delete it; a second tenant gets the
403 page; with no cluster, the real worker fails the store and the page says why; a tenant reads why a store
failed and retries; an operator retries a failed store from the console.
Every page is checked (HTML5, console, CSP) and screenshotted by `Tab.see`."""

import json
import re

import pytest
from playwright.sync_api import expect

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from provisioning.tests.celery_worker import ROOT, spawn_worker, stop_worker
from stores.models import Store, StoreStatus
from stores.tests.factories import StoreFactory
from tests.browser.shop import open_from_store_page, through_ingress

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = StoreStatus
STORE_PASSWORD = "my-store-admin-pass"
# A WooCommerce store installs in about two minutes on the local cluster (docs/local-cluster.md); a deletion in one.
PROVISION_TIMEOUT_MS = 8 * 60_000
DELETE_TIMEOUT_MS = 4 * 60_000


def sign_in(tab, email: str, password: str = DEFAULT_PASSWORD) -> None:
    """With the keyboard only: the email field has focus on load, Tab moves to the password, Enter submits."""
    tab.go("/login")
    tab.see("login")
    expect(tab.page.get_by_label("Email")).to_be_focused()
    tab.page.keyboard.type(email)
    tab.page.keyboard.press("Tab")
    expect(tab.page.get_by_label("Password")).to_be_focused()
    tab.page.keyboard.type(password)
    tab.page.keyboard.press("Enter")
    expect(tab.page).to_have_url(tab.base_url + "/dashboard")
    tab.see("signed-in")


def namespace_of(cluster, store_id: str) -> dict | None:
    out = cluster.kubectl_run("get", "namespace", store_id, "--ignore-not-found", "-o", "json", check=False).stdout
    return json.loads(out) if out.strip() else None


@pytest.mark.k8s
def test_tenant_signs_up_creates_watches_and_deletes_a_store(tab, worker_on_cluster):
    """The whole walk on the real platform: the page follows the Celery worker as it installs the store's Helm
    release on the local cluster, then follows the deletion until the namespace is gone."""
    cluster = worker_on_cluster
    page = tab.page
    tab.go("/")
    expect(page).to_have_url(tab.base_url + "/login")
    tab.see("login")

    page.get_by_role("link", name="Sign up").first.click()
    tab.see("signup")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("a-long-password")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("No stores yet.")).to_be_visible()
    tab.see("dashboard-empty")

    page.get_by_role("link", name="Create your first store").click()
    tab.see("create")
    # A name the API refuses: the same message, next to the field, and the form keeps what was typed.
    page.get_by_label("Store name").fill("Corner Shop")
    page.get_by_role("button", name="Create store").click()
    expect(page.get_by_text("Store name must be lowercase, alphanumeric with hyphens")).to_be_visible()
    tab.see("create-invalid")
    assert not Store.objects.exists()

    page.get_by_label("Engine").select_option("medusa")
    expect(page.get_by_label("Theme (WooCommerce)")).to_be_hidden()
    page.get_by_label("Engine").select_option("woocommerce")
    page.get_by_label("Theme (WooCommerce)").select_option("astra")
    page.get_by_label("Store name").fill("corner-shop")
    page.get_by_label("Store admin password (optional)").fill(STORE_PASSWORD)
    page.get_by_role("button", name="Create store").click()

    status = page.locator("#store-status")
    expect(status).to_have_text(re.compile(r"^\s*(requested|provisioning)\s*$"))
    store = Store.objects.get(name="corner-shop")
    assert (store.engine, store.theme, store.owner.email) == ("woocommerce", "astra", "ada@example.com")
    tab.see("store-requested")

    page.evaluate("window.__sameDocument = true")  # gone if the page reloads instead of updating itself
    expect(status).to_have_text("provisioning", timeout=60_000)
    expect(page.locator("#store-timeline")).to_contain_text("Create: helm install", timeout=60_000)
    tab.see("store-provisioning")
    expect(status).to_have_text(re.compile(r"^\s*(ready|failed)\s*$"), timeout=PROVISION_TIMEOUT_MS)
    store.refresh_from_db()
    assert store.status == S.READY, f"{store.status}: {store.failure_reason}"
    assert page.evaluate("window.__sameDocument === true")
    expect(page.locator("#store-live")).to_have_attribute("data-poll", "off")

    # What the worker made, on the cluster: the store's namespace, labelled for its owner and engine.
    labels = namespace_of(cluster, store.id)["metadata"]["labels"]
    assert labels["storeplane.io/store-id"] == store.id and labels["storeplane.io/engine"] == "woocommerce"
    assert store.storefront_url == f"http://{store.id}.localhost:8080"
    expect(page.get_by_role("link", name=store.storefront_url, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=store.storefront_url + "/wp-admin")).to_be_visible()
    for step in ("namespace", "helm install", "readiness", "engine setup", "served", "ready"):
        expect(page.locator("#store-timeline")).to_contain_text(f"Create: {step}")
    expect(page.get_by_text(STORE_PASSWORD)).to_have_count(0)
    tab.see("store-ready")

    # The tenant follows the link: the shop, through the local ingress controller, in a new tab.
    shop = open_from_store_page(page, store.storefront_url, "woo-shop")
    expect(shop.page.locator("body")).to_contain_text("corner-shop")
    shop.see("home")
    shop.page.goto(store.storefront_url + "/shop/")
    for product, price in (("Classic T-Shirt", "24.99"), ("Wireless Headphones", "59.99"), ("Leather Wallet", "39.99")):
        expect(shop.page.locator("main, body").first).to_contain_text(product)
        expect(shop.page.locator("main, body").first).to_contain_text(price)
    shop.see("shop")
    shop.page.goto(store.storefront_url + "/wp-admin/")
    expect(shop.page).to_have_url(re.compile(r"/wp-login\.php"))
    expect(shop.page.get_by_label("Username or Email Address")).to_be_visible()
    shop.see("wp-admin-login")
    shop.page.close()

    page.get_by_role("button", name="Show admin credentials").click()
    expect(page.locator("#store-credentials")).to_contain_text(STORE_PASSWORD)
    tab.see("store-credentials")

    page.get_by_role("link", name="Delete store").click()
    expect(page.get_by_role("heading", name="Delete corner-shop?")).to_be_visible()
    tab.see("delete-confirm")
    page.get_by_role("button", name="Yes, delete this store").click()
    expect(status).to_have_text(re.compile(r"^\s*(deleting|deleted)\s*$"))
    expect(status).to_have_text(re.compile(r"^\s*(deleted|failed)\s*$"), timeout=DELETE_TIMEOUT_MS)
    store.refresh_from_db()
    assert store.status == S.DELETED, f"{store.status}: {store.failure_reason}"
    assert namespace_of(cluster, store.id) is None
    # Its URL is served by nothing any more: the controller answers 404 for the host.
    assert through_ingress(store.storefront_url, "/")[0] == 404
    tab.see("store-deleted")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text("No stores yet.")).to_be_visible()
    tab.see("dashboard-after-delete")


# An API server address on loopback where nothing listens: kubectl is refused at once, no packet leaves the machine.
KUBECONFIG_NOWHERE = """apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: nobody, user: {token: not-a-real-token}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]
current-context: nowhere
"""


@pytest.fixture
def worker_without_cluster(tmp_path):
    """The real worker, real helm and kubectl, and a kubeconfig whose API server is not there (no retries, so the
    store fails on the first refusal instead of after the backoff schedule)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG_NOWHERE)
    worker = spawn_worker(
        {
            "KUBECONFIG": str(kubeconfig),
            "HELM_BIN": str(ROOT / ".venv/bin/helm"),
            "KUBECTL_BIN": str(ROOT / ".venv/bin/kubectl"),
            "PROVISIONING_TASK_MAX_RETRIES": "0",
        },
        concurrency=1,
    )
    yield
    stop_worker(worker)


def test_with_no_cluster_the_tenant_watches_the_store_fail_with_the_reason(tab, worker_without_cluster):
    tenant = UserFactory()
    sign_in(tab, tenant.email)
    tab.go("/stores/new")
    tab.see("create-no-cluster")
    tab.page.get_by_label("Store name").fill("no-cluster-shop")
    tab.page.get_by_role("button", name="Create store").click()
    status = tab.page.locator("#store-status")
    expect(status).to_have_text(re.compile(r"^\s*(requested|provisioning|failed)\s*$"))
    expect(status).to_have_text("failed", timeout=90_000)
    store = Store.objects.get(name="no-cluster-shop")
    assert store.status == S.FAILED and "127.0.0.1:1" in store.failure_reason, store.failure_reason
    expect(tab.page.locator("#failure-reason")).to_contain_text(
        "The Kubernetes cluster could not be reached; safe to retry once it is back."
    )
    expect(tab.page.locator("#store-timeline")).to_contain_text("Create: namespace")
    expect(tab.page.get_by_role("link", name="Retry provisioning")).to_be_visible()
    tab.see("store-failed-no-cluster")


def test_a_second_tenant_gets_the_403_page(tab):
    owner = UserFactory()
    store = StoreFactory(owner=owner, name="private-shop", status=S.READY)
    intruder = UserFactory()
    sign_in(tab, intruder.email)
    expect(tab.page.get_by_text("No stores yet.")).to_be_visible()

    tab.expect_status(403)
    response = tab.go(f"/stores/{store.id}")
    assert response.status == 403
    expect(tab.page.get_by_role("heading", name="Access denied")).to_be_visible()
    expect(tab.page.get_by_text("private-shop")).to_have_count(0)
    tab.see("forbidden")

    tab.expect_status(404)
    assert tab.go("/stores/store-00000000").status == 404
    expect(tab.page.get_by_role("heading", name="Page not found")).to_be_visible()
    tab.see("not-found")


def test_a_tenant_watches_a_store_fail_reads_why_and_retries(tab, advance_store):
    tenant = UserFactory()
    store = StoreFactory(owner=tenant, name="unlucky-shop")
    sign_in(tab, tenant.email)
    expect(tab.page.get_by_role("link", name="unlucky-shop")).to_be_visible()
    tab.page.get_by_role("link", name="unlucky-shop").click()
    status = tab.page.locator("#store-status")
    expect(status).to_have_text("requested")
    tab.see("store-requested")
    advance_store(store.id, "provisioning")
    advance_store(store.id, "failed", reason="helm install timed out after 600s")
    expect(status).to_have_text("failed")
    expect(tab.page.locator("#failure-reason")).to_contain_text("helm install timed out after 600s")
    tab.see("store-failed")
    tab.page.get_by_role("link", name="Retry provisioning").click()
    tab.see("retry-confirm")
    tab.page.get_by_role("button", name="Yes, retry provisioning").click()
    expect(status).to_have_text("requested")
    tab.see("store-retried")


def test_pages_fit_a_phone_screen(tab_factory):
    tab = tab_factory()
    tab.page.set_viewport_size({"width": 360, "height": 740})
    tenant = UserFactory()
    store = StoreFactory(owner=tenant, name="a-store-with-a-rather-long-name-for-small-screens")
    sign_in(tab, tenant.email)
    for path, name in (
        (f"/stores/{store.id}", "phone-store"),
        ("/stores/new", "phone-create"),
        ("/dashboard", "phone-dashboard"),
    ):
        tab.go(path)
        expect(tab.page).to_have_url(tab.base_url + path)
        tab.see(name)
        overflow = tab.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"


def test_an_operator_retries_a_failed_store_from_the_console(tab, advance_store, admin_user):
    store = StoreFactory(name="flaky-shop")
    advance_store(store.id, "provisioning")
    advance_store(store.id, "failed", reason="helm install timed out")
    page = tab.page
    tab.go("/admin/")
    tab.see("console-login")
    page.get_by_label("Email").fill(admin_user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    tab.see("console-home")

    page.get_by_role("link", name="Open the operations dashboard").click()
    expect(page.locator("#status-counts")).to_contain_text("failed")
    tab.see("console-dashboard")

    tab.go("/admin/stores/store/?status__exact=failed")
    row = page.get_by_role("row").filter(has_text="flaky-shop")
    expect(row).to_contain_text("helm install timed out")
    tab.see("console-stores")
    row.get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option("retry_stores")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("heading", name="Retry these stores?")).to_be_visible()
    tab.see("console-retry-confirm")
    page.get_by_role("button", name="Yes, I'm sure").click()
    expect(page.get_by_text("Retry started: 1 store(s).")).to_be_visible()
    tab.see("console-retried")
    store.refresh_from_db()
    assert (store.status, store.retry_count) == (S.REQUESTED, 1)
