"""Medusa engine setup on a real store (real chart, images, helm and kubectl on the local cluster, requests through
the ingress controller with the store's Host header): setup_medusa seeds the shop (region, shipping options, the 8
products, the storefront's publishable key), a second run (a retry) doubles nothing, the store API shows the shop to
the storefront's key, GET /admin leads a browser to the dashboard at /app, and the dashboard's cookie login works
over plain http."""

import http.client
import json
import time

import pytest
from django.conf import settings

from provisioning import services
from provisioning.models import Operation, ProvisioningRun
from provisioning.setup import MEDUSA_SEED_CLIENT, setup_medusa
from provisioning.steps import Attempt, step
from provisioning.tests.test_chain_k8s import explain, new_store, real_cluster  # noqa: F401 (a fixture)
from provisioning.tests.test_woocommerce_k8s import install_release
from provisioning.values import admin_email, ensure_secrets, secret_values
from tests.shops import MEDUSA_PRODUCTS

pytestmark = pytest.mark.k8s

PRODUCTS = MEDUSA_PRODUCTS


def through_ingress(store, method: str, path: str, body=None, headers=None) -> tuple[int, dict, str]:
    """One request to the ingress controller on 127.0.0.1 with the store's Host header (never a pod IP)."""
    host = f"{store.id}.localhost:{settings.STORE_INGRESS_PORT}"
    deadline = time.monotonic() + 60
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", settings.STORE_INGRESS_PORT, timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            all_headers = {"Host": host, **({"content-type": "application/json"} if data else {}), **(headers or {})}
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            text = response.read().decode(errors="replace")
            # Traefik answers 404/502/503 while it has not yet picked up the Ingress or its endpoints.
            if response.status in (404, 502, 503) and path.startswith(("/store", "/health")):
                raise OSError(f"{response.status} from the ingress")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, text
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
        finally:
            conn.close()


def store_json(store, path: str, key: str) -> dict:
    status, _, text = through_ingress(store, "GET", path, headers={"x-publishable-api-key": key})
    assert status == 200, f"{path}: {status} {text[:500]}"
    return json.loads(text)


def assert_the_shop(store, key: str) -> None:
    """What the storefront sees with its key: one region, its two shipping options, the 8 products in stock."""
    regions = store_json(store, "/store/regions", key)["regions"]
    assert [(r["name"], r["currency_code"]) for r in regions] == [("North America", "usd")]
    [region] = regions
    assert sorted(c["iso_2"] for c in region["countries"]) == ["ca", "gb", "us"]
    products = store_json(store, "/store/products?limit=100", key)
    assert products["count"] == 8 and {p["title"] for p in products["products"]} == PRODUCTS
    for product in products["products"]:
        assert product["variants"] and all(v["inventory_quantity"] > 0 for v in product["variants"])
    options = store_json(store, f"/store/shipping-options?region_id={region['id']}", key)["shipping_options"]
    assert sorted((o["name"], o["amount"]) for o in options) == [("Express Shipping", 1500), ("Standard Shipping", 500)]


@pytest.mark.django_db
def test_medusa_setup_on_a_real_store_seeds_the_shop_once_and_a_rerun_doubles_nothing(real_cluster, tenant):  # noqa: F811
    store = new_store(real_cluster, tenant, name="medusa-shop", engine="medusa")
    secrets = ensure_secrets(store)
    install_release(store, secrets)
    run = Attempt(store, Operation.CREATE, 0, None, secret_values(store, secrets))
    reports, durations = [], []
    for _ in range(2):  # the second run is what a retry of the step (or a re-run of setup) does
        started = time.monotonic()
        with step(run, "engine_setup"):
            reports.append(setup_medusa(store, email=admin_email(store), password=secrets["adminPassword"]))
        durations.append(time.monotonic() - started)
    print(f"setup_medusa: first run {durations[0]:.1f}s, second run {durations[1]:.1f}s")
    first, second = reports
    print("seed report:", json.dumps(first))
    assert first["region"]["created"] and first["publishableKey"]["created"]
    assert len(first["products"]["created"]) == 8 and len(first["shippingOptions"]["created"]) == 2
    assert first["store"]["name"] == "medusa-shop"
    assert not second["region"]["created"] and not second["publishableKey"]["created"]
    assert second["products"] == {"created": [], "existing": 8, "addedToChannel": []}
    assert second["shippingOptions"] == {"created": [], "existing": 2}

    # The runs' rows hold no secret: the password and the key travelled on stdin only.
    rows = ProvisioningRun.objects.filter(store=store, step="engine_setup").order_by("id")

    # A row lists every command its step started, as the runner started it. The first run: the pod lookup, the seed
    # (its login refused), `medusa user`, the seed again; the re-run: the pod lookup and the seed alone.
    def program(argv: list[str]) -> str:
        if "exec" not in argv:
            return "pods" if "get" in argv and "pods" in argv else " ".join(argv)
        return "seed" if MEDUSA_SEED_CLIENT in argv else "user" if any("medusa user" in a for a in argv) else "?"

    programs = [[program(argv) for argv in row.argv] for row in rows]
    assert programs == [["pods", "seed", "user", "seed"], ["pods", "seed"]], programs
    argv = json.dumps([row.argv for row in rows])
    assert secrets["adminPassword"] not in argv and secrets["publishableKey"] not in argv
    assert all(a[a.index("-c") + 1] == "medusa" for row in rows for a in row.argv if "exec" in a)

    key = secrets["publishableKey"]
    assert_the_shop(store, key)

    # A browser opening the admin URL lands on the dashboard; /admin/... is still the admin API.
    status, headers, _ = through_ingress(store, "GET", "/admin")
    assert status == 302 and headers["location"] == "/app"
    status, _, html = through_ingress(store, "GET", "/app/login")
    assert status == 200 and '<div id="root">' in html and 'src="/app/' in html
    assert through_ingress(store, "GET", "/admin/products")[0] == 401

    # The dashboard's login is a cookie session: over plain http the cookie must not be Secure, or the browser
    # drops it; then the cookie alone authenticates the admin API (what the dashboard does next).
    origin = f"http://{store.id}.localhost:{settings.STORE_INGRESS_PORT}"
    login = {"email": admin_email(store), "password": secrets["adminPassword"]}
    preflight = through_ingress(
        store, "OPTIONS", "/admin/auth", headers={"origin": origin, "access-control-request-method": "POST"}
    )
    assert preflight[1].get("access-control-allow-origin") == origin
    assert preflight[1].get("access-control-allow-credentials") == "true"
    status, headers, _ = through_ingress(store, "POST", "/admin/auth", login, {"origin": origin})
    assert status == 200
    cookie = headers.get("set-cookie", "")
    assert cookie.startswith("connect.sid=") and "secure" not in cookie.lower()
    status, _, me = through_ingress(store, "GET", "/admin/auth", headers={"cookie": cookie.split(";")[0]})
    assert status == 200 and json.loads(me)["user"]["email"] == admin_email(store)


def place_order(store, key: str) -> dict:
    """A guest checkout through the store API as a storefront does it: cart in the region, two items, address,
    the Standard shipping option, the manual payment, complete. Returns the order."""
    headers = {"x-publishable-api-key": key}

    def call(method: str, path: str, body=None) -> dict:
        status, _, text = through_ingress(store, method, path, body, headers)
        assert status == 200, f"{method} {path}: {status} {text[:500]}"
        return json.loads(text)

    [region] = call("GET", "/store/regions")["regions"]
    products = call("GET", "/store/products?limit=100")["products"]
    cart = call("POST", "/store/carts", {"region_id": region["id"]})["cart"]
    for product in products[:2]:
        variant = product["variants"][0]["id"]
        call("POST", f"/store/carts/{cart['id']}/line-items", {"variant_id": variant, "quantity": 1})
    address = {"first_name": "Ada", "last_name": "Buyer", "address_1": "1 Main St", "city": "Springfield"}
    address |= {"country_code": "us", "postal_code": "12345"}
    call("POST", f"/store/carts/{cart['id']}", {"email": "buyer@example.com", "shipping_address": address})
    options = call("GET", f"/store/shipping-options/{cart['id']}")["shipping_options"]
    standard = next(o for o in options if o["name"] == "Standard Shipping")
    call("POST", f"/store/carts/{cart['id']}/shipping-methods", {"option_id": standard["id"]})
    call("POST", f"/store/carts/{cart['id']}/payment-sessions")
    call("POST", f"/store/carts/{cart['id']}/payment-session", {"provider_id": "manual"})
    done = call("POST", f"/store/carts/{cart['id']}/complete")
    assert done["type"] == "order", done
    return done["data"]


@pytest.mark.browser
@pytest.mark.django_db
def test_a_ready_medusa_store_is_a_shop_and_its_owner_logs_in_to_the_dashboard(real_cluster, tenant):  # noqa: F811
    """The whole chain (create to ready), timed; the ready store is the seeded shop; in Chromium, the store's admin
    URL leads to the dashboard's login, the owner's credentials log in over plain http, the dashboard lists the
    seeded products, and every request the pages make goes to the store's own origin."""
    store = new_store(real_cluster, tenant, name="medusa-ready", engine="medusa")
    started = time.monotonic()
    assert services.provision(store.id) == "ready", explain(store)
    print(f"medusa store: create to ready {time.monotonic() - started:.1f}s")
    store.refresh_from_db()
    steps = ProvisioningRun.objects.filter(store=store).order_by("id").values_list("step", "duration_ms")
    print("steps:", list(steps))
    assert_the_shop(store, store.secrets["publishableKey"])
    assert store.admin_url == store.storefront_url + "/admin"
    # The seeded shop takes an order (the manual payment, a manual shipping option), which the owner then sees.
    order = place_order(store, store.secrets["publishableKey"])
    assert len(order["items"]) == 2 and order["shipping_methods"][0]["price"] == 500

    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    origin = store.storefront_url
    requested: list[str] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(store.admin_url)
            page.wait_for_url(f"{origin}/app/login", timeout=60_000)
            page.fill('input[name="email"]', store.admin_credentials["email"])
            page.fill('input[name="password"]', store.admin_credentials["password"])
            page.screenshot(path=str(SCREENSHOTS / "medusa-admin-login.png"))
            page.click('button[type="submit"]')
            page.wait_for_url(f"{origin}/app/a/orders", timeout=60_000)
            # The orders list shows the order, with the shipping country as the local stand-in for the flag.
            page.get_by_text(f"#{order['display_id']}").first.wait_for(timeout=60_000)
            assert page.get_by_role("img", name="US").count() == 1
            page.screenshot(path=str(SCREENSHOTS / "medusa-admin-orders.png"))
            page.goto(f"{origin}/app/a/products")
            page.get_by_text("Classic Cotton T-Shirt").first.wait_for(timeout=60_000)
            for title in PRODUCTS:
                assert page.get_by_text(title).count() >= 1, title
            page.screenshot(path=str(SCREENSHOTS / "medusa-admin-products.png"))
            cookies = page.context.cookies()
        finally:
            browser.close()
    assert [c["name"] for c in cookies if c["name"] == "connect.sid"] == ["connect.sid"]
    outside = [url for url in requested if not url.startswith(origin + "/") and not url.startswith("data:")]
    assert outside == []
