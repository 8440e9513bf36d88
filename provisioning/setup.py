"""Engine setup inside the store's pods, through `kubectl exec` into the pod selected by its component label.
Values travel as argv items (never parsed by a shell) or on stdin/env (passwords): no shell string is built."""

from django.conf import settings

from provisioning import kubectl
from provisioning.errors import CommandFailed, ProvisioningError
from provisioning.steps import StepContext
from stores.models import Engine, Store


class EngineSetupFailed(ProvisioningError):
    code = "ENGINE_SETUP_FAILED"
    retryable = False


# Medusa's CLI takes the password only as an argument, so a constant script hands it over from the environment
# (which kubectl.exec fills from stdin): no tenant value is ever part of the script.
MEDUSA_CREATE_USER = 'exec medusa user -e "$ADMIN_EMAIL" -p "$ADMIN_PASSWORD"'
# Logs in to the Medusa admin API from inside the pod; exit 0 only on a token.
MEDUSA_LOGIN_CHECK = (
    "fetch('http://127.0.0.1:9000/admin/auth/token',{method:'POST',headers:{'content-type':'application/json'},"
    "body:JSON.stringify({email:process.env.ADMIN_EMAIL,password:process.env.ADMIN_PASSWORD})})"
    ".then(r=>r.json().then(b=>process.exit(r.status===200&&b.access_token?0:1)))"
    ".catch(()=>process.exit(2))"
)


# The WP-CLI calls after the install, in one exec (each exec is an API round trip and a PHP start): activate
# WooCommerce, apply the theme, set the currency, then prove the plugin is active. Constant script; the theme ($1)
# and WP-CLI's own options ("$@") arrive as argv items, which the shell expands but never parses as code.
WOOCOMMERCE_CONFIGURE = """set -e
theme=$1; shift
wp plugin activate woocommerce "$@"
if [ -n "$theme" ]; then
  wp option update template "$theme" "$@"
  wp option update stylesheet "$theme" "$@"
fi
wp option update woocommerce_currency USD "$@"
wp plugin is-active woocommerce "$@" || { echo "WooCommerce did not activate." >&2; exit 3; }
"""
WOOCOMMERCE_INACTIVE = 3


def component_pod(store: Store, component: str) -> str:
    pods = kubectl.get_pods(store.namespace, selector=f"app.kubernetes.io/component={component}")
    running = [p for p in pods if p.phase == "Running" and p.ready]
    if not running:
        raise EngineSetupFailed(f"No ready {component} pod found in namespace {store.namespace}.")
    return running[0].name


def _exec(ctx: StepContext, store: Store, pod: str, container: str, argv: list[str], **kwargs):
    timeout = kwargs.pop("timeout", settings.ENGINE_SETUP_TIMEOUT_SECONDS)
    result = kubectl.exec(store.namespace, pod, container, argv, timeout=timeout, **kwargs)
    ctx.ran(result.argv)
    return result


def _wp_options() -> list[str]:
    return [f"--path={settings.WORDPRESS_PATH}"] if settings.WORDPRESS_PATH else []


def _wp(ctx: StepContext, store: Store, pod: str, *args: str, **kwargs):
    return _exec(ctx, store, pod, "wordpress", ["wp", *args, *_wp_options()], **kwargs)


def setup_woocommerce(ctx: StepContext, store: Store, *, url: str, email: str, password: str) -> None:
    """Install WordPress (once), activate WooCommerce and the chosen theme, and check the plugin is active."""
    pod = component_pod(store, "wordpress")
    try:
        _wp(ctx, store, pod, "core", "is-installed")
        installed = True
    except CommandFailed as error:
        if error.returncode != 1:
            raise
        installed = False
    if not installed:
        _wp(
            ctx,
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
    try:
        configure = ["sh", "-c", WOOCOMMERCE_CONFIGURE, "sh", store.theme or "", *_wp_options()]
        _exec(ctx, store, pod, "wordpress", configure)
    except CommandFailed as error:
        if error.returncode == WOOCOMMERCE_INACTIVE:
            raise EngineSetupFailed("WooCommerce did not activate.") from error
        raise


def set_woocommerce_password(ctx: StepContext, store: Store, *, password: str) -> None:
    pod = component_pod(store, "wordpress")
    _wp(
        ctx,
        store,
        pod,
        "user",
        "update",
        "admin",
        "--prompt=user_pass",
        stdin=password.encode() + b"\n",
        secrets=[password],
    )


def setup_medusa(ctx: StepContext, store: Store, *, email: str, password: str) -> None:
    """Create the Medusa admin user (once) and prove it can log in to the admin API."""
    pod = component_pod(store, "medusa")
    env = {"ADMIN_EMAIL": email, "ADMIN_PASSWORD": password}
    try:
        _exec(ctx, store, pod, "medusa", ["sh", "-c", MEDUSA_CREATE_USER], env=env)
    except CommandFailed as error:
        if "already exists" not in error.stderr_tail and "duplicate key" not in error.stderr_tail:
            raise
    check_medusa_login(ctx, store, pod=pod, email=email, password=password)


def check_medusa_login(ctx: StepContext, store: Store, *, pod: str, email: str, password: str) -> None:
    try:
        _exec(
            ctx,
            store,
            pod,
            "medusa",
            ["node", "-e", MEDUSA_LOGIN_CHECK],
            env={"ADMIN_EMAIL": email, "ADMIN_PASSWORD": password},
            timeout=60,
        )
    except CommandFailed as error:
        raise EngineSetupFailed("The Medusa admin user cannot log in to the admin API.") from error


def set_medusa_password(ctx: StepContext, store: Store, *, email: str, old_password: str, password: str) -> None:
    """Medusa v1 has no CLI for it: the admin API changes the password (login with the old one first)."""
    pod = component_pod(store, "medusa")
    script = (
        "const h={'content-type':'application/json'};const base='http://127.0.0.1:9000/admin';"
        "fetch(base+'/auth/token',{method:'POST',headers:h,body:JSON.stringify({email:process.env.ADMIN_EMAIL,"
        "password:process.env.OLD_PASSWORD})}).then(r=>r.json()).then(t=>{const a={...h,authorization:'Bearer '+"
        "t.access_token};return fetch(base+'/users',{headers:a}).then(r=>r.json()).then(u=>{const me=u.users.find("
        "x=>x.email===process.env.ADMIN_EMAIL);return fetch(base+'/users/'+me.id,{method:'POST',headers:a,"
        "body:JSON.stringify({password:process.env.NEW_PASSWORD})})})}).then(r=>process.exit(r.status===200?0:1))"
        ".catch(()=>process.exit(2))"
    )
    env = {"ADMIN_EMAIL": email, "OLD_PASSWORD": old_password, "NEW_PASSWORD": password}
    _exec(ctx, store, pod, "medusa", ["node", "-e", script], env=env, timeout=60)
    check_medusa_login(ctx, store, pod=pod, email=email, password=password)


def setup_engine(ctx: StepContext, store: Store, *, url: str, email: str, password: str) -> None:
    if store.engine == Engine.WOOCOMMERCE:
        setup_woocommerce(ctx, store, url=url, email=email, password=password)
    else:
        setup_medusa(ctx, store, email=email, password=password)
