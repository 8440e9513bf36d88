"""A Medusa store's platform secrets and helm values: the storefront's publishable key (generated once per store in
Medusa's format, kept across retries, passed to the storefront), and Medusa's CORS origins with the ingress port."""

import re

import pytest

from provisioning.values import ENGINE_SECRETS, _generate, ensure_secrets, helm_values, secret_values, store_host
from stores.models import Engine, Store
from stores.tests.factories import StoreFactory

PUBLISHABLE_KEY = re.compile(r"pk_[0-9a-f]{64}")


def test_the_publishable_key_is_medusas_prefix_and_64_lowercase_hex_and_random():
    keys = {_generate("publishableKey") for _ in range(20)}
    assert len(keys) == 20
    assert all(PUBLISHABLE_KEY.fullmatch(key) for key in keys)
    # The other secrets keep their url-safe form (the key's format is its own).
    assert not _generate("jwtSecret").startswith("pk_")


def test_only_medusa_stores_have_a_publishable_key():
    assert "publishableKey" in ENGINE_SECRETS[Engine.MEDUSA]
    assert "publishableKey" not in ENGINE_SECRETS[Engine.WOOCOMMERCE]


@pytest.mark.django_db
def test_ensure_secrets_generates_the_key_once_and_keeps_it():
    store = StoreFactory(engine=Engine.MEDUSA, theme=None)
    first = ensure_secrets(store)
    assert PUBLISHABLE_KEY.fullmatch(first["publishableKey"])
    again = ensure_secrets(Store.objects.get(pk=store.pk))
    assert again == first
    assert Store.objects.get(pk=store.pk).secrets["publishableKey"] == first["publishableKey"]


@pytest.mark.django_db
def test_a_store_made_before_the_key_existed_gets_one_and_keeps_its_other_secrets():
    older = {"jwtSecret": "j" * 43, "cookieSecret": "c" * 43, "dbPassword": "d" * 24, "adminPassword": "a" * 24}
    store = StoreFactory(engine=Engine.MEDUSA, theme=None, secrets=dict(older))
    secrets = ensure_secrets(store)
    assert {k: v for k, v in secrets.items() if k != "publishableKey"} == older
    assert PUBLISHABLE_KEY.fullmatch(secrets["publishableKey"])
    assert Store.objects.get(pk=store.pk).secrets == secrets


@pytest.mark.django_db
def test_helm_values_pass_the_key_to_the_storefront_and_the_store_origin_to_medusa(settings):
    settings.STORE_DOMAIN_SUFFIX, settings.STORE_INGRESS_PORT, settings.STORE_URL_SCHEME = ".localhost", 8080, "http"
    store = StoreFactory(engine=Engine.MEDUSA, theme=None)
    secrets = ensure_secrets(store)
    values = helm_values(store, secrets)
    assert values["storefront"] == {"enabled": True, "publishableKey": secrets["publishableKey"]}
    assert values["medusa"]["corsOrigins"] == [f"http://{store.id}.localhost:8080"]
    assert secrets["publishableKey"] in secret_values(store, secrets)


@pytest.mark.django_db
def test_the_cors_origin_omits_port_80_and_adds_a_missing_dot_to_the_suffix(settings):
    settings.STORE_DOMAIN_SUFFIX, settings.STORE_INGRESS_PORT, settings.STORE_URL_SCHEME = "shops.example", 80, "http"
    store = StoreFactory(engine=Engine.MEDUSA, theme=None)
    assert store_host(store) == f"{store.id}.shops.example"
    assert helm_values(store, ensure_secrets(store))["medusa"]["corsOrigins"] == [f"http://{store.id}.shops.example"]


@pytest.mark.django_db
def test_a_woocommerce_store_gets_no_storefront_values():
    store = StoreFactory(engine=Engine.WOOCOMMERCE)
    values = helm_values(store, ensure_secrets(store))
    assert "storefront" not in values and "medusa" not in values
