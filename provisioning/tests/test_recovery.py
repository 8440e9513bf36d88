"""Recovery and reconciliation sweeps (and their commands): what lost workers left behind is finished or failed
cleanly (a lifecycle operation resumed a bounded number of times, a lost backup failed with its reason), dry runs
change nothing, and a sweep makes a constant number of cluster calls."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from core.redis import get_redis
from provisioning import concurrency, recovery
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.recovery import reconcile, recover
from stores import services as store_services
from stores.models import Store
from stores.services import DELETE_TASK, PROVISION_TASK
from stores.tests.factories import StoreFactory
from stores.tests.helpers import UNREADABLE_TOKEN, make_unreadable, queued_tasks, stored

pytestmark = pytest.mark.django_db


def idle(store, minutes=10):
    Store.objects.filter(pk=store.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))
    return store


def test_recovery_acts_on_idle_unlocked_stores_only(cluster):
    requested = idle(StoreFactory(status="requested"))
    provisioning = idle(StoreFactory(status="provisioning"))
    deleting = idle(StoreFactory(status="deleting"))
    fresh = StoreFactory(status="provisioning")  # a worker may be just starting
    held = idle(StoreFactory(status="provisioning"))
    ProvisioningRun.objects.create(store=provisioning, operation="create", step="helm_install")
    with concurrency.store_lock(held.id):
        lines = recover()
    assert sorted(lines) == sorted(
        [
            f"{requested.id} requested: re-enqueued provisioning",
            f"{provisioning.id} provisioning: failed (worker lost); release: install",
            f"{deleting.id} deleting: deletion resumed",
        ]
    )
    provisioning.refresh_from_db()
    assert provisioning.status == "failed" and "Safe to retry" in provisioning.failure_reason
    assert ProvisioningRun.objects.get(store=provisioning).status == RunStatus.ERRORED
    assert Store.objects.get(pk=fresh.pk).status == "provisioning"
    assert Store.objects.get(pk=held.pk).status == "provisioning"
    assert sorted(queued_tasks()) == sorted(
        [(PROVISION_TASK, [requested.id], None), (DELETE_TASK, [deleting.id], None)]
    )


def test_recovery_rolls_back_a_release_left_pending_after_serving(cluster):
    history = [
        {"revision": 1, "status": "deployed", "chart": "ecommerce-store-1.0.0", "updated": "", "description": ""},
        {
            "revision": 2,
            "status": "pending-upgrade",
            "chart": "ecommerce-store-1.0.0",
            "updated": "",
            "description": "",
        },
    ]
    cluster.control.set(history=json.dumps(history))
    idle(StoreFactory(status="provisioning"))
    (line,) = recover()
    assert line.endswith("release: rollback")
    commands = [c["argv"][0] for c in cluster.helm.calls]
    assert commands == ["history", "rollback"]  # never uninstall a release that served


def test_dry_run_changes_nothing(cluster, capsys):
    store = idle(StoreFactory(status="provisioning"))
    call_command("recover_stores", "--dry-run")
    out = capsys.readouterr().out
    assert f"{store.id} provisioning: would fail (worker lost)" in out
    assert Store.objects.get(pk=store.pk).status == "provisioning"
    assert cluster.helm.calls == [] and queued_tasks() == []


def test_reconcile_fails_ready_stores_whose_namespace_or_release_vanished(cluster, capsys):
    healthy = StoreFactory(status="ready")
    no_namespace = StoreFactory(status="ready")
    nothing_left = StoreFactory(status="ready")
    namespaces = {
        "items": [
            {"metadata": {"name": n, "labels": {}}, "status": {"phase": "Active"}}
            for n in (healthy.id, "store-deadbeef")
        ]
    }
    releases = [
        {"name": s.id, "namespace": s.id, "revision": "1", "status": "deployed", "chart": "c", "updated": ""}
        for s in (healthy, no_namespace)
    ]
    cluster.control.set(namespaces=json.dumps(namespaces), list=json.dumps(releases))
    call_command("reconcile_stores")
    out = capsys.readouterr().out
    assert f"{no_namespace.id} ready: failed (namespace missing)" in out
    assert f"{nothing_left.id} ready: failed (namespace, release missing)" in out
    assert "store-deadbeef: orphaned namespace" in out
    assert Store.objects.get(pk=healthy.pk).status == "ready"
    assert Store.objects.get(pk=no_namespace.pk).status == "failed"
    assert "namespace" in Store.objects.get(pk=no_namespace.pk).failure_reason


def test_a_sweep_makes_the_same_number_of_cluster_calls_for_1_or_20_stores(cluster):
    StoreFactory(status="ready")
    reconcile(dry_run=True)
    few = len(cluster.helm.calls) + len(cluster.kubectl.calls)
    for _ in range(19):
        StoreFactory(status="ready")
    reconcile(dry_run=True)
    many = len(cluster.helm.calls) + len(cluster.kubectl.calls) - few
    assert few == many == 2


def test_a_store_whose_secrets_cannot_be_read_is_recovered_and_keeps_them(cluster):
    """A key lost or changed (CREDENTIALS_ENCRYPTION_KEY) makes one row's secrets unreadable: the sweep recovers
    that store like any other and writes its secrets back untouched (never regenerated over the unreadable ones)."""
    unreadable = StoreFactory(status="provisioning", secrets={"dbPassword": "kept-under-an-old-key"})
    make_unreadable(unreadable, "secrets")
    idle(unreadable)
    requested = idle(StoreFactory(status="requested"))
    lines = recover()
    assert f"{requested.id} requested: re-enqueued provisioning" in lines
    assert any(line.startswith(f"{unreadable.id} provisioning: failed (worker lost)") for line in lines)
    status, _, secrets = stored(unreadable)
    assert (status, secrets) == ("failed", UNREADABLE_TOKEN)


def test_one_store_whose_recovery_fails_does_not_stop_the_sweep(cluster, monkeypatch):
    broken = idle(StoreFactory(status="provisioning"))
    requested = idle(StoreFactory(status="requested"))
    real = recovery._close_open_runs

    def close_open_runs(store, reason):
        if store.pk == broken.pk:
            raise RuntimeError("database hiccup")
        return real(store, reason)

    monkeypatch.setattr(recovery, "_close_open_runs", close_open_runs)
    lines = recover()
    assert f"{broken.id} provisioning: recovery failed (RuntimeError); next sweep retries" in lines
    assert f"{requested.id} requested: re-enqueued provisioning" in lines
    assert Store.objects.get(pk=broken.pk).status == "provisioning"  # left for the next sweep, not half-done


def test_a_lifecycle_operation_that_keeps_losing_its_worker_is_failed_after_the_bound(cluster, settings, capsys):
    """Recovery resumes a suspension whose worker died PROVISIONING_TASK_MAX_RETRIES times; found stuck once more,
    the store is failed with the reason (audited as recovery, its open step row closed) and nothing is enqueued."""
    settings.PROVISIONING_TASK_MAX_RETRIES = 2
    store = StoreFactory(status="ready")
    store_services.store_request_suspend(store_id=store.id, actor=store.owner)
    queued_tasks()  # the request's own task
    for _ in range(2):  # each resumed task's worker dies too, leaving its step row running
        ProvisioningRun.objects.create(store=store, operation="suspend", step="helm_suspend")
        idle(store)
        assert recover() == [f"{store.id} suspending: operation resumed"]
    ProvisioningRun.objects.create(store=store, operation="suspend", step="helm_suspend")
    before = list(get_redis().lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1))

    idle(store)
    call_command("recover_stores", "--dry-run")
    out = capsys.readouterr().out
    assert f"{store.id} suspending: would fail (resumed 2 times already)" in out and "would resume" not in out
    assert Store.objects.get(pk=store.pk).status == "suspending"  # the dry run changed nothing
    assert recover() == [f"{store.id} suspending: failed (resumed 2 times already)"]
    store.refresh_from_db()
    assert store.status == "failed"
    assert store.failure_reason == (
        "The suspension was interrupted 3 times (its worker stopped each time); recovery stopped resuming it. "
        "Retry or delete the store."
    )
    assert list(get_redis().lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1)) == before  # nothing enqueued
    assert not ProvisioningRun.objects.filter(store=store, status=RunStatus.RUNNING).exists()
    last = AuditEvent.objects.filter(store_id=store.id).latest("id")
    assert (last.event_type, last.previous_status, last.new_status) == ("recovery", "suspending", "failed")
    assert last.metadata["action"] == "lifecycle_given_up"
    assert recover() == []  # failed is not recovery's to act on


def test_the_bound_counts_the_current_operation_only(cluster, settings):
    """Resumes of an earlier operation of the store (a suspension that finished) do not count against the next one."""
    settings.PROVISIONING_TASK_MAX_RETRIES = 1
    store = StoreFactory(status="ready")
    store_services.store_request_suspend(store_id=store.id, actor=store.owner)
    idle(store)
    assert recover() == [f"{store.id} suspending: operation resumed"]
    store_services.store_mark_suspended(store_id=store.id)
    store_services.store_request_resume(store_id=store.id, actor=store.owner)
    idle(store)
    assert recover() == [f"{store.id} resuming: operation resumed"]  # the first resume of this one
    idle(store)
    assert recover() == [f"{store.id} resuming: failed (resumed 1 time already)"]


def test_a_backup_whose_worker_was_lost_is_failed_by_recovery_with_the_reason(cluster, settings, capsys):
    """What a worker killed mid-backup leaves (the backup running, its step row running, no lock) is failed by
    recover_stores: the reason on the backup, the step row closed, a recovery audit row; the store serves on and can
    be backed up again. A backup whose store a worker holds is left alone; a dry run changes nothing."""
    from backups import services as backup_services
    from backups.models import Backup

    settings.RECOVERY_GRACE_SECONDS = 60
    long_ago = timezone.now() - timedelta(minutes=5)
    store, held_store = StoreFactory(status="ready"), StoreFactory(status="ready")
    lost = Backup.objects.create(store=store, engine="woocommerce", status="running", started_at=long_ago)
    held = Backup.objects.create(store=held_store, engine="woocommerce", status="running", started_at=long_ago)
    step = ProvisioningRun.objects.create(store=store, operation="backup", step="backup_database")

    with concurrency.store_lock(held_store.id):
        call_command("recover_stores", "--dry-run")
        assert f"{store.id} backup {lost.id} running: would fail (worker lost)" in capsys.readouterr().out
        assert Backup.objects.get(pk=lost.pk).status == "running"
        assert recover() == [f"{store.id} backup {lost.id} running: failed (worker lost)"]
    lost.refresh_from_db()
    assert lost.status == "failed" and lost.failure_reason == backup_services.LOST_REASON
    assert lost.finished_at is not None
    step.refresh_from_db()
    assert (step.status, step.error) == (RunStatus.ERRORED, backup_services.LOST_STEP_REASON)
    audit = AuditEvent.objects.filter(store_id=store.id, event_type="recovery").get()
    assert audit.metadata == {"action": "backup_lost", "backupId": lost.id, "previousBackupStatus": "running"}
    assert Backup.objects.get(pk=held.pk).status == "running"  # its worker is alive
    assert Store.objects.get(pk=store.pk).status == "ready"
    assert backup_services.backup_request(store_id=store.id, actor=store.owner).status == "requested"
