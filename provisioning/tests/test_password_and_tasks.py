"""Password propagation to ready stores (the worker side with scripted tools, and the API's bounded wait), and the
tasks' retry decisions."""

import dataclasses

import pytest

from audit.models import AuditEvent, EventType
from provisioning import services, tasks
from provisioning.errors import OperationFailed
from provisioning.models import ProvisioningRun, RunStatus
from stores import services as store_services
from stores.models import Store
from stores.tests.factories import StoreFactory
from stores.tests.helpers import UNREADABLE_TOKEN, make_unreadable, stored

pytestmark = pytest.mark.django_db
UNREACHABLE = "The Kubernetes cluster could not be reached."


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

    def apply_while_the_tenant_changes_it_again(store, *, password):
        real(store, password=password)
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


def test_a_retryable_failure_becomes_a_celery_retry_and_marks_nothing(monkeypatch, settings):
    settings.PROVISIONING_TASK_MAX_RETRIES = 3
    store = StoreFactory(status="provisioning")
    seen = {}

    def failing(store_id, *, attempt, task_id):  # the operation sees no "final" flag: the task decides
        seen.update(attempt=attempt)
        raise OperationFailed(UNREACHABLE, code="CLUSTER_UNREACHABLE", retryable=True)

    monkeypatch.setattr(services, "CREATE", dataclasses.replace(services.CREATE, body=failing))
    from celery.exceptions import Retry

    with pytest.raises(Retry):
        tasks.provision_store.apply(args=[store.id], throw=True)
    assert seen == {"attempt": 0}
    store.refresh_from_db()
    assert (store.status, store.failure_reason) == ("provisioning", None)


def test_the_last_retry_gives_up_and_the_operation_records_its_failure(monkeypatch, settings):
    settings.PROVISIONING_TASK_MAX_RETRIES = 0
    store = StoreFactory(status="provisioning")

    def failing(store_id, *, attempt, task_id):
        raise OperationFailed(UNREACHABLE, code="CLUSTER_UNREACHABLE", retryable=True)

    monkeypatch.setattr(services, "CREATE", dataclasses.replace(services.CREATE, body=failing))
    assert tasks.provision_store.apply(args=[store.id], throw=True).get() == "failed"
    store.refresh_from_db()
    assert (store.status, store.failure_reason) == ("failed", UNREACHABLE)
    event = AuditEvent.objects.filter(store_id=store.id, new_status="failed").get()
    assert event.metadata["errorCode"] == "CLUSTER_UNREACHABLE" and event.metadata["retryable"] is True


def test_a_password_the_cluster_could_not_take_is_retried_by_the_task_then_given_up(cluster, settings):
    """The password task has the chains' shape: a retryable failure is a Celery retry with nothing settled; the
    last try gives up, the old password still works and the activity log says so."""
    from celery.exceptions import Retry

    cluster.control.set(kubectl="unreachable")
    store = ready_woo()
    store_services.store_set_pending_admin_password(store_id=store.id, password="n3w-pass!")
    settings.PROVISIONING_TASK_MAX_RETRIES = 2
    with pytest.raises(Retry):
        tasks.update_store_password.apply(args=[store.id], throw=True)
    assert Store.objects.get(pk=store.pk).secrets["pendingAdminPassword"] == "n3w-pass!"  # still waiting

    settings.PROVISIONING_TASK_MAX_RETRIES = 0
    assert tasks.update_store_password.apply(args=[store.id], throw=True).get() == "failed"
    store.refresh_from_db()
    assert store.secrets == {"adminPassword": "old-admin-pass"} and store.admin_credentials["password"] == (
        "old-admin-pass"
    )
    warning = AuditEvent.objects.filter(store_id=store.id, event_type=EventType.WARNING).latest("created_at")
    assert warning.message.startswith("Store admin password not updated (the old one still works): ")
    assert "n3w-pass!" not in warning.message


def test_giving_up_on_a_password_keeps_a_newer_change_for_its_own_task(cluster, monkeypatch):
    from provisioning import setup

    cluster.control.set(kubectl="setup")
    store = ready_woo()
    store_services.store_set_pending_admin_password(store_id=store.id, password="first-pass!")
    real = setup.set_woocommerce_password

    def fail_while_the_tenant_changes_it_again(store, *, password):
        store_services.store_set_pending_admin_password(store_id=store.id, password="second-pass!")
        real(store, password=password)

    monkeypatch.setattr(setup, "set_woocommerce_password", fail_while_the_tenant_changes_it_again)
    assert services.update_store_password(store.id) == "failed"
    secrets = Store.objects.get(pk=store.pk).secrets
    assert secrets["adminPassword"] == "old-admin-pass" and secrets["pendingAdminPassword"] == "second-pass!"


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


def test_a_suspended_store_gets_the_new_password_when_it_runs_again(tenant, tenant_api, monkeypatch):
    """A password change reaches a suspended store too: it waits in the store's secrets (no task now: there is no
    pod to run WP-CLI in), and the chain that makes the store ready again hands it to a worker."""
    from accounts.tests.factories import DEFAULT_PASSWORD
    from stores.models import LifecycleStatus
    from stores.tests.helpers import queued_tasks

    running, suspended = ready_woo(owner=tenant), ready_woo(owner=tenant)
    Store.objects.filter(pk=suspended.pk).update(status=LifecycleStatus.SUSPENDED)
    response = tenant_api.patch(
        "/api/v1/auth/password", {"currentPassword": DEFAULT_PASSWORD, "newPassword": "brand-new-pass"}, format="json"
    )
    assert response.status_code == 200
    propagation = response.json()["propagation"]
    assert propagation["totalStores"] == 2
    reasons = {d["storeId"]: d["reason"] for d in propagation["details"]}
    assert reasons[running.id] == services.IN_PROGRESS_REASON
    assert reasons[suspended.id] == "Waiting: the store is suspended; the new password is applied when it runs again."
    for store in (running, suspended):
        assert Store.objects.get(pk=store.pk).secrets["pendingAdminPassword"] == "brand-new-pass"
    assert [args for name, args, _ in queued_tasks() if name == services.PASSWORD_TASK] == [[running.id]]

    # The store runs again (its resume chain ends it ready): the change goes to its worker.
    Store.objects.filter(pk=suspended.pk).update(status="ready")
    monkeypatch.setattr(services, "_operate", lambda chain, store_id, **kw: "ready")
    assert services.Chain("resume", "resuming", "Resumption", lambda run, secrets: "ready").run(suspended.id) == "ready"
    queued = [args for name, args, _ in queued_tasks() if name == services.PASSWORD_TASK]
    assert queued == [[running.id], [suspended.id]]
    # A store with nothing pending gets no task.
    assert services.hand_over_pending_password(StoreFactory(status="ready").id) is False
