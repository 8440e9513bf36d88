"""Password propagation to ready stores (the worker side with scripted tools, and the API's bounded wait), and the
tasks' retry decisions."""

import pytest

from provisioning import services, tasks
from provisioning.errors import ClusterUnreachable
from provisioning.models import ProvisioningRun, RunStatus
from stores.models import Store
from stores.tests.factories import StoreFactory
from stores.tests.helpers import UNREADABLE_TOKEN, make_unreadable, stored

pytestmark = pytest.mark.django_db


def ready_woo(owner=None, password="old-admin-pass"):  # noqa: S107
    kwargs = {"owner": owner} if owner else {}
    store = StoreFactory(status="ready", secrets={"adminPassword": password}, **kwargs)
    Store.objects.filter(pk=store.pk).update(
        admin_credentials={"email": store.owner.email, "username": "admin", "password": password}
    )
    return Store.objects.get(pk=store.pk)


def test_the_worker_applies_a_pending_password_by_stdin(cluster):
    store = ready_woo()
    Store.objects.filter(pk=store.pk).update(
        secrets={"adminPassword": "old-admin-pass", "pendingAdminPassword": "n3w-pass!"}
    )
    assert services.update_store_password(store.id, task_id="t-1") == "updated"
    store.refresh_from_db()
    assert store.admin_credentials["password"] == "n3w-pass!" and store.secrets == {"adminPassword": "n3w-pass!"}
    (call,) = [c for c in cluster.kubectl.calls if "exec" in c["argv"]]
    assert "--prompt=user_pass" in call["argv"] and call["stdin"] == "n3w-pass!\n"
    assert "n3w-pass!" not in str(call["argv"])
    run = ProvisioningRun.objects.get(store=store, task_id="t-1")
    assert run.status == RunStatus.SUCCEEDED and "n3w-pass!" not in str(run.argv)


def test_a_failed_update_keeps_the_old_password(cluster):
    cluster.control.set(kubectl="setup")
    store = ready_woo()
    Store.objects.filter(pk=store.pk).update(
        secrets={"adminPassword": "old-admin-pass", "pendingAdminPassword": "n3w-pass!"}
    )
    assert services.update_store_password(store.id) == "failed"
    store.refresh_from_db()
    assert store.admin_credentials["password"] == "old-admin-pass" and store.secrets == {
        "adminPassword": "old-admin-pass"
    }


def test_the_api_reports_each_store_without_waiting_for_the_workers(tenant, tenant_api):
    import time

    from accounts.tests.factories import DEFAULT_PASSWORD

    store = ready_woo(owner=tenant)
    StoreFactory(owner=tenant, status="failed")  # only ready stores are touched
    started = time.monotonic()
    response = tenant_api.patch(
        "/api/v1/auth/password", {"currentPassword": DEFAULT_PASSWORD, "newPassword": "brand-new-pass"}, format="json"
    )
    assert time.monotonic() - started < 5  # no worker runs in this test: a request that polled for it would wait
    assert response.status_code == 200
    assert response.json()["propagation"] == {
        "totalStores": 1,
        "successful": 0,
        "failed": 1,
        "details": [{"storeId": store.id, "success": False, "reason": services.IN_PROGRESS_REASON}],
    }
    assert Store.objects.get(pk=store.pk).secrets["pendingAdminPassword"] == "brand-new-pass"


def another_process_writes(store_id: str, **secrets) -> None:
    """What a web request in another process does to the row meanwhile (outside this process's objects)."""
    current = Store.objects.get(pk=store_id).secrets
    Store.objects.filter(pk=store_id).update(secrets={**current, **secrets})


def test_a_password_changed_again_while_the_worker_applies_the_first_is_not_lost(cluster, monkeypatch):
    from provisioning import setup

    store = ready_woo()
    another_process_writes(store.id, pendingAdminPassword="first-pass!")
    real = setup.set_woocommerce_password

    def apply_while_the_tenant_changes_it_again(ctx, store, *, password):
        real(ctx, store, password=password)
        another_process_writes(store.id, pendingAdminPassword="second-pass!")

    monkeypatch.setattr(setup, "set_woocommerce_password", apply_while_the_tenant_changes_it_again)
    assert services.update_store_password(store.id) == "updated"
    secrets = Store.objects.get(pk=store.pk).secrets
    assert secrets == {"adminPassword": "first-pass!", "pendingAdminPassword": "second-pass!"}


def test_a_store_whose_secrets_no_key_decrypts_is_reported_and_the_others_still_change(tenant, tenant_api):
    from accounts.tests.factories import DEFAULT_PASSWORD

    unreadable, fine = ready_woo(owner=tenant), ready_woo(owner=tenant)
    make_unreadable(unreadable, "secrets")
    response = tenant_api.patch(
        "/api/v1/auth/password", {"currentPassword": DEFAULT_PASSWORD, "newPassword": "brand-new-pass"}, format="json"
    )
    assert response.status_code == 200
    details = {d["storeId"]: d for d in response.json()["propagation"]["details"]}
    assert details[unreadable.id] == {
        "storeId": unreadable.id,
        "success": False,
        "reason": services.SECRETS_UNREADABLE_REASON,
    }
    assert Store.objects.get(pk=fine.pk).secrets["pendingAdminPassword"] == "brand-new-pass"
    assert stored(unreadable)[2] == UNREADABLE_TOKEN


def test_a_retryable_failure_becomes_a_celery_retry(monkeypatch, settings):
    settings.PROVISIONING_TASK_MAX_RETRIES = 3
    seen = {}

    def failing(store_id, *, attempt, task_id, final):
        seen.update(attempt=attempt, final=final)
        raise ClusterUnreachable(argv=["kubectl"], returncode=1, stderr_tail="Unable to connect to the server")

    monkeypatch.setattr(services, "provision", failing)
    from celery.exceptions import Retry

    with pytest.raises(Retry):
        tasks.provision_store.apply(args=["store-00000000"], throw=True)
    assert seen == {"attempt": 0, "final": False}


def test_generating_missing_secrets_keeps_what_another_process_wrote_meanwhile():
    from provisioning.values import ENGINE_SECRETS, ensure_secrets

    store = StoreFactory(status="provisioning", secrets={"adminPassword": "old-admin-pass"})
    stale = Store.objects.get(pk=store.pk)  # the worker's copy, read before the web request below
    another_process_writes(store.id, pendingAdminPassword="n3w-pass!")
    returned = ensure_secrets(stale)
    stored = Store.objects.get(pk=store.pk).secrets
    assert stored["pendingAdminPassword"] == "n3w-pass!"
    assert set(ENGINE_SECRETS["woocommerce"]) <= set(stored) and stored["adminPassword"] == "old-admin-pass"
    assert returned == stored
