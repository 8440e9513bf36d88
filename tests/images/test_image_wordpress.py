"""WordPress + MariaDB in one network-less pod: apache answers /wp-login.php, the `wp` stand-in installs the site,
activates the WooCommerce stand-in and changes the admin password with WP-CLI's exit codes, and the stand-ins say
what they are."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.images

DB = {
    "MARIADB_ROOT_PASSWORD": "root-pw",
    "MARIADB_DATABASE": "wp",
    "MARIADB_USER": "wp",
    "MARIADB_PASSWORD": "wp'db\\pw",
}
SALTS = {
    f"WORDPRESS_{name}": f"salt-{name.lower()}-0123456789"
    for name in (
        "AUTH_KEY",
        "SECURE_AUTH_KEY",
        "LOGGED_IN_KEY",
        "NONCE_KEY",
        "AUTH_SALT",
        "SECURE_AUTH_SALT",
        "LOGGED_IN_SALT",
        "NONCE_SALT",
    )
}
WP = {
    "WORDPRESS_DB_HOST": "127.0.0.1:3306",
    "WORDPRESS_DB_USER": "wp",
    "WORDPRESS_DB_PASSWORD": DB["MARIADB_PASSWORD"],
    "WORDPRESS_DB_NAME": "wp",
    **SALTS,
}
URL = "http://127.0.0.1:8080"

# PHP run inside the WordPress container: an HTTP request to apache on the pod's loopback, printing the status.
HTTP_STATUS = """
$ctx = stream_context_create(['http' => ['ignore_errors' => true, 'timeout' => 10]]);
$body = @file_get_contents($argv[1], false, $ctx);
if ($body === false) { echo "0\\n"; exit; }
echo explode(' ', $http_response_header[0])[1], "\\n", $body;
"""
# Logs in through the real login form with the password from stdin; prints "logged-in" on success.
LOGIN_FORM = """
$pw = rtrim(fgets(STDIN), "\\n");
$ctx = stream_context_create(['http' => [
    'method' => 'POST', 'follow_location' => 0, 'ignore_errors' => true, 'timeout' => 20,
    'header' => "Content-Type: application/x-www-form-urlencoded\\r\\n"
        . "Cookie: wordpress_test_cookie=WP%20Cookie%20check",
    'content' => http_build_query(['log' => 'admin', 'pwd' => $pw, 'testcookie' => '1', 'wp-submit' => 'Log In']),
]]);
file_get_contents('http://127.0.0.1:8080/wp-login.php', false, $ctx);
$ok = false;
foreach ($http_response_header as $h) { if (stripos($h, 'Set-Cookie: wordpress_logged_in_') === 0) { $ok = true; } }
echo $ok ? "logged-in" : "refused", "\\n";
"""


def _http(pod, container: str, path: str) -> tuple[int, str]:
    proc = pod.exec(container, "php", "-r", HTTP_STATUS, URL + path)
    status, _, body = proc.stdout.partition("\n")
    return int(status or 0), body


def _login(pod, container: str, password: str) -> str:
    return pod.exec(container, "php", "-r", LOGIN_FORM, stdin=password + "\n").stdout.strip()


@pytest.fixture
def wordpress(load_image, pod, volume):
    db = pod.run(load_image("mariadb"), "db", DB, {volume("mysql", 999): "/var/lib/mysql"})
    content = volume("wp-content", 33)
    wp = pod.run(load_image("wordpress"), "wp", WP, {content: "/var/www/wp-content"})
    # Until `wp core install`, WordPress answers /wp-login.php with a redirect to its installer (a k8s httpGet
    # probe counts 3xx as success); afterwards with the login form (200).
    pod.wait_for(wp, lambda: _http(pod, wp, "/wp-login.php")[0] in (200, 302), "/wp-login.php answering", timeout=240)
    return pod, wp, db, content


def wp_cli(pod, container: str, *args: str, stdin: str | None = None):
    return pod.exec(container, "wp", *args, stdin=stdin, timeout=120)


def test_wordpress_serves_login_and_wp_installs_activates_and_updates_password(wordpress):
    pod, wp, _db, content = wordpress
    assert pod.exec(wp, "id", "-u").stdout.strip() == "33"
    assert pod.exec(wp, "sh", "-c", "ps -o user= -C apache2 2>/dev/null || true").returncode == 0
    # The volume was empty, so the entrypoint seeded it: the stand-ins and the default theme are in it.
    assert (content / "plugins/woocommerce/woocommerce.php").is_file()
    assert {"storefront", "astra", "twentytwentythree"} <= {p.name for p in (content / "themes").iterdir()}

    # Not installed yet: WP-CLI's exit 1, and options cannot be read.
    assert wp_cli(pod, wp, "core", "is-installed").returncode == 1
    not_installed = wp_cli(pod, wp, "option", "get", "blogname")
    assert not_installed.returncode == 1 and "not installed" in not_installed.stderr

    version = wp_cli(pod, wp, "core", "version")
    assert version.returncode == 0 and version.stdout.strip().startswith("6.")

    install = wp_cli(
        pod,
        wp,
        "core",
        "install",
        f"--url={URL}",
        "--title=Local Store",
        "--admin_user=admin",
        "--admin_email=admin@example.com",
        "--skip-email",
        "--prompt=admin_password",
        stdin="First-Pw-1\n",
    )
    assert install.returncode == 0, install.stderr
    assert "Success: WordPress installed successfully." in install.stdout
    assert "First-Pw-1" not in install.stdout + install.stderr
    assert wp_cli(pod, wp, "core", "is-installed", "--path=/usr/share/wordpress").returncode == 0
    again = wp_cli(
        pod,
        wp,
        "core",
        "install",
        f"--url={URL}",
        "--title=Other",
        "--admin_user=admin",
        "--admin_email=admin@example.com",
        "--admin_password=x",
    )
    assert again.returncode == 0 and "already installed" in again.stdout
    assert wp_cli(pod, wp, "option", "get", "blogname").stdout.strip() == "Local Store"
    assert wp_cli(pod, wp, "option", "get", "siteurl").stdout.strip() == URL
    status, page = _http(pod, wp, "/wp-login.php")
    assert status == 200 and 'name="log"' in page
    assert _login(pod, wp, "First-Pw-1") == "logged-in"

    # The WooCommerce stand-in: present, inactive, then active; it says it is a stand-in.
    plugins = {p["name"]: p for p in json.loads(wp_cli(pod, wp, "plugin", "list", "--format=json").stdout)}
    assert plugins["woocommerce"]["status"] == "inactive"
    assert wp_cli(pod, wp, "plugin", "is-active", "woocommerce").returncode == 1
    activate = wp_cli(pod, wp, "plugin", "activate", "woocommerce")
    assert activate.returncode == 0, activate.stderr
    assert "Plugin 'woocommerce' activated." in activate.stdout
    assert wp_cli(pod, wp, "plugin", "is-active", "woocommerce").returncode == 0
    listed = json.loads(wp_cli(pod, wp, "plugin", "list", "--format=json", "--fields=name,status,title").stdout)
    [woo] = [p for p in listed if p["name"] == "woocommerce"]
    assert woo["status"] == "active" and "LOCAL STAND-IN" in woo["title"]
    status, body = _http(pod, wp, "/?rest_route=/wc-standin/v1/status")
    assert status == 200 and json.loads(body)["standin"] is True and json.loads(body)["woocommerce"] is False

    # Unknown plugin: exit 1 and the active plugins are unchanged.
    before = wp_cli(pod, wp, "option", "get", "active_plugins", "--format=json").stdout
    missing = wp_cli(pod, wp, "plugin", "activate", "no-such-plugin")
    assert missing.returncode == 1 and "could not be found" in missing.stderr
    assert wp_cli(pod, wp, "option", "get", "active_plugins", "--format=json").stdout == before
    assert json.loads(before) == ["woocommerce/woocommerce.php"]

    users = json.loads(wp_cli(pod, wp, "user", "list", "--format=json").stdout)
    assert [(u["user_login"], u["roles"], u["user_email"]) for u in users] == [
        ("admin", "administrator", "admin@example.com")
    ]

    # Password change through stdin: the new password logs in, the old one no longer does.
    update = wp_cli(pod, wp, "user", "update", "admin", "--prompt=user_pass", stdin="Second-Pw-2\n")
    assert update.returncode == 0, update.stderr
    assert "Success: Updated user 1." in update.stdout
    assert _login(pod, wp, "Second-Pw-2") == "logged-in"
    assert _login(pod, wp, "First-Pw-1") == "refused"
    nobody = wp_cli(pod, wp, "user", "update", "ghost", "--prompt=user_pass", stdin="x\n")
    assert nobody.returncode == 1

    updated = wp_cli(pod, wp, "option", "update", "blogdescription", "Just a local store")
    assert updated.returncode == 0 and "Success: Updated 'blogdescription' option." in updated.stdout
    assert wp_cli(pod, wp, "option", "get", "blogdescription").stdout.strip() == "Just a local store"
    assert wp_cli(pod, wp, "option", "get", "no_such_option_here").returncode == 1
    assert wp_cli(pod, wp, "theme", "list").returncode == 1


def test_wordpress_config_blocks_external_http_and_cron(wordpress):
    pod, wp, _db, _content = wordpress
    config = pod.exec(wp, "cat", "/etc/wordpress/config-default.php").stdout
    assert "define('WP_HTTP_BLOCK_EXTERNAL', true);" in config
    assert "define('DISABLE_WP_CRON', true);" in config
    assert "define('WP_CONTENT_DIR', '/var/www/wp-content');" in config
    # Values are quoted by var_export: the quote and backslash in the DB password stay inside the string.
    assert "define('DB_PASSWORD', 'wp\\'db\\\\pw');" in config
    themes = pod.exec(wp, "sh", "-c", "grep -h '^Theme Name:' /var/www/wp-content/themes/*/style.css").stdout
    assert "Storefront (LOCAL STAND-IN" in themes and "Astra (LOCAL STAND-IN" in themes


# --- WooCommerce: the `wp` commands a shop's setup runs, the setup itself, and the served shop ---------------------

NO_REDIRECT = """
$ctx = stream_context_create(['http' => ['ignore_errors' => true, 'timeout' => 10, 'follow_location' => 0]]);
@file_get_contents($argv[1], false, $ctx);
foreach ($http_response_header as $h) { echo $h, "\\n"; }
"""
STANDIN_THEME = "Storefront (LOCAL STAND-IN for tests - not the Storefront theme)"


def _install(pod, wp) -> None:
    install = wp_cli(
        pod,
        wp,
        "core",
        "install",
        f"--url={URL}",
        "--title=Local Shop",
        "--admin_user=admin",
        "--admin_email=admin@example.com",
        "--skip-email",
        "--prompt=admin_password",
        stdin="Shop-Pw-1\n",
    )
    assert install.returncode == 0, install.stderr


def _sql(pod, db, query: str) -> list[list[str]]:
    """Rows straight from MariaDB (tab-separated), the password in the client's environment."""
    proc = pod.exec(
        db, "mariadb", "-uwp", "-N", "-B", "wp", "-e", query, env={"MYSQL_PWD": DB["MARIADB_PASSWORD"]}, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return [line.split("\t") for line in proc.stdout.splitlines()]


def _json(proc) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_wp_stand_in_shop_commands_write_wp_clis_rows_with_its_messages_and_exit_codes(wordpress):
    pod, wp, db, _content = wordpress
    _install(pod, wp)

    # `wc` exists only while WooCommerce is active, as with the real plugin.
    absent = wp_cli(pod, wp, "wc", "tool", "run", "install_pages", "--user=1")
    assert absent.returncode == 1
    assert absent.stderr == "Error: 'wc' is not a registered wp command. See 'wp help' for available commands.\n"
    assert wp_cli(pod, wp, "plugin", "activate", "woocommerce").returncode == 0
    again = wp_cli(pod, wp, "plugin", "activate", "woocommerce")
    assert again.returncode == 0 and again.stdout == "Success: Plugin already activated.\n"
    assert again.stderr == "Warning: Plugin 'woocommerce' is already active.\n"

    # theme activate: switch_theme's rows; an active theme is a warning, a missing one an error.
    switched = wp_cli(pod, wp, "theme", "activate", "storefront")
    assert (switched.returncode, switched.stdout) == (0, f"Success: Switched to '{STANDIN_THEME}' theme.\n")
    for option, value in (("template", "storefront"), ("stylesheet", "storefront"), ("current_theme", STANDIN_THEME)):
        assert wp_cli(pod, wp, "option", "get", option).stdout.strip() == value
    active = wp_cli(pod, wp, "theme", "activate", "storefront")
    assert (active.returncode, active.stdout) == (0, "")
    assert active.stderr == f"Warning: The '{STANDIN_THEME}' theme is already active.\n"
    missing = wp_cli(pod, wp, "theme", "activate", "no-such-theme")
    assert (missing.returncode, missing.stderr) == (1, "Error: The 'no-such-theme' theme could not be found.\n")
    assert wp_cli(pod, wp, "option", "get", "stylesheet").stdout.strip() == "storefront"

    # wc tool run install_pages: the four pages and their options, once; a second run creates nothing.
    assert wp_cli(pod, wp, "wc", "tool", "run", "install_pages").returncode == 1  # no --user: WooCommerce's 401
    tool = wp_cli(pod, wp, "wc", "tool", "run", "install_pages", "--user=1")
    assert (tool.returncode, tool.stdout) == (0, "Success: Updated system_status_tool install_pages.\n")
    pages = _json(wp_cli(pod, wp, "post", "list", "--post_type=page", "--format=json", "--fields=ID,post_name"))
    assert wp_cli(pod, wp, "wc", "tool", "run", "install_pages", "--user=1").returncode == 0
    assert _json(wp_cli(pod, wp, "post", "list", "--post_type=page", "--format=json", "--fields=ID,post_name")) == pages
    unknown_tool = wp_cli(pod, wp, "wc", "tool", "run", "clear_transients", "--user=1")
    assert unknown_tool.returncode == 1 and "install_pages" in unknown_tool.stderr

    # option update --format=json stores an array (serialized by WordPress), read back as the same JSON.
    cod = {"enabled": "yes", "title": "Cash on Delivery"}
    updated = wp_cli(pod, wp, "option", "update", "woocommerce_cod_settings", json.dumps(cod), "--format=json")
    assert updated.stdout == "Success: Updated 'woocommerce_cod_settings' option.\n"
    assert _json(wp_cli(pod, wp, "option", "get", "woocommerce_cod_settings", "--format=json")) == cod
    [[raw]] = _sql(pod, db, "SELECT option_value FROM wp_options WHERE option_name = 'woocommerce_cod_settings'")
    assert raw.startswith("a:2:{")
    bad = wp_cli(pod, wp, "option", "update", "woocommerce_cod_settings", "{not json", "--format=json")
    assert bad.returncode == 1 and bad.stderr.startswith("Error: Invalid JSON")
    assert _json(wp_cli(pod, wp, "option", "get", "woocommerce_cod_settings", "--format=json")) == cod

    # rewrite structure sets permalink_structure and flushes in a new process (product rules included).
    structure = wp_cli(pod, wp, "rewrite", "structure", "/%postname%/")
    assert structure.returncode == 0, structure.stderr
    assert structure.stdout == "Success: Rewrite structure set.\nSuccess: Rewrite rules flushed.\n"
    assert wp_cli(pod, wp, "option", "get", "permalink_structure").stdout.strip() == "/%postname%/"
    rules = _json(wp_cli(pod, wp, "option", "get", "rewrite_rules", "--format=json"))
    assert rules["shop/?$"] == "index.php?post_type=product"
    assert rules["product/([^/]+)(?:/([0-9]+))?/?$"] == "index.php?product=$matches[1]&page=$matches[2]"
    hard = wp_cli(pod, wp, "rewrite", "flush", "--hard")
    assert (hard.returncode, hard.stdout) == (0, "Success: Rewrite rules flushed.\n")
    assert hard.stderr == "Warning: Regenerating a .htaccess file requires special configuration. See usage docs.\n"

    # wc product create: the post, WooCommerce's meta keys, the product_type term; --porcelain prints the id only.
    create = ["wc", "product", "create", "--name=Wireless Headphones", "--type=simple", "--regular_price=79.99"]
    create += ["--sale_price=59.99", "--sku=HEADPHONES-001", "--manage_stock=true", "--stock_quantity=30"]
    create += ["--status=publish", "--porcelain"]
    refused = wp_cli(pod, wp, *create)
    assert refused.returncode == 1 and "Make sure to include the --user flag" in refused.stderr
    made = wp_cli(pod, wp, *create, "--user=1")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().isdigit() and made.stdout == made.stdout.strip() + "\n"
    product_id = made.stdout.strip()
    columns = "post_type, post_status, post_title, post_name"
    [post] = _sql(pod, db, f"SELECT {columns} FROM wp_posts WHERE ID = {int(product_id)}")  # noqa: S608 (an int)
    assert post == ["product", "publish", "Wireless Headphones", "wireless-headphones"]
    meta = dict(_sql(pod, db, f"SELECT meta_key, meta_value FROM wp_postmeta WHERE post_id = {int(product_id)}"))  # noqa: S608
    assert {k: meta[k] for k in ("_regular_price", "_sale_price", "_price", "_sku")} == {
        "_regular_price": "79.99",
        "_sale_price": "59.99",
        "_price": "59.99",
        "_sku": "HEADPHONES-001",
    }
    assert (meta["_manage_stock"], meta["_stock"], meta["_stock_status"]) == ("yes", "30", "instock")
    terms = _json(wp_cli(pod, wp, "post", "term", "list", product_id, "product_type", "--format=json"))
    assert [t["slug"] for t in terms] == ["simple"]
    # Catalog visibility is terms, as WooCommerce 3+ keeps it: a visible, in-stock product has none.
    assert _json(wp_cli(pod, wp, "post", "term", "list", product_id, "product_visibility", "--format=json")) == []
    plain = wp_cli(pod, wp, *create[:-1], "--sku=OTHER-1", "--user=1")
    assert plain.returncode == 0 and plain.stdout.startswith("Success: Created product ")

    # A SKU is unique: the second product with it is refused and nothing is written.
    count = _sql(pod, db, "SELECT COUNT(*) FROM wp_posts WHERE post_type = 'product'")
    duplicate = wp_cli(pod, wp, *create, "--user=1")
    assert (duplicate.returncode, duplicate.stderr) == (1, "Error: Invalid or duplicated SKU.\n")
    assert _sql(pod, db, "SELECT COUNT(*) FROM wp_posts WHERE post_type = 'product'") == count

    # wc product list --sku finds by SKU (empty output, exit 0 when none); options a stand-in lacks are refused.
    found = wp_cli(pod, wp, "wc", "product", "list", "--sku=HEADPHONES-001", "--field=id", "--user=1")
    assert (found.returncode, found.stdout) == (0, product_id + "\n")
    none = wp_cli(pod, wp, "wc", "product", "list", "--sku=NOPE-1", "--field=id", "--user=1")
    assert (none.returncode, none.stdout) == (0, "")
    listed = _json(wp_cli(pod, wp, "wc", "product", "list", "--sku=HEADPHONES-001", "--format=json", "--user=1"))
    assert [(p["name"], p["price"], p["regular_price"], p["on_sale"], p["stock_quantity"]) for p in listed] == [
        ("Wireless Headphones", "59.99", "79.99", True, 30)
    ]
    assert wp_cli(pod, wp, "wc", "product", "create", "--name=X", "--weight=2", "--user=1").returncode == 1
    assert wp_cli(pod, wp, "wc", "product", "list", "--user=1", "--format=count").stdout == "2\n"
    meta_list = _json(wp_cli(pod, wp, "post", "meta", "list", product_id, "--keys=_sku,_price", "--format=json"))
    assert sorted((m["meta_key"], m["meta_value"]) for m in meta_list) == [
        ("_price", "59.99"),
        ("_sku", "HEADPHONES-001"),
    ]
    assert wp_cli(pod, wp, "post", "term", "list", product_id, "no_such_tax").returncode == 1
    assert wp_cli(pod, wp, "wc", "order", "list", "--user=1").returncode == 1  # not implemented: says so


def test_woocommerce_setup_runs_once_and_apache_serves_the_shop(wordpress):
    from provisioning.setup import WOOCOMMERCE_CONFIGURE, WOOCOMMERCE_SEED_PRODUCTS

    pod, wp, db, _content = wordpress
    _install(pod, wp)
    pages_before = _sql(pod, db, "SELECT COUNT(*) FROM wp_posts WHERE post_type = 'page'")
    # The platform's own scripts, as engine setup runs them: theme and product values as argv items.
    products = ["Classic T-Shirt", "24.99", "", "TSHIRT-001", "50", "Wireless Headphones", "79.99", "59.99"]
    products += ["HEADPHONES-001", "30", "Leather Wallet", "39.99", "", "WALLET-001", "100"]
    for _ in range(2):  # a re-run (a retry) must change nothing
        configure = pod.exec(wp, "sh", "-c", WOOCOMMERCE_CONFIGURE, "sh", "storefront", timeout=300)
        assert configure.returncode == 0, configure.stderr
        seed = pod.exec(wp, "sh", "-c", WOOCOMMERCE_SEED_PRODUCTS, "sh", "", *products, timeout=300)
        assert seed.returncode == 0, seed.stderr

    rows = _sql(
        pod,
        db,
        "SELECT p.post_title, p.post_status, "  # noqa: S608 (constant meta keys)
        + ", ".join(
            f"(SELECT meta_value FROM wp_postmeta m WHERE m.post_id = p.ID AND m.meta_key = '{k}')"  # noqa: S608
            for k in ("_sku", "_regular_price", "_sale_price", "_price", "_manage_stock", "_stock", "_stock_status")
        )
        + " FROM wp_posts p WHERE p.post_type = 'product' ORDER BY p.ID",
    )
    assert rows == [
        ["Classic T-Shirt", "publish", "TSHIRT-001", "24.99", "", "24.99", "yes", "50", "instock"],
        ["Wireless Headphones", "publish", "HEADPHONES-001", "79.99", "59.99", "59.99", "yes", "30", "instock"],
        ["Leather Wallet", "publish", "WALLET-001", "39.99", "", "39.99", "yes", "100", "instock"],
    ]
    types = _sql(
        pod,
        db,
        "SELECT t.slug, COUNT(*) FROM wp_term_relationships r JOIN wp_term_taxonomy tt USING (term_taxonomy_id) "
        "JOIN wp_terms t USING (term_id) JOIN wp_posts p ON p.ID = r.object_id "
        "WHERE tt.taxonomy = 'product_type' AND p.post_type = 'product' GROUP BY t.slug",
    )
    assert types == [["simple", "3"]]

    # Exactly four WooCommerce pages, each named by its option, with WooCommerce's slugs and shortcodes.
    assert int(_sql(pod, db, "SELECT COUNT(*) FROM wp_posts WHERE post_type = 'page'")[0][0]) == (
        int(pages_before[0][0]) + 4
    )
    expected = {
        "shop": ("shop", "Shop", ""),
        "cart": ("cart", "Cart", "[woocommerce_cart]"),
        "checkout": ("checkout", "Checkout", "[woocommerce_checkout]"),
        "myaccount": ("my-account", "My account", "[woocommerce_my_account]"),
    }
    for key, (slug, title, shortcode) in expected.items():
        page_id = wp_cli(pod, wp, "option", "get", f"woocommerce_{key}_page_id").stdout.strip()
        columns = "post_name, post_title, post_status, post_content"
        [[name, got_title, status, content]] = _sql(
            pod,
            db,
            f"SELECT {columns} FROM wp_posts WHERE ID = {int(page_id)}",  # noqa: S608 (an int)
        )
        assert (name, got_title, status) == (slug, title, "publish")
        assert shortcode in content if shortcode else content == ""

    options = {
        "woocommerce_currency": "USD",
        "woocommerce_currency_pos": "left",
        "woocommerce_store_address": "123 Main St",
        "woocommerce_store_city": "Anytown",
        "woocommerce_default_country": "US:CA",
        "woocommerce_store_postcode": "90210",
        "woocommerce_enable_guest_checkout": "yes",
        "woocommerce_calc_taxes": "no",
        "permalink_structure": "/%postname%/",
        "template": "storefront",
        "stylesheet": "storefront",
    }
    for option, value in options.items():
        assert wp_cli(pod, wp, "option", "get", option).stdout == value + "\n", option
    assert _json(wp_cli(pod, wp, "option", "get", "woocommerce_cod_settings", "--format=json")) == {
        "enabled": "yes",
        "title": "Cash on Delivery",
        "description": "Pay with cash upon delivery.",
        "instructions": "Pay with cash upon delivery.",
        "enable_for_virtual": "yes",
    }

    # Apache serves the shop: the product archive at the shop page's slug lists the three products with prices.
    status, shop = _http(pod, wp, "/shop/")
    assert status == 200, shop[:500]
    assert '<p class="site-title"><a href="http://127.0.0.1:8080/" rel="home">Local Shop</a></p>' in shop
    assert shop.index("Classic T-Shirt") < shop.index("Wireless Headphones") < shop.index("Leather Wallet")
    for text in ("$24.99", "$39.99", '<del><span class="amount">$79.99</span></del>', "$59.99</span></ins>"):
        assert text in shop, text
    for text in ("TSHIRT-001", "HEADPHONES-001", "WALLET-001", "50 in stock", "30 in stock", "100 in stock"):
        assert text in shop, text
    assert "nothing can be bought or ordered here" in shop and "site-footer" in shop
    status, product = _http(pod, wp, "/product/wireless-headphones/")
    assert status == 200 and '<h1 class="entry-title">Wireless Headphones</h1>' in product
    assert "$59.99" in product and "HEADPHONES-001" in product
    for path in ("/cart/", "/checkout/", "/my-account/"):
        status, page = _http(pod, wp, path)
        assert status == 200 and "local stand-in for WooCommerce" in page and "is not available." in page, path
    status, _missing = _http(pod, wp, "/product/no-such-product/")
    assert status == 404
    # /wp-admin sends a visitor to the login form, which answers 200.
    headers = pod.exec(wp, "php", "-r", NO_REDIRECT, URL + "/wp-admin/").stdout.splitlines()
    assert headers[0].split()[1] == "302"
    assert any(h.startswith("Location: http://127.0.0.1:8080/wp-login.php?redirect_to=") for h in headers)
    status, login = _http(pod, wp, "/wp-login.php")
    assert status == 200 and 'name="log"' in login

    # Nothing a page references is outside the store (no s.w.org emoji, no wordpress.org links).
    import re

    for path, page in (("/shop/", shop), ("/product/wireless-headphones/", product), ("/wp-login.php", login)):
        urls = re.findall(r"""(?:https?:)?//[^\s"'<>()\\]+""", page.replace("\\/", "/"))
        outside = {u for u in urls if not re.match(r"(?:https?:)?//127\.0\.0\.1:8080(?:/|$)", u)}
        assert not outside, (path, sorted(outside))
    status, front = _http(pod, wp, "/")
    assert status == 200 and "wp-emoji" not in front and "s.w.org" not in front
