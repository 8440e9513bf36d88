"""Every transition of the contract's state machine is allowed through the services, every other one is refused
with the contract's 409 and changes nothing, and a lost optimistic-lock race fails instead of overwriting."""

import itertools

import pytest
from django.db import transaction
from django_fsm import ConcurrentTransition

from audit.models import AuditEvent
from stores import services
from stores.exceptions import InvalidStateTransition, StoreConflict
from stores.models import TRANSITIONS, Store, StoreStatus
from stores.tests.factories import StoreFactory

pytestmark = pytest.mark.django_db
S = StoreStatus


def move(store: Store, target: str) -> Store:
    """The service that leads to `target`."""
    if target == S.PROVISIONING:
        return services.store_start_provisioning(store_id=store.id)
    if target == S.READY:
        return services.store_mark_ready(
            store_id=store.id,
            storefront_url="http://x",
            admin_url="http://x/wp-admin",
            admin_credentials={"email": "a@example.com", "username": "admin", "password": "pw-123456"},
        )
    if target == S.FAILED:
        return services.store_mark_failed(store_id=store.id, reason="boom")
    if target == S.DELETING:
        return services.store_request_deletion(store_id=store.id, actor=store.owner)
    if target == S.DELETED:
        return services.store_mark_deleted(store_id=store.id)
    if target == S.REQUESTED:
        return services.store_retry(store_id=store.id, actor=store.owner)
    raise AssertionError(target)


ALLOWED = [(src, dst) for src, targets in TRANSITIONS.items() for dst in targets]
REFUSED = [(src, dst) for src, dst in itertools.product(S.values, S.values) if (src, dst) not in ALLOWED]


def test_the_machine_is_exactly_the_contracts():
    assert set(ALLOWED) == {
        ("requested", "provisioning"),
        ("requested", "failed"),
        ("provisioning", "ready"),
        ("provisioning", "failed"),
        ("ready", "deleting"),
        ("failed", "requested"),
        ("failed", "deleting"),
        ("deleting", "deleted"),
        ("deleting", "failed"),
    }


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_allowed_transition_moves_and_audits(source, target, django_capture_on_commit_callbacks):
    store = StoreFactory(status=source)
    with django_capture_on_commit_callbacks():
        moved = move(store, target)
    assert moved.status == target
    assert Store.objects.get(pk=store.pk).status == target
    event = AuditEvent.objects.get(store_id=store.id)
    assert (event.previous_status, event.new_status) == (source, target)


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_refused_transition_is_409_and_changes_nothing(source, target):
    store = StoreFactory(status=source)
    before = Store.objects.filter(pk=store.pk).values().get()
    with pytest.raises((InvalidStateTransition, StoreConflict)) as caught:
        move(store, target)
    assert caught.value.status_code == 409
    assert Store.objects.filter(pk=store.pk).values().get() == before
    assert not AuditEvent.objects.filter(store_id=store.id).exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("deleted", "Store is already deleted"),
        ("deleting", "Store is already being deleted"),
        ("provisioning", "Store is currently provisioning. Wait for completion or failure before deleting."),
        ("requested", "Cannot delete store in 'requested' state"),
    ],
)
def test_delete_refusals_use_the_contracts_messages(source, message):
    store = StoreFactory(status=source)
    with pytest.raises(StoreConflict, match=message) as caught:
        services.store_request_deletion(store_id=store.id, actor=store.owner)
    assert caught.value.suggestion == "Wait for the current operation to complete."


def test_worker_refusal_names_the_valid_transitions():
    store = StoreFactory(status="ready")
    with pytest.raises(InvalidStateTransition) as caught:
        services.store_mark_deleted(store_id=store.id)
    assert caught.value.message == "Transition from 'ready' to 'deleted' is not allowed. Valid transitions: [deleting]"
    assert caught.value.code == "INVALID_STATE_TRANSITION"


def test_status_cannot_be_assigned_directly():
    store = StoreFactory()
    with pytest.raises(AttributeError):
        store.status = S.READY


def test_a_stale_instance_loses_the_race_instead_of_overwriting():
    store = StoreFactory(status="ready")
    first, second = Store.objects.get(pk=store.pk), Store.objects.get(pk=store.pk)
    first.request_deletion()
    first.save()
    # `second` still believes the store is ready; its move must fail, not silently overwrite.
    second.request_deletion()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        second.save()
    assert Store.objects.get(pk=store.pk).status == S.DELETING


def test_a_lost_race_in_a_service_is_a_409(monkeypatch):
    store = StoreFactory(status="provisioning")
    real_locked = services._locked

    def stale(store_id):  # another worker moves the store after we read it
        fetched = real_locked(store_id)
        Store.objects.filter(pk=store_id).update(status=S.FAILED)
        return fetched

    monkeypatch.setattr(services, "_locked", stale)
    with pytest.raises(StoreConflict, match="changed concurrently") as caught:
        services.store_mark_ready(store_id=store.id, storefront_url="u", admin_url="a", admin_credentials={})
    assert caught.value.status_code == 409
    # The simulated concurrent write shared our transaction and rolled back with it; what matters is that the
    # stale "ready" was never written and no audit row claims it was.
    assert Store.objects.get(pk=store.pk).status == S.PROVISIONING
    assert not AuditEvent.objects.filter(store_id=store.id).exists()


def test_a_lost_ready_store_goes_the_legal_way_to_failed():
    store = StoreFactory(status="ready")
    services.store_mark_lost(store_id=store.id, reason="Reconciliation: namespace missing")
    store.refresh_from_db()
    assert store.status == S.FAILED and store.failure_reason == "Reconciliation: namespace missing"
    moves = list(
        AuditEvent.objects.filter(store_id=store.id).order_by("id").values_list("previous_status", "new_status")
    )
    assert moves == [("ready", "deleting"), ("deleting", "failed")]


def test_only_a_ready_store_can_be_lost():
    store = StoreFactory(status="provisioning")
    with pytest.raises(InvalidStateTransition):
        services.store_mark_lost(store_id=store.id, reason="x")
    assert Store.objects.get(pk=store.pk).status == S.PROVISIONING


@pytest.mark.parametrize("start", [S.READY, S.FAILED])
def test_a_store_marked_lost_records_the_status_it_really_had(start):
    store = StoreFactory(status=start)
    services.store_mark_lost(store_id=store.id, reason="Its namespace is gone from the cluster.")
    moves = list(
        AuditEvent.objects.filter(store_id=store.id).order_by("id").values_list("previous_status", "new_status")
    )
    assert moves == [(start, S.DELETING), (S.DELETING, S.FAILED)]
    store.refresh_from_db()
    assert store.status == S.FAILED and store.failure_reason == "Its namespace is gone from the cluster."


def test_the_pages_offer_exactly_what_the_machine_allows(client, tenant):
    client.force_login(tenant)
    for status in S.values:
        store = StoreFactory(owner=tenant, status=status)
        page = client.get(f"/stores/{store.id}").content.decode()
        assert ("/delete" in page) == (S.DELETING in TRANSITIONS[status]), status
        assert ("/retry" in page) == (S.REQUESTED in TRANSITIONS[status]), status
