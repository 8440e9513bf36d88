"""Listing, reading, deleting, retrying, logs and audit: filters, pagination, tenant isolation on every route,
admin masking, and a constant number of queries per request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import audit_record, security_event
from stores import services
from stores.models import LifecycleStatus, Store, StoreStatus
from stores.services import DELETE_TASK, PROVISION_TASK
from stores.tests.factories import StoreFactory
from stores.tests.helpers import error_of, queued_tasks

pytestmark = pytest.mark.django_db

CREDS = {"email": "owner@example.com", "username": "admin", "password": "Sup3r-secret-pw"}


def ready_store(owner, **kw):
    store = StoreFactory(owner=owner, status="provisioning", **kw)
    return services.store_mark_ready(
        store_id=store.id,
        storefront_url=f"http://{store.id}.localhost",
        admin_url=f"http://{store.id}.localhost/wp-admin",
        admin_credentials=CREDS,
    )


class TestList:
    def test_tenant_sees_only_its_own_non_deleted_stores_newest_first(self, tenant, other_tenant, tenant_api):
        mine = [StoreFactory(owner=tenant, name=f"s-{i}") for i in range(3)]
        StoreFactory(owner=tenant, name="gone", status="deleted")
        StoreFactory(owner=other_tenant, name="theirs")
        body = tenant_api.get("/api/v1/stores").json()
        assert [s["id"] for s in body["stores"]] == [s.id for s in reversed(mine)]
        assert (body["total"], body["limit"], body["offset"]) == (3, 50, 0)

    def test_filters_and_pagination(self, tenant, tenant_api):
        for i in range(4):
            StoreFactory(owner=tenant, name=f"w-{i}")
        StoreFactory(owner=tenant, name="m-0", engine="medusa", theme=None)
        StoreFactory(owner=tenant, name="gone", status="deleted")
        assert [s["name"] for s in tenant_api.get("/api/v1/stores?engine=medusa").json()["stores"]] == ["m-0"]
        assert [s["name"] for s in tenant_api.get("/api/v1/stores?status=deleted").json()["stores"]] == ["gone"]
        page = tenant_api.get("/api/v1/stores?engine=woocommerce&limit=2&offset=1").json()
        assert [s["name"] for s in page["stores"]] == ["w-2", "w-1"]
        assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)

    def test_owner_id_is_honoured_for_admins_only(self, tenant, other_tenant, tenant_api, admin_api):
        StoreFactory(owner=tenant, name="mine")
        StoreFactory(owner=other_tenant, name="theirs")
        names = {s["name"] for s in tenant_api.get(f"/api/v1/stores?ownerId={other_tenant.pk}").json()["stores"]}
        assert names == {"mine"}
        names = {s["name"] for s in admin_api.get(f"/api/v1/stores?ownerId={other_tenant.pk}").json()["stores"]}
        assert names == {"theirs"}
        assert admin_api.get("/api/v1/stores").json()["total"] == 2

    @pytest.mark.parametrize("owner_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
    def test_an_admins_owner_id_that_names_no_one_lists_nothing(self, tenant, admin_api, owner_id):
        StoreFactory(owner=tenant, name="mine")
        body = admin_api.get(f"/api/v1/stores?ownerId={owner_id}").json()
        assert (body["stores"], body["total"]) == ([], 0)
        assert admin_api.get("/api/v1/stores").json()["total"] == 1  # the filter hid it; nothing changed

    @pytest.mark.parametrize(
        "query", ["status=bogus", "status=", "engine=shopify", "limit=0", "limit=101", "limit=abc", "offset=-1"]
    )
    def test_bad_query_is_400(self, tenant_api, query):
        error_of(tenant_api.get(f"/api/v1/stores?{query}"), 400, "VALIDATION_ERROR")

    def test_requires_authentication(self, api):
        error_of(api.get("/api/v1/stores"), 401, "UNAUTHORIZED")

    def test_query_count_does_not_grow_with_the_page(self, tenant, tenant_api):
        for i in range(3):
            ready_store(tenant, name=f"a-{i}")
        with CaptureQueriesContext(connection) as small:
            tenant_api.get("/api/v1/stores")
        for i in range(30):
            ready_store(tenant, name=f"b-{i}") if i < 2 else StoreFactory(owner=tenant, name=f"b-{i}")
        with CaptureQueriesContext(connection) as large:
            assert len(tenant_api.get("/api/v1/stores").json()["stores"]) == 33
        assert len(large) == len(small) <= 2  # the user and the page: a short page shows its total, no COUNT

    def test_a_status_filter_selects_by_the_status_the_client_sees(self, tenant, tenant_api):
        # Lifecycle states read as a contract status (suspended as ready, upgrading as provisioning): filtered by a
        # status, the list holds exactly the stores whose representation shows it, and its total counts them,
        # whether the page shows the total (short page) or the COUNT gives it (limit=1).
        for state in [*StoreStatus.values, *LifecycleStatus.values]:
            StoreFactory(owner=tenant, name=f"in-{state}", status=state)
        shown = {s["name"]: s["status"] for s in tenant_api.get("/api/v1/stores?limit=100").json()["stores"]}
        shown["in-deleted"] = "deleted"  # listed only when asked for by its status
        for status in StoreStatus.values:
            expected = sorted(name for name, seen in shown.items() if seen == status)
            body = tenant_api.get(f"/api/v1/stores?status={status}").json()
            assert sorted(s["name"] for s in body["stores"]) == expected, status
            assert {s["status"] for s in body["stores"]} == {status}
            assert body["total"] == len(expected)
            assert tenant_api.get(f"/api/v1/stores?status={status}&limit=1").json()["total"] == len(expected)
        assert sorted(n for n, seen in shown.items() if seen == "ready") == ["in-ready", "in-suspended"]

    def test_total_is_right_on_every_page_including_past_the_end(self, tenant, tenant_api):
        for i in range(3):
            StoreFactory(owner=tenant, name=f"p-{i}")
        pages = {offset: tenant_api.get(f"/api/v1/stores?limit=2&offset={offset}").json() for offset in (0, 2, 3, 10)}
        assert {o: (len(p["stores"]), p["total"]) for o, p in pages.items()} == {
            0: (2, 3),
            2: (1, 3),
            3: (0, 3),
            10: (0, 3),
        }
        assert tenant_api.get("/api/v1/stores?status=failed").json()["total"] == 0

    def test_pages_at_the_boundaries_cover_every_store_once_newest_first_ties_by_id(self, tenant, tenant_api):
        from django.utils import timezone

        same_time = timezone.now()
        stores = [StoreFactory(owner=tenant, name=f"t-{i}", created_at=same_time) for i in range(5)]
        stores += [StoreFactory(owner=tenant, name="newest")]
        expected = ["newest"] + [s.name for s in sorted(stores[:5], key=lambda s: s.id, reverse=True)]
        seen, totals = [], set()
        for offset in range(0, 8, 2):  # full pages (the total is counted), the last short one, one past the end
            page = tenant_api.get(f"/api/v1/stores?limit=2&offset={offset}").json()
            seen += [s["name"] for s in page["stores"]]
            totals.add(page["total"])
        assert seen == expected and totals == {6}

    def test_a_full_page_counts_the_total_and_a_short_one_does_not(self, tenant, tenant_api):
        for i in range(4):
            StoreFactory(owner=tenant, name=f"c-{i}")
        with CaptureQueriesContext(connection) as full:
            assert tenant_api.get("/api/v1/stores?limit=2").json()["total"] == 4
        with CaptureQueriesContext(connection) as short:
            assert tenant_api.get("/api/v1/stores?limit=3&offset=2").json()["total"] == 4
        assert sum("COUNT(" in q["sql"].upper() for q in full.captured_queries) == 1
        assert not any("COUNT(" in q["sql"].upper() for q in short.captured_queries)

    def test_an_admins_list_of_other_tenants_stores_decrypts_nothing_twice(self, tenant, admin_api, monkeypatch):
        for i in range(3):
            ready_store(tenant, name=f"r-{i}")
        first = admin_api.get("/api/v1/stores").json()["stores"]
        from core import crypto

        calls = []
        monkeypatch.setattr(crypto, "decrypt_json", lambda token: calls.append(token) or {})
        again = admin_api.get("/api/v1/stores").json()["stores"]
        assert again == first and calls == []
        assert {s["adminCredentials"]["password"] for s in again} == {"••••••••"}


class TestGet:
    def test_owner_sees_credentials_in_plain(self, tenant, tenant_api):
        store = ready_store(tenant)
        body = tenant_api.get(f"/api/v1/stores/{store.id}").json()["store"]
        assert body["adminCredentials"] == CREDS and body["isCredentialOwner"] is True
        assert body["urls"]["storefront"] == f"http://{store.id}.localhost"
        assert isinstance(body["provisioningDurationMs"], int | None)

    def test_admin_sees_someone_elses_credentials_masked(self, tenant, admin_api):
        store = ready_store(tenant)
        response = admin_api.get(f"/api/v1/stores/{store.id}")
        body = response.json()["store"]
        assert body["isCredentialOwner"] is False
        assert body["adminCredentials"] == {"email": "ow****@example.com", "username": "a****", "password": "••••••••"}
        assert CREDS["password"] not in response.content.decode()

    def test_short_email_local_parts_are_masked_too(self, tenant, admin_api):
        store = StoreFactory(owner=tenant, status="provisioning")
        services.store_mark_ready(
            store_id=store.id,
            storefront_url="u",
            admin_url="a",
            admin_credentials={"email": "jo@example.com", "password": "x" * 10},
        )
        creds = admin_api.get(f"/api/v1/stores/{store.id}").json()["store"]["adminCredentials"]
        assert creds == {"email": "****@example.com", "password": "••••••••"}

    def test_credentials_are_null_before_ready(self, tenant, tenant_api, admin_api):
        store = StoreFactory(owner=tenant, admin_credentials={"password": "tenant-chosen-pw"})
        assert tenant_api.get(f"/api/v1/stores/{store.id}").json()["store"]["adminCredentials"] is None
        assert admin_api.get(f"/api/v1/stores/{store.id}").json()["store"]["adminCredentials"] is None

    def test_deleted_store_is_still_readable(self, tenant, tenant_api):
        store = StoreFactory(owner=tenant, status="deleted")
        assert tenant_api.get(f"/api/v1/stores/{store.id}").json()["store"]["status"] == "deleted"

    def test_unknown_and_malformed_ids(self, tenant_api):
        error = error_of(tenant_api.get("/api/v1/stores/store-00000000"), 404, "STORE_NOT_FOUND")
        assert error["message"] == "Store 'store-00000000' not found"
        assert error["suggestion"] == "Verify the store ID and try again."
        for bad in ("store-XYZ", "store-ABCDEF12", "nope"):
            assert error_of(tenant_api.get(f"/api/v1/stores/{bad}"), 400, "VALIDATION_ERROR")["details"][0]["path"] == [
                "id"
            ]

    def test_unknown_sub_path_is_401_then_404(self, api, tenant_api):
        error_of(api.get("/api/v1/stores/store-00000000/nothing"), 401, "UNAUTHORIZED")
        error_of(tenant_api.get("/api/v1/stores/store-00000000/nothing"), 404, "NOT_FOUND")


ROUTES = [
    ("get", "/api/v1/stores/{id}"),
    ("delete", "/api/v1/stores/{id}"),
    ("post", "/api/v1/stores/{id}/retry"),
    ("get", "/api/v1/stores/{id}/logs"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_another_tenant_gets_403_and_nothing_changes(tenant, other_api, method, path):
    store = StoreFactory(owner=tenant, status="failed")
    before = Store.objects.filter(pk=store.pk).values().get()
    error = error_of(getattr(other_api, method)(path.format(id=store.id)), 403, "FORBIDDEN")
    assert error["message"] == "Access denied."
    assert Store.objects.filter(pk=store.pk).values().get() == before
    assert not AuditEvent.objects.exists() and queued_tasks() == []


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_unauthenticated_gets_401(api, tenant, method, path):
    store = StoreFactory(owner=tenant, status="failed")
    error_of(getattr(api, method)(path.format(id=store.id)), 401, "UNAUTHORIZED")


class TestDeleteAndRetry:
    def test_delete_a_ready_store(self, tenant, tenant_api, django_capture_on_commit_callbacks):
        store = ready_store(tenant)
        with django_capture_on_commit_callbacks(execute=True):
            response = tenant_api.delete(f"/api/v1/stores/{store.id}")
        assert response.status_code == 202
        assert response.json()["message"] == "Store deletion initiated."
        assert response.json()["store"]["status"] == "deleting"
        assert queued_tasks() == [(DELETE_TASK, [store.id], response["X-Request-ID"])]
        event = AuditEvent.objects.filter(store_id=store.id, new_status="deleting").get()
        assert event.actor_email == tenant.email

    def test_admin_may_delete_any_store(self, tenant, admin_api):
        store = ready_store(tenant)
        assert admin_api.delete(f"/api/v1/stores/{store.id}").status_code == 202

    def test_delete_while_provisioning_is_409(self, tenant, tenant_api):
        store = StoreFactory(owner=tenant, status="provisioning")
        error = error_of(tenant_api.delete(f"/api/v1/stores/{store.id}"), 409, "CONFLICT")
        assert error["message"].startswith("Store is currently provisioning")
        assert Store.objects.get(pk=store.pk).status == "provisioning"

    def test_retry_keeps_credentials_and_returns_at_once(self, tenant, tenant_api, django_capture_on_commit_callbacks):
        store = StoreFactory(
            owner=tenant,
            status="failed",
            admin_credentials={"password": "tenant-chosen-pw"},
            secrets={"dbPassword": "kept"},
            failure_reason="helm said no",
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = tenant_api.post(f"/api/v1/stores/{store.id}/retry")
        assert response.status_code == 202
        assert response.json()["message"] == "Store retry initiated. Provisioning will restart."
        body = response.json()["store"]
        assert (body["status"], body["retryCount"], body["failureReason"]) == ("requested", 1, None)
        store.refresh_from_db()
        assert store.admin_credentials == {"password": "tenant-chosen-pw"} and store.secrets == {"dbPassword": "kept"}
        assert queued_tasks() == [(PROVISION_TASK, [store.id], response["X-Request-ID"])]

    def test_retry_of_a_non_failed_store_is_409(self, tenant, tenant_api):
        store = ready_store(tenant)
        error = error_of(tenant_api.post(f"/api/v1/stores/{store.id}/retry"), 409, "CONFLICT")
        assert error["message"] == "Only failed stores can be retried. Current status: 'ready'"

    def test_retry_limit(self, tenant, tenant_api):
        store = StoreFactory(owner=tenant, status="failed", retry_count=3)
        error = error_of(tenant_api.post(f"/api/v1/stores/{store.id}/retry"), 409, "CONFLICT")
        assert error["message"] == "Maximum retry count (3) reached."
        assert Store.objects.get(pk=store.pk).retry_count == 3


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deletes_one_wins_one_409():
    import threading

    from accounts.tests.clients import client_for
    from accounts.tests.factories import UserFactory

    owner = UserFactory()
    store = ready_store(owner)
    results = []
    barrier = threading.Barrier(2)

    def attempt():
        client = client_for(owner)
        barrier.wait()
        results.append(client.delete(f"/api/v1/stores/{store.id}").status_code)
        connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [202, 409]
    assert AuditEvent.objects.filter(store_id=store.id, new_status="deleting").count() == 1


class TestLogsAndAudit:
    def test_store_logs(self, tenant, tenant_api):
        store = ready_store(tenant)
        body = tenant_api.get(f"/api/v1/stores/{store.id}/logs?limit=1").json()
        assert body["storeId"] == store.id and body["total"] == 1
        entry = body["logs"][0]
        assert entry["eventType"] == "status_change" and entry["newStatus"] == "ready"
        assert entry["ipAddress"] is None and entry["userEmail"] is None
        assert set(entry) == {
            "id",
            "storeId",
            "eventType",
            "previousStatus",
            "newStatus",
            "message",
            "metadata",
            "ipAddress",
            "userEmail",
            "createdAt",
        }

    def test_tenant_audit_is_scoped_to_its_stores(self, tenant, other_tenant, tenant_api):
        mine, theirs = StoreFactory(owner=tenant), StoreFactory(owner=other_tenant)
        audit_record(event_type="info", store=mine, message="mine")
        audit_record(event_type="info", store=theirs, message="theirs")
        security_event(action="login_failed", email=tenant.email, ip_address="127.0.0.1")
        body = tenant_api.get("/api/v1/audit").json()
        assert [e["message"] for e in body["logs"]] == ["mine"]
        assert body["logs"][0]["storeName"] == mine.name
        assert tenant_api.get(f"/api/v1/audit?storeId={theirs.id}").json()["total"] == 0

    def test_admin_audit_sees_everything_with_filters(self, tenant, admin_api):
        store = StoreFactory(owner=tenant)
        audit_record(event_type="info", store=store, message="a")
        security_event(action="login_failed", email="x@example.com", ip_address="10.1.2.3")
        body = admin_api.get("/api/v1/audit").json()
        assert body["total"] == 2
        security = admin_api.get("/api/v1/audit?eventType=security").json()["logs"]
        assert security[0]["storeId"] is None and security[0]["ipAddress"] == "10.1.2.3"
        assert admin_api.get(f"/api/v1/audit?storeId={store.id}&limit=1").json()["logs"][0]["message"] == "a"

    @pytest.mark.parametrize("query", ["storeId=bad", "storeId=", "limit=501", "offset=-2"])
    def test_bad_audit_query_is_400(self, tenant_api, query):
        error_of(tenant_api.get(f"/api/v1/audit?{query}"), 400, "VALIDATION_ERROR")

    def test_audit_query_count_is_constant(self, tenant, tenant_api):
        store = StoreFactory(owner=tenant)
        audit_record(event_type="info", store=store)
        with CaptureQueriesContext(connection) as small:
            tenant_api.get("/api/v1/audit")
        for _ in range(40):
            audit_record(event_type="info", store=store)
        with CaptureQueriesContext(connection) as large:
            tenant_api.get("/api/v1/audit")
        assert len(small) == len(large) <= 3


@pytest.mark.django_db
def test_list_and_audit_timestamps_formatted_by_postgresql_read_as_the_detail_writes_them(tenant, tenant_api):
    """The list and the audit take their timestamps as text from PostgreSQL, the detail formats a datetime: a
    client sees one format (UTC, milliseconds truncated, Z), the same instant in both."""
    import datetime as dt
    from unittest import mock

    from core.api import iso

    store = StoreFactory(owner=tenant, status=StoreStatus.READY)
    moment = dt.datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    Store.objects.filter(pk=store.pk).update(created_at=moment, updated_at=moment + dt.timedelta(microseconds=1))
    with mock.patch("django.utils.timezone.now", return_value=moment):
        audit_record(event_type="info", store=store, message="stamped")

    listed = tenant_api.get("/api/v1/stores").json()["stores"][0]
    detail = tenant_api.get(f"/api/v1/stores/{store.id}").json()["store"]
    assert listed["createdAt"] == detail["createdAt"] == iso(moment) == "2026-03-28T20:59:59.999Z"
    assert listed["updatedAt"] == detail["updatedAt"] == "2026-03-28T21:00:00.000Z"
    entries = tenant_api.get(f"/api/v1/stores/{store.id}/logs").json()["logs"]
    assert [e["createdAt"] for e in entries if e["message"] == "stamped"] == ["2026-03-28T20:59:59.999Z"]
