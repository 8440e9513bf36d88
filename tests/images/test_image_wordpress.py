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
