"""A chain yields to whoever owns the store now (STYLE habit 16): an operator's force-delete during a step, or a
store lock that is no longer ours, stops the create chain without marking anything, one audit row says why, and
the deletion proceeds (it waits for the lock instead of failing on StoreBusy)."""

import threading
import time

import pytest
from django.db import connection

from audit.models import AuditEvent
from provisioning import concurrency, helm, services
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.tests.conftest import wait_until
from stores import services as store_services
from stores.models import Store
from stores.tests.factories import StoreFactory


def story(store: Store) -> list[tuple[str | None, str | None, str]]:
    """The store's audit trail as (previous, new, message), oldest first."""
    rows = AuditEvent.objects.filter(store_id=store.id).order_by("id")
    return [(r.previous_status, r.new_status, r.message) for r in rows]


def provision_in_background(store: Store) -> tuple[threading.Thread, dict[str, object]]:
    """The create chain in a thread, as a worker runs it; the dict gets its result and how long it took."""
    outcome: dict[str, object] = {}

    def create() -> None:
        started = time.monotonic()
        try:
            outcome["result"] = services.provision(store.id)
        finally:
            outcome["seconds"] = time.monotonic() - started
            connection.close()

    worker = threading.Thread(target=create)
    worker.start()
    return worker, outcome


@pytest.mark.django_db(transaction=True)
def test_a_force_delete_while_helm_installs_stops_the_chain_and_the_store_is_deleted(
    cluster, admin_user, settings, tmp_path
):
    cluster.control.set(helm="slow", seconds="30")
    settings.STORE_LOCK_WAIT_SECONDS = 20
    store = StoreFactory()
    worker, outcome = provision_in_background(store)
    try:
        wait_until(
            lambda: ProvisioningRun.objects.filter(store=store, step="helm_install", status=RunStatus.RUNNING).exists(),
            message="helm to be installing",
        )
        store_services.store_force_delete(store_id=store.id, actor=admin_user)
        # The create chain still holds the store's lock: the deletion waits for it rather than failing busy.
        assert services.delete(store.id) == "deleted"
    finally:
        worker.join(timeout=60)
    assert outcome["result"] == "superseded"
    assert outcome["seconds"] < 15  # helm was stopped, not waited for (it sleeps 30 s)
    assert not (tmp_path / "record.jsonl.slow-finished").exists()  # and killed: it never got to finish
    store.refresh_from_db()
    assert store.status == "deleted"
    assert ProvisioningRun.objects.get(store=store, step="helm_install").status == RunStatus.FAILED
    assert not ProvisioningRun.objects.filter(store=store, status=RunStatus.RUNNING).exists()
    assert not ProvisioningRun.objects.filter(store=store, operation="create", step="readiness").exists()
    trail = story(store)
    assert trail[-1] == ("deleting", "deleted", "Store deleted; namespace and release removed")
    moves = [(previous, new) for previous, new, _ in trail if new]
    assert moves == [
        ("requested", "provisioning"),
        ("provisioning", "failed"),
        ("failed", "deleting"),
        ("deleting", "deleted"),
    ]
    (stopped,) = [message for _, new, message in trail if message.startswith("Provisioning stopped")]
    assert "now deleting" in stopped
    assert not any("Internal error" in message for _, _, message in trail)


def _install_then(action, monkeypatch):
    """helm upgrade --install succeeds, and then `action()` happens before the chain's next step."""
    real = helm.upgrade_install

    def install_and_act(*args, **kwargs):
        result = real(*args, **kwargs)
        action()
        return result

    monkeypatch.setattr(helm, "upgrade_install", install_and_act)


@pytest.mark.django_db
def test_a_store_force_deleted_between_steps_is_left_to_its_deletion(cluster, admin_user, monkeypatch):
    store = StoreFactory()
    _install_then(lambda: store_services.store_force_delete(store_id=store.id, actor=admin_user), monkeypatch)
    assert services.provision(store.id) == "superseded"
    store.refresh_from_db()
    assert store.status == "deleting" and store.failure_reason == "Force-deleted by an operator."
    steps = list(ProvisioningRun.objects.filter(store=store).order_by("id").values_list("step", "status"))
    assert steps == [
        ("namespace", RunStatus.SUCCEEDED),
        ("release_check", RunStatus.SUCCEEDED),
        ("helm_install", RunStatus.SUCCEEDED),
    ]
    last = AuditEvent.objects.filter(store_id=store.id).latest("id")
    assert last.metadata == {"action": "superseded", "operation": "create", "status": "deleting"}
    assert last.message.startswith("Provisioning stopped") and "now deleting" in last.message
    assert services.delete(store.id) == "deleted"


@pytest.mark.django_db
def test_a_chain_whose_store_lock_expired_stops_and_marks_nothing(cluster, monkeypatch):
    from core.redis import get_redis

    store = StoreFactory()

    def expire_and_taken_by_another() -> None:
        get_redis().set(concurrency.store_lock_key(store.id), "another-holder", px=60_000)

    _install_then(expire_and_taken_by_another, monkeypatch)
    assert services.provision(store.id) == "superseded"
    store.refresh_from_db()
    assert store.status == "provisioning" and store.failure_reason is None  # recovery takes it from here
    assert not ProvisioningRun.objects.filter(store=store, step="readiness").exists()
    last = AuditEvent.objects.filter(store_id=store.id).latest("id")
    assert "lock on store" in last.message and last.metadata["action"] == "superseded"


@pytest.mark.django_db
def test_a_chain_whose_store_lock_redis_lost_takes_it_back_and_goes_on(cluster, monkeypatch):
    """Redis restarted empty: the lock is free, nobody took it, the store is still the chain's: it goes on."""
    from core.redis import get_redis

    store = StoreFactory()
    _install_then(lambda: get_redis().delete(concurrency.store_lock_key(store.id)), monkeypatch)
    assert services.provision(store.id) == "ready"
    assert not get_redis().exists(concurrency.store_lock_key(store.id))  # released at the end, as always


@pytest.mark.django_db
def test_an_operator_marking_a_deletion_failed_stops_the_delete_chain(cluster, admin_user, monkeypatch):
    store = StoreFactory(status="deleting")
    real = helm.uninstall

    def uninstall_then_stop(*args, **kwargs):
        result = real(*args, **kwargs)
        store_services.store_operator_mark_failed(store_id=store.id, actor=admin_user, reason="looking into it")
        return result

    monkeypatch.setattr(helm, "uninstall", uninstall_then_stop)
    assert services.delete(store.id) == "superseded"
    store.refresh_from_db()
    assert store.status == "failed" and store.failure_reason == "looking into it"
    assert not ProvisioningRun.objects.filter(store=store, step="namespace_delete").exists()


@pytest.mark.django_db
def test_a_deletion_waits_a_bounded_time_for_the_store_lock(cluster, settings):
    store = StoreFactory(status="deleting")
    held = concurrency.acquire_store_lock(store.id)
    releaser = threading.Timer(1.0, held.release)
    releaser.start()
    try:
        assert services.delete(store.id) == "deleted"
    finally:
        releaser.join()
    settings.STORE_LOCK_WAIT_SECONDS = 1
    other = StoreFactory(status="deleting")
    with concurrency.store_lock(other.id), pytest.raises(Exception, match="already running"):
        services.delete(other.id)
    assert Store.objects.get(pk=other.pk).status == "deleting"


@pytest.mark.django_db(transaction=True)
def test_a_force_delete_while_waiting_for_the_store_to_be_served_stops_the_wait(cluster, admin_user, settings):
    cluster.ingress.status = 502  # the controller never serves it: the chain would wait its whole timeout
    settings.STORE_SERVE_TIMEOUT_SECONDS = 60
    settings.STORE_LOCK_WAIT_SECONDS = 20
    store = StoreFactory()
    worker, outcome = provision_in_background(store)
    try:
        wait_until(
            lambda: ProvisioningRun.objects.filter(store=store, step="served", status=RunStatus.RUNNING).exists(),
            message="the chain to wait for the store to be served",
        )
        store_services.store_force_delete(store_id=store.id, actor=admin_user)
        assert services.delete(store.id) == "deleted"
    finally:
        worker.join(timeout=90)
    assert outcome["result"] == "superseded"
    assert outcome["seconds"] < 30  # the wait stopped when the store moved on, not at its 60 s timeout
    store.refresh_from_db()
    assert store.status == "deleted" and store.storefront_url is None
    assert not ProvisioningRun.objects.filter(store=store, operation="create", step="ready").exists()
