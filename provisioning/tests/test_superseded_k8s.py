"""An operator's force-delete while a real worker runs `helm upgrade --install` on the local cluster: the create
chain stops within seconds without marking the store, the deletion proceeds at once (no retries spent on a busy
store), the store ends deleted with nothing left in the cluster, and its audit rows tell the story."""

import time

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.tests.celery_worker import start_worker, stop_worker, wait_for
from provisioning.tests.test_chain_k8s import explain, gone, new_store, real_cluster  # noqa: F401  (fixture)
from stores import services as store_services
from stores.models import Store

pytestmark = pytest.mark.k8s


@pytest.mark.django_db(transaction=True)
def test_a_force_delete_during_helm_install_ends_deleted_with_nothing_left(real_cluster):  # noqa: F811
    from accounts.tests.factories import UserFactory

    owner, operator = UserFactory(), UserFactory(admin=True)
    worker = start_worker(real_cluster, concurrency=2)  # one process for the create task, one for the delete
    try:
        store = new_store(real_cluster, owner, name="force-deleted", engine="woocommerce")
        installing = ProvisioningRun.objects.filter(store=store, step="helm_install", status=RunStatus.RUNNING)
        wait_for(
            lambda: installing.exists() or Store.objects.get(pk=store.pk).status not in ("requested", "provisioning"),
            300,
            "the worker to be running helm upgrade --install",
        )
        assert installing.exists(), explain(store)
        time.sleep(3)  # helm is really at work (the release exists, pending-install)
        forced_at = timezone.now()
        store_services.store_force_delete(store_id=store.id, actor=operator)
        wait_for(
            lambda: Store.objects.get(pk=store.pk).status in ("deleted", "failed"),
            600,
            "the deletion to finish",
        )
    finally:
        stop_worker(worker)
    assert Store.objects.get(pk=store.pk).status == "deleted", explain(store)
    assert gone(real_cluster, store.id)

    runs = ProvisioningRun.objects.filter(store=store)
    assert not runs.filter(status=RunStatus.RUNNING).exists()
    create_steps = list(runs.filter(operation="create").order_by("id").values_list("step", "status"))
    assert create_steps[-1] == ("helm_install", RunStatus.FAILED), create_steps
    # The deletion ran once, on its first attempt: it waited for the lock instead of retrying on a busy store.
    delete_steps = list(runs.filter(operation="delete").order_by("id").values_list("step", "status", "attempt"))
    assert delete_steps == [
        ("helm_uninstall", RunStatus.SUCCEEDED, 0),
        ("namespace_delete", RunStatus.SUCCEEDED, 0),
        ("cleanup_verify", RunStatus.SUCCEEDED, 0),
        ("deleted", RunStatus.SUCCEEDED, 0),
    ]

    trail = list(AuditEvent.objects.filter(store_id=store.id).order_by("id"))
    moves = [(e.previous_status, e.new_status) for e in trail if e.new_status]
    assert moves == [
        (None, "requested"),
        ("requested", "provisioning"),
        ("provisioning", "failed"),
        ("failed", "deleting"),
        ("deleting", "deleted"),
    ]
    forced = [e for e in trail if e.metadata.get("action") == "operator_force_delete"]
    assert [e.actor_email for e in forced] == [operator.email, operator.email]
    (stopped,) = [e for e in trail if e.metadata.get("action") == "superseded"]
    assert "now deleting" in stopped.message and stopped.metadata["operation"] == "create"
    # helm was stopped, not waited for (a WooCommerce install takes minutes)
    assert (stopped.created_at - forced_at).total_seconds() < 15
    assert not any("Internal error" in e.message for e in trail)
