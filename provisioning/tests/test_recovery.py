"""Recovery and reconciliation sweeps (and their commands): what lost workers left behind is finished or failed
cleanly, dry runs change nothing, and a sweep makes a constant number of cluster calls."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from provisioning import concurrency, recovery
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.recovery import reconcile, recover
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
