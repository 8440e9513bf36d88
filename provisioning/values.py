"""The platform's per-store secrets (generated once, stored encrypted, reused on retry and upgrade) and the helm
values they become. Secrets reach helm only through a 0600 values file (helm.values_file)."""

import secrets as random_secrets
from typing import Any

from django.conf import settings

from stores import services as store_services
from stores.models import Engine, Store

# Secret names kept in Store.secrets, per engine.
ENGINE_SECRETS = {
    Engine.WOOCOMMERCE: ("dbRootPassword", "dbPassword", "saltSeed", "adminPassword"),
    # publishableKey: the storefront's Medusa publishable API key. Not a secret (the SPA sends it with every request),
    # but it must stay the same across retries and upgrades, so it lives with the secrets; the engine setup's seed
    # creates the key in Medusa with exactly this id.
    Engine.MEDUSA: ("jwtSecret", "cookieSecret", "dbPassword", "adminPassword", "publishableKey"),
}
_LENGTHS = {"saltSeed": 48, "jwtSecret": 43, "cookieSecret": 43}


def _generate(name: str) -> str:
    if name == "publishableKey":
        return "pk_" + random_secrets.token_hex(32)  # Medusa's key prefix + 64 lowercase hex digits
    return random_secrets.token_urlsafe(_LENGTHS.get(name, 18))  # 18 bytes -> 24 url-safe characters


def ensure_secrets(store: Store) -> dict[str, str]:
    """The store's secrets, generating (and saving, encrypted) any that are missing. The admin password is the one
    the tenant chose at creation when there is one."""
    current = dict(store.secrets or {})
    missing = [name for name in ENGINE_SECRETS[store.engine] if not current.get(name)]
    if not missing:
        return current
    chosen = (store.admin_credentials or {}).get("password")

    def fill(stored: dict[str, str]) -> dict[str, str]:  # on the row as stored now, under its lock
        for name in ENGINE_SECRETS[store.engine]:
            if not stored.get(name):
                stored[name] = chosen if (name == "adminPassword" and chosen) else _generate(name)
        return stored

    store.secrets = store_services.store_update_secrets(store_id=store.pk, change=fill).secrets
    return dict(store.secrets)


def admin_email(store: Store) -> str:
    return store.owner.email


def secret_values(store: Store, secrets: dict[str, str]) -> list[str]:
    """Every secret value, for redaction of anything a command prints."""
    return [v for v in secrets.values() if v]


def helm_values(store: Store, secrets: dict[str, str]) -> dict[str, Any]:
    """The values file of one store: identity, ingress host suffix, and the engine's secrets (the chart's names)."""
    values: dict[str, Any] = {
        "engine": store.engine,
        "storeId": store.id,
        "storeName": store.name,
        "ingress": {"hostSuffix": settings.STORE_DOMAIN_SUFFIX},
    }
    email = admin_email(store)
    if store.engine == Engine.WOOCOMMERCE:
        values["wordpress"] = {
            "admin": {"username": "admin", "email": email, "password": secrets["adminPassword"]},
            "saltSeed": secrets["saltSeed"],
        }
        values["mariadb"] = {"rootPassword": secrets["dbRootPassword"], "password": secrets["dbPassword"]}
    else:
        values["medusa"] = {
            "jwtSecret": secrets["jwtSecret"],
            "cookieSecret": secrets["cookieSecret"],
            "admin": {"email": email, "password": secrets["adminPassword"]},
            # The browser's origin (with the ingress port, which the chart does not know) for Medusa's CORS.
            "corsOrigins": [store_url(store_host(store))],
        }
        values["postgresql"] = {"password": secrets["dbPassword"]}
        values["storefront"] = {"enabled": True, "publishableKey": secrets["publishableKey"]}
    # The tenant's chart values (an upgrade's image tags, validated by stores.services), recorded on the store so
    # every later install, retry and upgrade keeps them.
    return store_services.merged_chart_values(values, store.chart_values or {})


def store_host(store: Store) -> str:
    """The store's host as the chart names it: "<store id><ingress.hostSuffix>" (a missing leading dot added)."""
    suffix = settings.STORE_DOMAIN_SUFFIX
    return store.id + (suffix if suffix.startswith(".") else "." + suffix)


def store_url(host: str) -> str:
    port = settings.STORE_INGRESS_PORT
    suffix = "" if port in (80, 443, 0) else f":{port}"
    return f"{settings.STORE_URL_SCHEME}://{host}{suffix}"


def admin_path(store: Store) -> str:
    return "/wp-admin" if store.engine == Engine.WOOCOMMERCE else "/admin"
