"""Medusa + PostgreSQL in one network-less pod: the entrypoint builds DATABASE_URL from parts (URL-encoded), waits
for PostgreSQL, migrates and starts; /health answers 200 and an admin made with `medusa user` gets a token; the
manual payment and fulfillment plugins are loaded; the admin dashboard (built into the image) is served at /app and
references nothing outside the store; GET /admin redirects to it while /admin/... stays the admin API; the seed
creates the shop once however often it runs, also twice at the same time; and the session cookie is one a browser
keeps on plain http only with NODE_ENV=development (why the local chart uses it)."""

from __future__ import annotations

import json
import re
import threading

import pytest

from tests.shops import MEDUSA_PRODUCTS

pytestmark = pytest.mark.images

# '@', ':' and '/' in the password prove the entrypoint URL-encodes the parts.
PG = {"POSTGRES_USER": "medusa", "POSTGRES_PASSWORD": "pg@pw:with/odd%chars", "POSTGRES_DB": "medusa"}
MEDUSA = {
    "DATABASE_HOST": "127.0.0.1",
    "DATABASE_PORT": "5432",
    "DATABASE_USER": "medusa",
    "DATABASE_PASSWORD": PG["POSTGRES_PASSWORD"],
    "DATABASE_NAME": "medusa",
    "JWT_SECRET": "jwt-secret-local",
    "COOKIE_SECRET": "cookie-secret-local",
    "NODE_ENV": "production",
    "STORE_CORS": "http://shop.localhost:8080",
    "ADMIN_CORS": "http://shop.localhost:8080",
}
ADMIN = {"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "Adm1n-Pw-long"}
KEY = "pk_" + "0123456789abcdef" * 4
SEED_CLIENT = "/usr/local/lib/storeplane/medusa-seed-client.js"
PRODUCTS = MEDUSA_PRODUCTS

# Node run inside the Medusa container: one HTTP request on the pod's loopback (no redirects followed); prints the
# status, the response headers as JSON, then the body. argv: method, path, body ("" for none), headers (JSON).
FETCH = """
const [method, path, body, headers] = process.argv.slice(1);
fetch('http://127.0.0.1:9000' + path, {method, redirect: 'manual',
  headers: {'content-type': 'application/json', ...JSON.parse(headers || '{}')}, body: body || undefined})
  .then(async r => console.log(
    r.status + '\\n' + JSON.stringify(Object.fromEntries(r.headers)) + '\\n' + await r.text()))
  .catch(e => console.log('0\\n{}\\n' + e.message));
"""


class Medusa:
    """HTTP and the seed inside a running Medusa container of a pod."""

    def __init__(self, pod, container: str) -> None:
        self.pod, self.container = pod, container

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict, str]:
        args = [
            "node",
            "-e",
            FETCH,
            method,
            path,
            json.dumps(body) if body is not None else "",
            json.dumps(headers or {}),
        ]
        out = self.pod.exec(self.container, *args, timeout=60).stdout
        status, _, rest = out.partition("\n")
        head, _, text = rest.partition("\n")
        return int(status or 0), json.loads(head or "{}"), text

    def get_json(self, path: str, headers=None) -> dict:
        status, _, text = self.request("GET", path, headers=headers)
        assert status == 200, f"GET {path}: {status} {text[:500]}"
        return json.loads(text)

    def admin_headers(self) -> dict:
        login = {"email": ADMIN["ADMIN_EMAIL"], "password": ADMIN["ADMIN_PASSWORD"]}
        status, _, text = self.request("POST", "/admin/auth/token", login)
        assert status == 200, text
        return {"authorization": "Bearer " + json.loads(text)["access_token"]}

    def seed(self, store_name: str = "demo-shop", key: str = KEY):
        env = {**ADMIN, "PUBLISHABLE_KEY": key}
        return self.pod.exec(self.container, "node", SEED_CLIENT, store_name, env=env, timeout=300)


@pytest.fixture
def medusa(load_image, pod, volume) -> Medusa:
    """PostgreSQL and a started Medusa (NODE_ENV=production, as the production chart runs it) with an admin user."""
    pod.run(load_image("postgres"), "pg", PG, {volume("pg", 999): "/var/lib/postgresql/data"})
    container = pod.run(load_image("medusa"), "medusa", MEDUSA)
    server = Medusa(pod, container)
    pod.wait_for(container, lambda: server.request("GET", "/health")[0] == 200, "Medusa /health 200", timeout=400)
    created = pod.exec(
        container, "medusa", "user", "-e", ADMIN["ADMIN_EMAIL"], "-p", ADMIN["ADMIN_PASSWORD"], timeout=240
    )
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    return server


def test_medusa_migrates_starts_and_admin_gets_a_token(load_image, pod, volume):
    pod.run(load_image("postgres"), "pg", PG, {volume("pg", 999): "/var/lib/postgresql/data"})
    container = pod.run(load_image("medusa"), "medusa", MEDUSA)
    medusa = Medusa(pod, container)
    pod.wait_for(container, lambda: medusa.request("GET", "/health")[0] == 200, "Medusa /health 200", timeout=400)

    assert pod.exec(container, "id", "-u").stdout.strip() == "1000"
    assert pod.exec(container, "pwd").stdout.strip() == "/app"
    log = pod.logs(container)
    assert "PostgreSQL at 127.0.0.1:5432/medusa is ready" in log
    assert PG["POSTGRES_PASSWORD"] not in log
    assert pod.exec(container, "printenv", "MEDUSA_DISABLE_TELEMETRY").stdout.strip() == "true"
    versions = pod.exec(
        container,
        "node",
        "-p",
        "['typeorm','@medusajs/medusa','@medusajs/admin','medusa-payment-manual','medusa-fulfillment-manual']"
        ".map(n => require('/app/node_modules/' + n + '/package.json').version).join(' ')",
    )
    assert versions.stdout.split() == ["0.3.16", "1.20.11", "7.1.18", "1.0.25", "1.1.41"]

    # No admin yet: the token request is refused.
    login = {"email": ADMIN["ADMIN_EMAIL"], "password": ADMIN["ADMIN_PASSWORD"]}
    assert medusa.request("POST", "/admin/auth/token", login)[0] == 401
    created = pod.exec(container, "medusa", "user", "-e", login["email"], "-p", login["password"], timeout=240)
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    status, _, text = medusa.request("POST", "/admin/auth/token", login)
    assert status == 200, text
    assert json.loads(text)["access_token"].count(".") == 2
    assert medusa.request("POST", "/admin/auth/token", {**login, "password": "nope"})[0] == 401
    status, _, text = medusa.request("GET", "/store/products")
    assert status == 200 and "products" in json.loads(text)

    # The plugins are loaded: Medusa registered their providers, which only exist through them.
    store = medusa.get_json("/admin/store", medusa.admin_headers())["store"]
    assert [p["id"] for p in store["payment_providers"]] == ["manual"]
    assert [p["id"] for p in store["fulfillment_providers"]] == ["manual"]


def test_the_admin_dashboard_is_served_at_app_and_references_nothing_outside(medusa):
    status, headers, html = medusa.request("GET", "/app")
    assert status == 200 and '<div id="root">' in html
    # The SPA answers its own routes (the login page) with the same document.
    status, _, login_page = medusa.request("GET", "/app/login")
    assert status == 200 and login_page == html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    scripts = [a for a in assets if a.endswith(".js")]
    styles = [a for a in assets if a.endswith(".css")]
    assert scripts and styles
    # Everything the page loads is on the store's own origin: no scheme, no host.
    assert all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    for asset in scripts + styles:
        asset_status, _, body = medusa.request("GET", asset)
        assert asset_status == 200, asset
        if asset.endswith(".css"):
            # Fonts and images of the stylesheets are files of the build, never a CDN's.
            urls = re.findall(r"url\(([^)]+)\)", body)
            assert not [u for u in urls if re.match(r"[\"']?(https?:)?//", u)], urls
    # The whole bundle names no CDN the admin UI's upstream code would load from at run time: Segment's analytics
    # and the SVG flags are replaced by local modules (src/admin/webpack.config.js). emoji-picker-react's image CDN
    # stays in the code, but the dashboard uses its native style, which draws emoji with the browser's font.
    bundle = "".join(
        medusa.pod.exec(medusa.container, "sh", "-c", "cat /app/build/*.js /app/build/*.css").stdout.splitlines()
    )
    assert "cdn.segment" not in bundle and "api.segment.io" not in bundle
    assert "flag-icons" not in bundle
    assert "fonts.googleapis" not in bundle and "unpkg.com" not in bundle
    cdn_hosts = set(re.findall(r"https?://(cdn\.[a-z0-9.-]+)", bundle))
    assert cdn_hosts <= {"cdn.jsdelivr.net"}, cdn_hosts
    jsdelivr = set(re.findall(r"https?://cdn\.jsdelivr\.net/[^\"'`]*", bundle))
    assert jsdelivr and all("/emoji-datasource-" in u for u in jsdelivr), jsdelivr
    # Built at image build time: the plugin never rebuilds it (no webpack at run time).
    assert "Building admin" not in medusa.pod.logs(medusa.container)


def test_get_admin_redirects_to_the_dashboard_and_admin_paths_stay_the_api(medusa):
    status, headers, _ = medusa.request("GET", "/admin")
    assert status == 302 and headers["location"] == "/app"
    assert medusa.request("GET", "/admin/")[0] == 302
    # Under /admin everything else is still Medusa's admin API: unauthenticated, it refuses.
    assert medusa.request("GET", "/admin/products")[0] == 401
    assert medusa.request("GET", "/admin/auth")[0] == 401
    assert medusa.request("POST", "/admin/auth", {"email": ADMIN["ADMIN_EMAIL"], "password": "wrong"})[0] == 401


def _shop(medusa: Medusa) -> dict:
    headers = medusa.admin_headers()
    regions = medusa.get_json("/admin/regions", headers)["regions"]
    options = medusa.get_json("/admin/shipping-options", headers)["shipping_options"]
    products = medusa.get_json("/admin/products?limit=100&expand=variants,variants.prices,sales_channels", headers)
    keys = medusa.get_json("/admin/publishable-api-keys", headers)["publishable_api_keys"]
    store = medusa.get_json("/admin/store", headers)["store"]
    return {"regions": regions, "options": options, "products": products["products"], "keys": keys, "store": store}


def test_the_seed_makes_the_shop_once_and_a_rerun_or_a_concurrent_run_doubles_nothing(medusa):
    first = medusa.seed()
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout.strip().splitlines()[-1])
    assert report["region"]["created"] is True and report["publishableKey"]["created"] is True
    assert len(report["products"]["created"]) == 8 and len(report["shippingOptions"]["created"]) == 2
    print(f"seed: first run {report['seconds']:.1f}s in the server")
    # A re-run (a retry of setup) and two at the same time: nothing new.
    again = [medusa.seed()]
    threads = [threading.Thread(target=lambda: again.append(medusa.seed())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for run in again:
        assert run.returncode == 0, run.stderr
        later = json.loads(run.stdout.strip().splitlines()[-1])
        assert later["region"]["created"] is False and later["publishableKey"]["created"] is False
        assert later["products"] == {"created": [], "existing": 8, "addedToChannel": []}
        assert later["shippingOptions"] == {"created": [], "existing": 2}

    shop = _shop(medusa)
    assert shop["store"]["name"] == "demo-shop" and shop["store"]["default_currency_code"] == "usd"
    [region] = shop["regions"]
    assert (region["name"], region["currency_code"]) == ("North America", "usd")
    assert sorted(c["iso_2"] for c in region["countries"]) == ["ca", "gb", "us"]
    assert [p["id"] for p in region["payment_providers"]] == ["manual"]
    assert [p["id"] for p in region["fulfillment_providers"]] == ["manual"]
    options = sorted((o["name"], o["amount"], o["provider_id"], o["region_id"]) for o in shop["options"])
    assert options == [
        ("Express Shipping", 1500, "manual", region["id"]),
        ("Standard Shipping", 500, "manual", region["id"]),
    ]
    products = shop["products"]
    assert sorted(p["title"] for p in products) == sorted(PRODUCTS)
    channel = shop["store"]["default_sales_channel_id"]
    for product in products:
        assert product["status"] == "published" and product["thumbnail"] is None
        assert [c["id"] for c in product["sales_channels"]] == [channel]
        assert product["variants"]
        for variant in product["variants"]:
            assert variant["manage_inventory"] is True and variant["inventory_quantity"] > 0
            assert [(p["currency_code"], p["amount"] > 0) for p in variant["prices"]] == [("usd", True)]
    [key] = shop["keys"]
    assert key["id"] == KEY and key["revoked_at"] is None

    # The storefront's view: with the key, the store API lists the 8 products and the region's two options.
    store_headers = {"x-publishable-api-key": KEY}
    listed = medusa.get_json("/store/products?limit=100", store_headers)
    assert listed["count"] == 8
    assert [r["name"] for r in medusa.get_json("/store/regions", store_headers)["regions"]] == ["North America"]
    shipping = medusa.get_json(f"/store/shipping-options?region_id={region['id']}", store_headers)
    assert sorted(o["name"] for o in shipping["shipping_options"]) == ["Express Shipping", "Standard Shipping"]


def test_the_seed_refuses_a_bad_key_or_a_missing_login_and_changes_nothing(medusa):
    before = _shop(medusa)
    bad = medusa.seed(key="pk_not-hex")
    assert bad.returncode == 3 and "publishable_key must be pk_" in bad.stderr
    wrong = medusa.pod.exec(
        medusa.container,
        "node",
        SEED_CLIENT,
        "demo-shop",
        env={**ADMIN, "ADMIN_PASSWORD": "wrong", "PUBLISHABLE_KEY": KEY},
        timeout=120,
    )
    assert wrong.returncode == 2 and "login was refused" in wrong.stderr
    assert ADMIN["ADMIN_PASSWORD"] not in wrong.stderr + wrong.stdout
    # Without an admin's token the route refuses too.
    status, _, _ = medusa.request("POST", "/storeplane/seed", {"store_name": "x", "publishable_key": KEY})
    assert status == 401
    after = _shop(medusa)
    for name in ("regions", "options", "products", "keys"):
        assert after[name] == before[name] == []
    assert after["store"]["name"] == before["store"]["name"] != "demo-shop"


def test_the_session_cookie_reaches_an_http_browser_only_with_node_env_development(load_image, pod, volume):
    """Medusa 1.x marks its session cookie Secure exactly when NODE_ENV is production or staging; express-session
    then sends none at all over plain http, and the admin dashboard's login (a cookie session) cannot stick. The
    local chart therefore runs Medusa with NODE_ENV=development (values-local.yaml); production keeps "production"
    behind TLS, where the Ingress's X-Forwarded-Proto: https makes the Secure cookie go out."""
    pod.run(load_image("postgres"), "pg", PG, {volume("pg", 999): "/var/lib/postgresql/data"})
    cookies = {}
    for node_env in ("production", "development"):
        container = pod.run(load_image("medusa"), f"medusa-{node_env}", {**MEDUSA, "NODE_ENV": node_env})
        medusa = Medusa(pod, container)
        pod.wait_for(container, lambda m=medusa: m.request("GET", "/health")[0] == 200, "Medusa /health", timeout=400)
        if node_env == "production":
            made = pod.exec(container, "medusa", "user", "-e", ADMIN["ADMIN_EMAIL"], "-p", ADMIN["ADMIN_PASSWORD"])
            assert made.returncode == 0, made.stderr[-2000:]
        login = {"email": ADMIN["ADMIN_EMAIL"], "password": ADMIN["ADMIN_PASSWORD"]}
        headers = {"origin": "http://shop.localhost:8080", "x-forwarded-proto": "http"}
        status, response_headers, _ = medusa.request("POST", "/admin/auth", login, headers)
        assert status == 200
        cookies[node_env] = response_headers.get("set-cookie", "")
        if node_env == "production":
            # Behind TLS the same login gets its (Secure) cookie: what production relies on.
            _, tls_headers, _ = medusa.request("POST", "/admin/auth", login, {**headers, "x-forwarded-proto": "https"})
            assert "connect.sid=" in tls_headers.get("set-cookie", "") and "Secure" in tls_headers["set-cookie"]
        pod.remove(container)
    assert "connect.sid=" not in cookies["production"]
    assert "connect.sid=" in cookies["development"] and "Secure" not in cookies["development"]
