"""The lifecycle routes (suspend, resume, upgrade, lifecycle): 202 with the store as the contract shows it, the
state change audited with its actor and the worker's task queued; 409 in a wrong state, 403 for another tenant's
store (as on the contract's per-store routes), validation errors as 400 in the envelope, each leaving the store,
its audit trail and the queue untouched. And how lifecycle states read to the contract's clients (the React
dashboard): always one of the six statuses."""

import pytest

from audit.models import AuditEvent
from stores import services
from stores.models import LifecycleStatus, Store, StoreStatus
from stores.services import RESUME_TASK, SUSPEND_TASK, UPGRADE_TASK
from stores.tests.factories import StoreFactory
from stores.tests.helpers import error_of, queued_tasks
from stores.tests.test_create_api import STORE_KEYS

pytestmark = pytest.mark.django_db
S, L = StoreStatus, LifecycleStatus


def row(store: Store) -> dict:
    return Store.objects.filter(pk=store.pk).values().get()


def unchanged(store: Store, before: dict) -> None:
    """A refused request changed nothing: the row, the audit trail, the queue."""
    assert row(store) == before
    assert not AuditEvent.objects.filter(store_id=store.pk).exists()
    assert queued_tasks() == []


def post(client, store, action, body=None):
    return client.post(f"/api/v1/stores/{store.id}/{action}", body, format="json")


class TestAccepted:
    def test_suspend_is_202_audited_and_queued(self, tenant, tenant_api, django_capture_on_commit_callbacks):
        store = StoreFactory(owner=tenant, status=S.READY)
        with django_capture_on_commit_callbacks(execute=True):
            response = post(tenant_api, store, "suspend")
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["message"].startswith("Store suspension initiated")
        assert list(body["store"]) == STORE_KEYS
        assert body["store"]["status"] == "provisioning"  # a worker has it: the dashboard's in-progress badge
        assert row(store)["status"] == L.SUSPENDING
        event = AuditEvent.objects.get(store_id=store.pk)
        assert (event.previous_status, event.new_status, event.actor_email) == (S.READY, L.SUSPENDING, tenant.email)
        assert event.ip_address == "127.0.0.1" and event.metadata == {"action": "suspend"}
        assert [t[:2] for t in queued_tasks()] == [(SUSPEND_TASK, [store.pk])]

    def test_resume_is_202_audited_and_queued(self, tenant, tenant_api, django_capture_on_commit_callbacks):
        store = StoreFactory(owner=tenant, status=L.SUSPENDED)
        with django_capture_on_commit_callbacks(execute=True):
            response = post(tenant_api, store, "resume")
        assert response.status_code == 202, response.content
        assert response.json()["store"]["status"] == "provisioning"
        assert row(store)["status"] == L.RESUMING
        event = AuditEvent.objects.get(store_id=store.pk)
        assert (event.previous_status, event.new_status, event.actor_email) == (L.SUSPENDED, L.RESUMING, tenant.email)
        assert [t[:2] for t in queued_tasks()] == [(RESUME_TASK, [store.pk])]

    def test_upgrade_records_what_was_asked_audits_and_queues(
        self, tenant, tenant_api, django_capture_on_commit_callbacks
    ):
        store = StoreFactory(owner=tenant, status=S.READY)
        version = services.available_chart_versions()[0]
        values = {"wordpress": {"image": {"tag": "6.7.1"}}}
        with django_capture_on_commit_callbacks(execute=True):
            response = post(tenant_api, store, "upgrade", {"chartVersion": version, "values": values})
        assert response.status_code == 202, response.content
        assert response.json()["store"]["status"] == "provisioning"
        stored = row(store)
        assert stored["status"] == L.UPGRADING
        assert stored["pending_upgrade"] == {"chartVersion": version, "values": values, "requestedBy": tenant.email}
        assert stored["chart_values"] == {}  # recorded only once the upgrade succeeded
        event = AuditEvent.objects.get(store_id=store.pk)
        assert (event.previous_status, event.new_status) == (S.READY, L.UPGRADING)
        assert event.metadata == {"action": "upgrade", "chartVersion": version, "values": values}
        assert [t[:2] for t in queued_tasks()] == [(UPGRADE_TASK, [store.pk])]

    def test_an_admin_may_act_on_any_store(self, tenant, admin_api, admin_user, django_capture_on_commit_callbacks):
        store = StoreFactory(owner=tenant, status=S.READY)
        with django_capture_on_commit_callbacks(execute=True):
            assert post(admin_api, store, "suspend").status_code == 202
        assert AuditEvent.objects.get(store_id=store.pk).actor_email == admin_user.email


class TestRefused:
    @pytest.mark.parametrize(
        ("status", "action"),
        [
            (S.REQUESTED, "suspend"),
            (S.PROVISIONING, "suspend"),
            (S.FAILED, "suspend"),
            (L.SUSPENDED, "suspend"),
            (L.UPGRADING, "suspend"),
            (S.READY, "resume"),
            (L.SUSPENDING, "resume"),
            (L.RESUMING, "resume"),
            (S.FAILED, "upgrade"),
            (L.SUSPENDED, "upgrade"),
            (L.UPGRADING, "upgrade"),
            (S.DELETED, "upgrade"),
        ],
    )
    def test_wrong_state_is_409_and_changes_nothing(self, tenant, tenant_api, status, action):
        store = StoreFactory(owner=tenant, status=status)
        before = row(store)
        body = {"values": {"wordpress": {"image": {"tag": "x"}}}} if action == "upgrade" else None
        error = error_of(post(tenant_api, store, action, body), 409, "CONFLICT")
        assert f"Current status: '{status}'" in error["message"]
        unchanged(store, before)

    @pytest.mark.parametrize("action", ["suspend", "resume", "upgrade", "lifecycle"])
    def test_another_tenants_store_is_403_and_changes_nothing(self, other_tenant, tenant_api, action):
        store = StoreFactory(owner=other_tenant, status=L.SUSPENDED if action == "resume" else S.READY)
        before = row(store)
        if action == "lifecycle":
            response = tenant_api.get(f"/api/v1/stores/{store.id}/lifecycle")
        else:
            response = post(tenant_api, store, action, {"values": {"wordpress": {"image": {"tag": "x"}}}})
        error = error_of(response, 403, "FORBIDDEN")
        assert error["message"] == "Access denied."
        unchanged(store, before)

    def test_an_unknown_store_is_404_and_a_malformed_id_400(self, tenant_api):
        error_of(tenant_api.post("/api/v1/stores/store-0000ffff/suspend"), 404, "STORE_NOT_FOUND")
        error_of(tenant_api.post("/api/v1/stores/nope/suspend"), 400, "VALIDATION_ERROR")

    def test_unauthenticated_is_401(self, api, tenant):
        store = StoreFactory(owner=tenant, status=S.READY)
        before = row(store)
        assert post(api, store, "suspend").status_code == 401
        unchanged(store, before)

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({}, ["body"]),
            ({"values": {}}, ["body"]),
            ({"chartVersion": "9.9.9"}, ["chartVersion"]),
            ({"chartVersion": 2}, ["chartVersion"]),
            ({"values": "wordpress"}, ["values"]),
            ({"values": {"medusa": {"image": {"tag": "1.0"}}}}, ["values", "medusa"]),
            ({"values": {"wordpress": {"image": {"tag": "bad tag!"}}}}, ["values", "wordpress", "image", "tag"]),
            ({"values": {"wordpress": {"image": {"repository": "evil.example/wp"}}}}, ["values", "wordpress", "image"]),
            ({"values": {"wordpress": {"replicas": 3}}}, ["values", "wordpress"]),
            ({"values": {"wordpress": {"image": {"tag": "1"}}, "storeId": "store-00000000"}}, ["values", "storeId"]),
        ],
    )
    def test_invalid_upgrades_are_400_in_the_envelope_and_change_nothing(self, tenant, tenant_api, body, path):
        store = StoreFactory(owner=tenant, status=S.READY)
        before = row(store)
        error = error_of(post(tenant_api, store, "upgrade", body), 400, "VALIDATION_ERROR")
        assert error["retryable"] is False
        assert [d["path"] for d in error["details"]] == [path], error
        unchanged(store, before)

    def test_malformed_json_is_400(self, tenant, tenant_api):
        store = StoreFactory(owner=tenant, status=S.READY)
        before = row(store)
        response = tenant_api.post(
            f"/api/v1/stores/{store.id}/upgrade", data="{not json", content_type="application/json"
        )
        error_of(response, 400, "VALIDATION_ERROR")
        unchanged(store, before)


class TestHowTheContractsClientsSeeIt:
    @pytest.mark.parametrize(
        ("state", "shown"),
        [
            (L.SUSPENDING, "provisioning"),
            (L.SUSPENDED, "ready"),
            (L.RESUMING, "provisioning"),
            (L.UPGRADING, "provisioning"),
        ],
    )
    def test_lists_and_details_show_a_contract_status(self, tenant, tenant_api, state, shown):
        store = StoreFactory(owner=tenant, status=state)
        listed = tenant_api.get("/api/v1/stores").json()["stores"]
        assert [(s["id"], s["status"]) for s in listed] == [(store.id, shown)]
        detail = tenant_api.get(f"/api/v1/stores/{store.id}").json()["store"]
        assert list(detail) == STORE_KEYS and detail["status"] == shown
        lifecycle = tenant_api.get(f"/api/v1/stores/{store.id}/lifecycle").json()["lifecycle"]
        assert (lifecycle["state"], lifecycle["status"]) == (state, shown)

    def test_the_lifecycle_route_tells_the_chart_version_values_and_last_upgrade(self, tenant, tenant_api):
        store = StoreFactory(owner=tenant, status=S.READY)
        outcome = {"outcome": "rolled_back", "reason": "wordpress container wordpress is ErrImageNeverPull"}
        Store.objects.filter(pk=store.pk).update(
            chart_version="2.0.0", chart_values={"wordpress": {"image": {"tag": "a"}}}, last_upgrade=outcome
        )
        body = tenant_api.get(f"/api/v1/stores/{store.id}/lifecycle").json()
        assert body["lifecycle"] == {
            "storeId": store.id,
            "state": "ready",
            "status": "ready",
            "chartVersion": "2.0.0",
            "chartValues": {"wordpress": {"image": {"tag": "a"}}},
            "pendingUpgrade": None,
            "lastUpgrade": outcome,
            "suspendedAt": None,
        }

    def test_a_suspended_store_can_be_deleted_an_upgrading_one_not(self, tenant, tenant_api):
        suspended = StoreFactory(owner=tenant, status=L.SUSPENDED)
        assert tenant_api.delete(f"/api/v1/stores/{suspended.id}").status_code == 202
        assert row(suspended)["status"] == S.DELETING
        upgrading = StoreFactory(owner=tenant, status=L.UPGRADING)
        before = row(upgrading)
        error = error_of(tenant_api.delete(f"/api/v1/stores/{upgrading.id}"), 409, "CONFLICT")
        assert error["message"] == "Cannot delete store in 'upgrading' state"
        unchanged(upgrading, before)

    def test_a_suspended_store_still_counts_against_the_store_limit(self, tenant, tenant_api, settings):
        settings.MAX_STORES_PER_USER = 1
        StoreFactory(owner=tenant, status=L.SUSPENDED)
        response = tenant_api.post("/api/v1/stores", {"name": "second", "engine": "woocommerce"}, format="json")
        error_of(response, 429, "STORE_LIMIT_EXCEEDED")
