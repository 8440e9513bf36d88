"""Every log line of a full create -> ready -> delete (and of a failing install whose tool echoes the secrets back)
is parsed as JSON and searched for every secret involved: none may appear."""

import json
import logging

import pytest

from accounts.services import tokens_for
from core.tests.test_logging import json_lines
from provisioning import services
from stores.models import Store

pytestmark = pytest.mark.django_db


def secrets_of(store: Store, *extra: str) -> list[str]:
    store.refresh_from_db()
    return [v for v in (*store.secrets.values(), *extra) if v]


@pytest.fixture
def debug_logs():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    yield
    root.setLevel(level)


def test_create_ready_delete_logs_no_secret(
    cluster, tenant, tenant_api, debug_logs, django_capture_on_commit_callbacks
):
    token = tokens_for(tenant).access
    with json_lines() as lines:
        with django_capture_on_commit_callbacks(execute=True):
            response = tenant_api.post(
                "/api/v1/stores",
                {"name": "log-shop", "engine": "woocommerce", "password": "Tenant-Store-Pw-1"},
                format="json",
            )
        store_id = response.json()["store"]["id"]
        assert services.provision(store_id) == "ready"
        assert tenant_api.get(f"/api/v1/stores/{store_id}").json()["store"]["adminCredentials"]["password"]
        with django_capture_on_commit_callbacks(execute=True):
            assert tenant_api.delete(f"/api/v1/stores/{store_id}").status_code == 202
        assert services.delete(store_id) == "deleted"
    store = Store.objects.get(pk=store_id)
    assert len(lines) >= 10
    assert {line.get("store_id") for line in lines} >= {store_id}
    assert any(line.get("step") == "helm_install" for line in lines)
    text = json.dumps(lines)
    for secret in secrets_of(store, "Tenant-Store-Pw-1", token):
        assert secret not in text


def test_a_failing_install_that_echoes_the_values_logs_no_secret(cluster, tenant, debug_logs):
    from stores.services import store_create

    cluster.control.set(helm="install")  # the fake prints the whole values file to stderr, like a chatty tool
    store = store_create(owner=tenant, name="chatty", engine="medusa", password="Tenant-Store-Pw-2")
    with json_lines() as lines:
        assert services.provision(store.id) == "failed"
    text = json.dumps(lines)
    assert "helm_install" in text
    for secret in secrets_of(store, "Tenant-Store-Pw-2"):
        assert secret not in text
