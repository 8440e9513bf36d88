"""Engine setup inside the store's pods, through `kubectl exec` into the pod selected by its component label.
Values travel as argv items (never parsed by a shell) or on stdin/env (passwords): no shell string is built."""

import json
import shlex
import time

from django.conf import settings

from provisioning import kubectl
from provisioning.errors import CommandFailed, ProvisioningError
from provisioning.values import ensure_secrets
from stores.models import Engine, Store


class EngineSetupFailed(ProvisioningError):
    code = "ENGINE_SETUP_FAILED"
    retryable = False


# Medusa's CLI takes the password only as an argument, so a constant script hands it over from the environment
# (which kubectl.exec fills from stdin): no tenant value is ever part of the script.
MEDUSA_CREATE_USER = 'exec medusa user -e "$ADMIN_EMAIL" -p "$ADMIN_PASSWORD"'
# The image's seed client (scripts/localcluster/images/medusa): logs in as the admin and runs the seed inside the
# server; env ADMIN_EMAIL, ADMIN_PASSWORD, PUBLISHABLE_KEY, argv[1] the store name. One JSON line on stdout; exit 2:
# the login was refused, 3: the seed refused its input (stderr "storeplane seed: <reason>").
MEDUSA_SEED_CLIENT = "/usr/local/lib/storeplane/medusa-seed-client.js"
MEDUSA_SEED_LOGIN_REFUSED = 2
MEDUSA_LOGIN_TRIES = 3
MEDUSA_LOGIN_RETRY_SECONDS = 5
MEDUSA_SEED_REFUSED = 3
MEDUSA_SEED_MARKER = "storeplane seed: "
MEDUSA_SEED_PRODUCTS = 8
# Logs in to the Medusa admin API from inside the pod; exit 0 only on a token.
MEDUSA_LOGIN_CHECK = (
    "fetch('http://127.0.0.1:9000/admin/auth/token',{method:'POST',headers:{'content-type':'application/json'},"
    "body:JSON.stringify({email:process.env.ADMIN_EMAIL,password:process.env.ADMIN_PASSWORD})})"
    ".then(r=>r.json().then(b=>process.exit(r.status===200&&b.access_token?0:1)))"
    ".catch(()=>process.exit(2))"
)


# The store's WooCommerce settings (the original platform's, §5.3), and Cash on Delivery as the one payment method.
WOOCOMMERCE_OPTIONS = (
    ("woocommerce_currency", "USD"),
    ("woocommerce_currency_pos", "left"),
    ("woocommerce_store_address", "123 Main St"),
    ("woocommerce_store_city", "Anytown"),
    ("woocommerce_default_country", "US:CA"),
    ("woocommerce_store_postcode", "90210"),
    ("woocommerce_enable_guest_checkout", "yes"),
    ("woocommerce_calc_taxes", "no"),
)
WOOCOMMERCE_COD_SETTINGS = {
    "enabled": "yes",
    "title": "Cash on Delivery",
    "description": "Pay with cash upon delivery.",
    "instructions": "Pay with cash upon delivery.",
    "enable_for_virtual": "yes",
}
# The original's sample catalog: (name, regular price, sale price or "", SKU, stock).
WOOCOMMERCE_PRODUCTS = (
    ("Classic T-Shirt", "24.99", "", "TSHIRT-001", "50"),
    ("Wireless Headphones", "79.99", "59.99", "HEADPHONES-001", "30"),
    ("Leather Wallet", "39.99", "", "WALLET-001", "100"),
)

# A failed step prints this marker and its label on stderr after WP-CLI's own "Error: ..." line, and exits 4; the
# two together are the tenant's reason. (kubectl adds its "command terminated" line after them.)
SETUP_STEP_MARKER = "storeplane-setup: failed while "
SETUP_STEP_FAILED = 4
_STEP = f'step() {{ label=$1; shift; "$@" || {{ echo "{SETUP_STEP_MARKER}$label" >&2; exit {SETUP_STEP_FAILED}; }}; }}'

# What a real WooCommerce setup runs after `wp core install`, in real WP-CLI syntax, in one exec (each exec is an
# API round trip): the plugin, the theme, WooCommerce's pages (`install_pages` creates only missing ones), the
# store options, Cash on Delivery, pretty permalinks. Every step is idempotent, so a retry or re-run changes
# nothing twice. Constant script: the theme ($1) and WP-CLI's global options ("$@") arrive as argv items, which
# the shell expands but never parses as code; the option values are this module's constants.
WOOCOMMERCE_CONFIGURE = "\n".join(
    [
        "set -u",
        "theme=$1; shift",
        _STEP,
        'step "activating the WooCommerce plugin" wp plugin activate woocommerce "$@"',
        'wp plugin is-active woocommerce "$@" || { echo "WooCommerce did not activate." >&2; exit 3; }',
        'if [ -n "$theme" ]; then step "activating the $theme theme" wp theme activate "$theme" "$@"; fi',
        'step "creating the shop, cart, checkout and my-account pages" wp wc tool run install_pages --user=1 "$@"',
        *(
            f'step "setting {key}" wp option update {key} {shlex.quote(value)} "$@"'
            for key, value in WOOCOMMERCE_OPTIONS
        ),
        'step "enabling Cash on Delivery" wp option update woocommerce_cod_settings '
        f'{shlex.quote(json.dumps(WOOCOMMERCE_COD_SETTINGS))} --format=json "$@"',
        'step "setting pretty permalinks" wp rewrite structure \'/%postname%/\' "$@"',
        'step "flushing the rewrite rules" wp rewrite flush --hard "$@"',
        "",
    ]
)
WOOCOMMERCE_INACTIVE = 3

# The sample products, each created only if no product has its SKU yet (a re-run or retry creates none twice).
# Constant script: $1 is WP-CLI's --path option or "", then each product as five argv items.
WOOCOMMERCE_SEED_PRODUCTS = "\n".join(
    [
        "set -u",
        "path=$1; shift",
        _STEP,
        "while [ $# -ge 5 ]; do",
        "  name=$1 regular=$2 sale=$3 sku=$4 stock=$5; shift 5",
        '  found=$(wp wc product list --sku="$sku" --field=id --user=1 ${path:+"$path"}) ||'
        f' {{ echo "{SETUP_STEP_MARKER}looking up the product $sku" >&2; exit {SETUP_STEP_FAILED}; }}',
        '  [ -n "$found" ] && continue',
        '  step "creating the product $sku" wp wc product create --name="$name" --type=simple'
        ' --regular_price="$regular" ${sale:+"--sale_price=$sale"} --sku="$sku" --manage_stock=true'
        ' --stock_quantity="$stock" --status=publish --user=1 --porcelain ${path:+"$path"}',
        "done",
        "",
    ]
)


def component_pod(store: Store, component: str) -> str:
    pods = kubectl.get_pods(store.namespace, selector=f"app.kubernetes.io/component={component}")
    running = [p for p in pods if p.phase == "Running" and p.ready]
    if not running:
        raise EngineSetupFailed(f"No ready {component} pod found in namespace {store.namespace}.")
    return running[0].name


def _exec(store: Store, pod: str, container: str, argv: list[str], **kwargs):
    timeout = kwargs.pop("timeout", settings.ENGINE_SETUP_TIMEOUT_SECONDS)
    return kubectl.exec(store.namespace, pod, container, argv, timeout=timeout, **kwargs)


def _wp_options() -> list[str]:
    return [f"--path={settings.WORDPRESS_PATH}"] if settings.WORDPRESS_PATH else []


def _wp(store: Store, pod: str, *args: str, **kwargs):
    return _exec(store, pod, "wordpress", ["wp", *args, *_wp_options()], **kwargs)


def setup_woocommerce(store: Store, *, url: str, email: str, password: str) -> None:
    """Install WordPress (once), then make it a shop: WooCommerce active, the theme, WooCommerce's pages, the store
    options, Cash on Delivery, pretty permalinks and the sample products, each exactly once."""
    pod = component_pod(store, "wordpress")
    try:
        _wp(store, pod, "core", "is-installed")
        installed = True
    except CommandFailed as error:
        if error.returncode != 1:
            raise
        installed = False
    if not installed:
        _wp(
            store,
            pod,
            "core",
            "install",
            f"--url={url}",
            f"--title={store.name}",
            "--admin_user=admin",
            f"--admin_email={email}",
            "--skip-email",
            "--prompt=admin_password",
            stdin=password.encode() + b"\n",
            secrets=[password],
        )
    configure = ["sh", "-c", WOOCOMMERCE_CONFIGURE, "sh", store.theme or "", *_wp_options()]
    products = [item for product in WOOCOMMERCE_PRODUCTS for item in product]
    seed = ["sh", "-c", WOOCOMMERCE_SEED_PRODUCTS, "sh", next(iter(_wp_options()), ""), *products]
    for script in (configure, seed):
        try:
            _exec(store, pod, "wordpress", script)
        except CommandFailed as error:
            if error.returncode == WOOCOMMERCE_INACTIVE:
                raise EngineSetupFailed("WooCommerce did not activate.") from error
            reason = woocommerce_step_failure(error) if error.returncode == SETUP_STEP_FAILED else None
            if reason:
                raise EngineSetupFailed(reason) from error
            raise


def woocommerce_step_failure(error: CommandFailed) -> str | None:
    """The tenant's reason for a failed setup step: which step, and what WP-CLI said ("Error: ...")."""
    lines = error.stderr_tail.strip().splitlines()
    marker = next((line for line in reversed(lines) if line.startswith(SETUP_STEP_MARKER)), None)
    if marker is None:
        return None
    said = next((line[len("Error: ") :] for line in reversed(lines) if line.startswith("Error: ")), "")
    reason = "WooCommerce setup failed while " + marker[len(SETUP_STEP_MARKER) :]
    return f"{reason}: {said}" if said else f"{reason}."


def set_woocommerce_password(store: Store, *, password: str) -> None:
    pod = component_pod(store, "wordpress")
    _wp(
        store,
        pod,
        "user",
        "update",
        "admin",
        "--prompt=user_pass",
        stdin=password.encode() + b"\n",
        secrets=[password],
    )


class MedusaLoginRefused(EngineSetupFailed):
    """The admin API refused the admin's login (before `medusa user` has run, or with a wrong password)."""


def setup_medusa(store: Store, *, email: str, password: str) -> dict:
    """Seed the shop as the store's admin, creating the admin user first when the admin API does not know it yet.
    The seed logs in, so a re-run or retry (the admin exists) is one exec; `medusa user` (which boots a second
    Medusa in the pod for ~20 s) runs only when the login is refused. Returns the seed's report."""
    pod = component_pod(store, "medusa")
    try:
        return seed_medusa(store, pod=pod, email=email, password=password)
    except MedusaLoginRefused:
        pass
    env = {"ADMIN_EMAIL": email, "ADMIN_PASSWORD": password}
    try:
        _exec(store, pod, "medusa", ["sh", "-c", MEDUSA_CREATE_USER], env=env)
    except CommandFailed as error:
        if "already exists" not in error.stderr_tail and "duplicate key" not in error.stderr_tail:
            raise
    # The new admin may not log in at the first try on a loaded node (its server answering slowly or restarting):
    # a few tries, a few seconds apart, before the login counts as refused.
    for tries_left in range(MEDUSA_LOGIN_TRIES - 1, -1, -1):
        try:
            return seed_medusa(store, pod=pod, email=email, password=password)
        except MedusaLoginRefused:
            if not tries_left:
                raise
            time.sleep(MEDUSA_LOGIN_RETRY_SECONDS)
    raise AssertionError("unreachable")  # the loop returns or raises


def seed_medusa(store: Store, *, pod: str, email: str, password: str) -> dict:
    """Seed the shop through the image's seed (Medusa's own services, inside the running server): the store's name
    and currency, the region with the manual providers, two shipping options, the 8 products, and the storefront's
    publishable key with the platform's id. It creates only what is missing, so a retry or re-run doubles nothing.
    Returns the seed's report (MEDUSA_SEED_CLIENT's JSON line)."""
    publishable_key = ensure_secrets(store)["publishableKey"]
    env = {"ADMIN_EMAIL": email, "ADMIN_PASSWORD": password, "PUBLISHABLE_KEY": publishable_key}
    # The store name is no secret and travels as an argv item: every env value is masked in the command's output,
    # and a name such as "store" would then mask the report's keys too.
    argv = ["node", MEDUSA_SEED_CLIENT, store.name]
    try:
        result = _exec(store, pod, "medusa", argv, env=env)
    except CommandFailed as error:
        reason = _seed_reason(error.stderr_tail)
        if error.returncode == MEDUSA_SEED_LOGIN_REFUSED:
            raise MedusaLoginRefused(f"The Medusa admin user cannot log in to the admin API ({reason}).") from error
        if error.returncode == MEDUSA_SEED_REFUSED:
            raise EngineSetupFailed(f"Medusa refused the shop's seed: {reason}") from error
        raise
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise EngineSetupFailed("The Medusa seed printed no report.") from error
    products = report["products"]["created"], report["products"]["existing"]
    options = report["shippingOptions"]["created"], report["shippingOptions"]["existing"]
    if len(products[0]) + products[1] != MEDUSA_SEED_PRODUCTS or len(options[0]) + options[1] != 2:
        raise EngineSetupFailed("The Medusa seed left the shop incomplete.")
    if report["publishableKey"]["revoked"]:
        raise EngineSetupFailed("The storefront's publishable API key is revoked in the Medusa admin.")
    return report


def _seed_reason(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith(MEDUSA_SEED_MARKER)]
    return lines[-1][len(MEDUSA_SEED_MARKER) :] if lines else "no reason given"


def check_medusa_login(store: Store, *, pod: str, email: str, password: str) -> None:
    try:
        _exec(
            store,
            pod,
            "medusa",
            ["node", "-e", MEDUSA_LOGIN_CHECK],
            env={"ADMIN_EMAIL": email, "ADMIN_PASSWORD": password},
            timeout=60,
        )
    except CommandFailed as error:
        raise EngineSetupFailed("The Medusa admin user cannot log in to the admin API.") from error


# Medusa v1 lets no admin set a user's password through the admin API (POST /admin/users/:id refuses the field), and
# `medusa user` only creates users; its supported way is the reset-password token: the user service signs one (as
# POST /admin/users/password-token does, which hands it only to notification subscribers), and the running server's
# POST /admin/users/reset-password checks it and stores the new hash. The token is made in a second Medusa booted in
# the pod (as `medusa user` does, ~20 s) and spent at once on loopback; env ADMIN_EMAIL and NEW_PASSWORD, exit 0 only
# on the server's 200.
MEDUSA_RESET_SCRIPT = (
    "const M='/app/node_modules/';const loaders=require(M+'@medusajs/medusa/dist/loaders').default;"
    "const express=require(M+'express');const email=process.env.ADMIN_EMAIL;"
    "(async()=>{const {container}=await loaders({directory:'/app',expressApp:express(),isTest:false});"
    "const users=container.resolve('userService');const user=await users.retrieveByEmail(email);"
    "const signed=await users.generateResetPasswordToken(user.id);"
    "const r=await fetch('http://127.0.0.1:9000/admin/users/reset-password',{method:'POST',"
    "headers:{'content-type':'application/json'},"
    "body:JSON.stringify({email,token:signed,password:process.env.NEW_PASSWORD})});"
    "console.error('storeplane password reset: HTTP '+r.status);process.exit(r.status===200?0:1)})()"
    ".catch(e=>{console.error('storeplane password reset: '+e.message);process.exit(2)})"
)


def set_medusa_password(store: Store, *, email: str, password: str) -> None:
    """Medusa's reset-password token flow inside the pod, then a login with the new password. The old password is not
    needed (the token proves the platform's access to the pod), so a retry after a change that was applied but not yet
    recorded sets it again rather than fail on a login the old password no longer has."""
    pod = component_pod(store, "medusa")
    env = {"ADMIN_EMAIL": email, "NEW_PASSWORD": password}
    try:
        # 55 s (the boot takes ~20 s) + the login check's 60 s stay inside the password task's 120 s soft limit.
        _exec(store, pod, "medusa", ["node", "-e", MEDUSA_RESET_SCRIPT], env=env, timeout=55)
    except CommandFailed as error:
        reason = _reset_reason(error.stderr_tail)
        raise EngineSetupFailed(f"Medusa did not reset the admin password ({reason}).") from error
    check_medusa_login(store, pod=pod, email=email, password=password)


def _reset_reason(stderr: str) -> str:
    marker = "storeplane password reset: "
    lines = [line for line in stderr.splitlines() if line.startswith(marker)]
    return lines[-1][len(marker) :] if lines else "no reason given"


def setup_engine(store: Store, *, url: str, email: str, password: str) -> None:
    if store.engine == Engine.WOOCOMMERCE:
        setup_woocommerce(store, url=url, email=email, password=password)
    else:
        setup_medusa(store, email=email, password=password)
