"""The lifecycle states in the store's machine: exactly these edges beyond the contract's, each allowed one moves
through its service and leaves one audit row, every other move touching a lifecycle state is refused with a 409
and changes nothing, the field stays protected, and each lifecycle state reads as one of the contract's six."""

import itertools

import pytest

from audit.models import AuditEvent
from stores import services
from stores.exceptions import InvalidStateTransition, StoreConflict
from stores.models import (
    ACTIVE_STATES,
    CONTRACT_STATUS,
    IN_PROGRESS_STATES,
    MACHINE,
    TRANSITIONS,
    LifecycleStatus,
    Store,
    StoreStatus,
)
from stores.tests.factories import StoreFactory
from stores.tests.test_state_machine import move as contract_move

pytestmark = pytest.mark.django_db
S, L = StoreStatus, LifecycleStatus
ALL = S.values + L.values

LIFECYCLE_EDGES = {
    ("ready", "suspending"),
    ("suspending", "suspended"),
    ("suspending", "failed"),
    ("suspended", "resuming"),
    ("suspended", "deleting"),
    ("resuming", "ready"),
    ("resuming", "failed"),
    ("ready", "upgrading"),
    ("upgrading", "ready"),
    ("upgrading", "failed"),
    ("ready", "restoring"),
    ("restoring", "ready"),
    ("restoring", "failed"),
}
EDGES = [(src, dst) for src, targets in MACHINE.items() for dst in targets]


def move(store: Store, target: str) -> Store:
    """The service that leads to `target` from wherever the store is (lifecycle targets first)."""
    if target == L.SUSPENDING:
        return services.store_request_suspend(store_id=store.id, actor=store.owner)
    if target == L.SUSPENDED:
        return services.store_mark_suspended(store_id=store.id)
    if target == L.RESUMING:
        return services.store_request_resume(store_id=store.id, actor=store.owner)
    if target == L.UPGRADING:
        return services.store_request_upgrade(store_id=store.id, actor=store.owner, chart_version=None)
    if target == L.RESTORING:
        return services.store_request_restore(store_id=store.id, actor=store.owner, target={"backupId": "backup-1"})
    if target == S.READY and store.status == L.RESTORING:
        return services.store_finish_restore(store_id=store.id, outcome={"outcome": "succeeded", "backupId": "b"})
    if target == S.READY and store.status == L.RESUMING:
        return services.store_mark_resumed(store_id=store.id)
    if target == S.READY and store.status == L.UPGRADING:
        return services.store_finish_upgrade(store_id=store.id, outcome={"outcome": "succeeded", "toVersion": "2"})
    return contract_move(store, target)


def test_the_machine_is_the_contracts_plus_exactly_the_lifecycle_edges():
    contract = {(src, dst) for src, targets in TRANSITIONS.items() for dst in targets}
    assert set(EDGES) == contract | LIFECYCLE_EDGES
    assert all(src in S.values and dst in S.values for src, dst in contract)


@pytest.mark.parametrize(("source", "target"), sorted(LIFECYCLE_EDGES))
def test_each_lifecycle_edge_moves_through_its_service_and_audits(source, target, django_capture_on_commit_callbacks):
    store = StoreFactory(status=source)
    with django_capture_on_commit_callbacks():
        moved = move(store, target)
    assert moved.status == target and Store.objects.get(pk=store.pk).status == target
    event = AuditEvent.objects.get(store_id=store.id)
    assert (event.previous_status, event.new_status) == (source, target)


REFUSED = [
    (src, dst)
    for src, dst in itertools.product(ALL, ALL)
    if (src, dst) not in EDGES and (src in L.values or dst in L.values) and src != dst
]


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_every_other_move_touching_a_lifecycle_state_is_refused_and_changes_nothing(source, target):
    store = StoreFactory(status=source)
    before = Store.objects.filter(pk=store.pk).values().get()
    with pytest.raises((InvalidStateTransition, StoreConflict)) as caught:
        move(store, target)
    assert caught.value.status_code == 409
    assert Store.objects.filter(pk=store.pk).values().get() == before
    assert not AuditEvent.objects.filter(store_id=store.id).exists()


def test_a_worker_refusal_from_a_lifecycle_state_names_its_transitions():
    store = StoreFactory(status=L.SUSPENDED)
    with pytest.raises(InvalidStateTransition) as caught:
        services.store_mark_deleted(store_id=store.id)
    assert caught.value.message == (
        "Transition from 'suspended' to 'deleted' is not allowed. Valid transitions: [deleting, resuming]"
    )


def test_the_status_stays_protected():
    store = StoreFactory(status=S.READY)
    with pytest.raises(AttributeError):
        store.status = L.SUSPENDED


def test_each_lifecycle_state_reads_as_a_contract_state_and_the_sets_name_them():
    assert set(CONTRACT_STATUS) == set(L.values)
    assert set(CONTRACT_STATUS.values()) <= set(S.values)
    assert set(L.values) <= ACTIVE_STATES  # they hold a namespace and volumes: they count against the limit
    assert {L.SUSPENDING, L.RESUMING, L.UPGRADING, L.RESTORING} <= IN_PROGRESS_STATES
    assert L.SUSPENDED not in IN_PROGRESS_STATES


def test_an_operator_can_stop_and_force_delete_a_store_stuck_in_a_lifecycle_state(admin_user):
    stuck = StoreFactory(status=L.UPGRADING)
    services.store_operator_mark_failed(store_id=stuck.id, actor=admin_user, reason="stuck")
    assert Store.objects.get(pk=stuck.pk).status == S.FAILED
    suspended = StoreFactory(status=L.SUSPENDED)
    services.store_force_delete(store_id=suspended.id, actor=admin_user)
    assert Store.objects.get(pk=suspended.pk).status == S.DELETING
