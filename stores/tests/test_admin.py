"""The operator console: stores (read-only, actions through services with a confirmation), audit events
(read-only), users (lockout degrades without axes), and the dashboard (counts, semaphore, breakers)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from accounts.tests.factories import UserFactory
from audit.models import AuditEvent, EventType
from audit.services import audit_record
from stores import services
from stores.models import LifecycleStatus, Store, StoreStatus
from stores.tests.factories import StoreFactory
from stores.tests.helpers import queued_tasks
from tests.browser.htmlcheck import assert_valid_html

pytestmark = pytest.mark.django_db
S = StoreStatus
CHANGELIST = "/admin/stores/store/"
SECRET = "console-must-not-show-this"


@pytest.fixture
def console(client, admin_user):
    client.force_login(admin_user)
    return client


def state(store: Store) -> tuple:
    store.refresh_from_db()
    return store.status, store.retry_count, store.failure_reason, AuditEvent.objects.filter(store_id=store.pk).count()


def act(console, action, stores, *, confirm, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [s.pk for s in stores], **extra}
    if confirm:
        data["confirm"] = "yes"
    return console.post(CHANGELIST, data, follow=confirm)


def test_a_tenant_cannot_enter_the_console(client, tenant):
    client.force_login(tenant)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_store_list_shows_status_engine_owner_and_last_failure(console, tenant):
    StoreFactory(owner=tenant, name="broken-shop", status=S.FAILED)
    store = Store.objects.get(name="broken-shop")
    audit_record(event_type=EventType.ERROR, store=store, message="helm install timed out")
    response = console.get(CHANGELIST)
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("broken-shop", "failed", "woocommerce", tenant.email, "helm install timed out"):
        assert text in html
    assert_valid_html(html)
    assert "broken-shop" in console.get(CHANGELIST, {"q": tenant.email}).content.decode()
    assert "broken-shop" not in console.get(CHANGELIST, {"status__exact": "ready"}).content.decode()


def test_store_detail_is_read_only_and_hides_secrets(console, tenant):
    store = StoreFactory(owner=tenant)
    Store.objects.filter(pk=store.pk).update(admin_credentials={"password": SECRET}, secrets={"dbPassword": SECRET})
    response = console.get(f"{CHANGELIST}{store.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200
    assert SECRET not in html
    assert "set (shown to the owner only)" in html
    assert 'name="_save"' not in html  # no save button: nothing to edit
    assert console.post(f"{CHANGELIST}{store.pk}/change/", {"name": "renamed"}).status_code == 403
    assert console.get(f"{CHANGELIST}add/").status_code == 403
    assert console.get(f"{CHANGELIST}{store.pk}/delete/").status_code == 403
    store.refresh_from_db()
    assert store.name != "renamed"


def test_retry_asks_for_confirmation_then_goes_through_the_service(
    console, admin_user, tenant, django_capture_on_commit_callbacks
):
    store = StoreFactory(owner=tenant, status=S.FAILED)
    before = state(store)
    page = act(console, "retry_stores", [store], confirm=False)
    assert page.status_code == 200 and b"Retry these stores?" in page.content
    assert_valid_html(page.content)
    assert state(store) == before
    with django_capture_on_commit_callbacks(execute=True):
        done = act(console, "retry_stores", [store], confirm=True)
    assert b"Retry started: 1 store(s)." in done.content
    assert state(store)[:2] == (S.REQUESTED, 1)
    event = AuditEvent.objects.filter(store_id=store.pk).latest("id")
    assert (event.previous_status, event.new_status, event.actor_email) == (S.FAILED, S.REQUESTED, admin_user.email)
    assert [t[:2] for t in queued_tasks()] == [("provisioning.provision_store", [store.pk])]


def test_retry_of_a_ready_store_is_refused_and_changes_nothing(console, tenant):
    store = StoreFactory(owner=tenant, status=S.READY)
    before = state(store)
    done = act(console, "retry_stores", [store], confirm=True)
    assert b"Only failed stores can be retried." in done.content
    assert state(store) == before


def test_mark_failed_records_the_operators_reason(console, admin_user, tenant):
    store = StoreFactory(owner=tenant)
    services.store_start_provisioning(store_id=store.pk)
    page = act(console, "mark_failed", [store], confirm=False)
    assert b'<label for="id_reason">' in page.content
    act(console, "mark_failed", [store], confirm=True, reason="worker lost the lease")
    status, _, reason, _ = state(store)
    assert status == S.FAILED and reason == "worker lost the lease"
    event = AuditEvent.objects.filter(store_id=store.pk).latest("id")
    assert event.event_type == EventType.RECOVERY and event.actor_email == admin_user.email


def test_mark_failed_refuses_a_ready_store(console, tenant):
    store = StoreFactory(owner=tenant, status=S.READY)
    before = state(store)
    done = act(console, "mark_failed", [store], confirm=True, reason="x")
    assert b"Only requested, provisioning or deleting stores can be marked failed." in done.content
    assert state(store) == before


@pytest.mark.parametrize("start", [S.PROVISIONING, S.READY, S.FAILED, S.DELETING])
def test_force_delete_moves_any_live_store_to_deleting_and_enqueues(
    console, tenant, start, django_capture_on_commit_callbacks
):
    store = StoreFactory(owner=tenant, status=start)
    with django_capture_on_commit_callbacks(execute=True):
        act(console, "force_delete", [store], confirm=True)
    assert state(store)[0] == S.DELETING
    assert [t[:2] for t in queued_tasks()] == [("provisioning.delete_store", [store.pk])]


def test_force_delete_of_a_deleted_store_is_refused(console, tenant, django_capture_on_commit_callbacks):
    store = StoreFactory(owner=tenant, status=S.DELETED)
    before = state(store)
    with django_capture_on_commit_callbacks(execute=True):
        done = act(console, "force_delete", [store], confirm=True)
    assert b"Store is already deleted" in done.content
    assert state(store) == before and queued_tasks() == []


def test_reconcile_enqueues_one_run_and_notes_it(console, tenant, django_capture_on_commit_callbacks):
    stores = [StoreFactory(owner=tenant, status=S.READY), StoreFactory(owner=tenant, status=S.FAILED)]
    with django_capture_on_commit_callbacks(execute=True):
        act(console, "reconcile", stores, confirm=True)
    assert [t[:2] for t in queued_tasks()] == [("provisioning.reconcile_stores", [])]
    assert AuditEvent.objects.filter(event_type=EventType.RECOVERY).count() == 2
    assert [state(s)[0] for s in stores] == [S.READY, S.FAILED]


def test_audit_events_are_read_only(console, tenant):
    store = StoreFactory(owner=tenant)
    event = audit_record(event_type=EventType.INFO, store=store, message="namespace created", actor=tenant)
    base = "/admin/audit/auditevent/"
    listing = console.get(base)
    assert b"namespace created" in listing.content and b'name="action"' not in listing.content
    assert console.get(f"{base}add/").status_code == 403
    assert console.get(f"{base}{event.pk}/delete/").status_code == 403
    detail = console.get(f"{base}{event.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    console.post(f"{base}{event.pk}/change/", {"message": "tampered"})
    event.refresh_from_db()
    assert event.message == "namespace created"


def test_audit_filters_by_event_type_store_and_actor(console, tenant, other_tenant):
    a = StoreFactory(owner=tenant, name="alpha-shop")
    b = StoreFactory(owner=other_tenant, name="beta-shop")
    audit_record(event_type=EventType.INFO, store=a, message="alpha step", actor=tenant)
    audit_record(event_type=EventType.ERROR, store=b, message="beta broke", actor=other_tenant)
    base = "/admin/audit/auditevent/"
    by_type = console.get(base, {"event_type__exact": "error"}).content.decode()
    by_store = console.get(base, {"store_id": a.pk}).content.decode()
    by_actor = console.get(base, {"actor_email": other_tenant.email}).content.decode()
    assert "beta broke" in by_type and "alpha step" not in by_type
    assert "alpha step" in by_store and "beta broke" not in by_store
    assert "beta broke" in by_actor and "alpha step" not in by_actor


def test_a_really_locked_user_shows_and_the_unlock_lets_them_log_in(console, admin_user, tenant):
    from rest_framework.test import APIClient

    from accounts.tests.factories import DEFAULT_PASSWORD

    client = APIClient()
    for _ in range(5):
        client.post("/api/v1/auth/login", {"email": tenant.email, "password": "wrong-password"}, format="json")
    locked = client.post("/api/v1/auth/login", {"email": tenant.email, "password": DEFAULT_PASSWORD}, format="json")
    assert locked.status_code == 423
    assert "locked (5 failures)" in console.get("/admin/accounts/user/").content.decode()
    page = console.post(
        "/admin/accounts/user/", {"action": "unlock", ACTION_CHECKBOX_NAME: [tenant.pk]}, follow=True
    ).content.decode()
    assert "Unlocked 1 user(s)" in page
    assert "locked (5 failures)" not in page
    event = AuditEvent.objects.get(event_type=EventType.SECURITY, metadata__action="account_unlocked")
    assert (event.actor_email, event.metadata["unlockedEmail"]) == (admin_user.email, tenant.email)
    assert event.metadata["removedAttempts"] >= 1
    again = client.post("/api/v1/auth/login", {"email": tenant.email, "password": DEFAULT_PASSWORD}, format="json")
    assert again.status_code == 200


def test_an_operator_can_deactivate_a_user_but_not_delete_one(console):
    user = UserFactory()
    response = console.post(
        f"/admin/accounts/user/{user.pk}/change/", {"role": "tenant", "is_active": "", "_save": "Save"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.is_active is False
    assert console.get(f"/admin/accounts/user/{user.pk}/delete/").status_code == 403


def stats_ok():
    return {"limit": 3, "inUse": 1, "queued": 2}


def stats_broken():
    raise ConnectionError("redis down")


def test_dashboard_counts_semaphore_and_breakers(console, tenant):
    StoreFactory(owner=tenant, status=S.READY)
    StoreFactory(owner=tenant, status=S.FAILED)
    response = console.get("/admin/dashboard")
    html = response.content.decode()
    assert response.status_code == 200
    assert '?status__exact=ready">ready</a></td><td>1</td>' in html
    assert 'id="semaphore-missing"' not in html and 'id="breakers-missing"' not in html
    assert '<th scope="row">maxConcurrent</th><td>3</td>' in html
    assert "helm" in html and "kubernetes" in html and "CLOSED" in html
    assert_valid_html(html)


def test_dashboard_counts_a_lifecycle_state_in_its_own_row_and_the_rows_add_up(console, tenant):
    StoreFactory(owner=tenant, status=S.READY)
    StoreFactory(owner=tenant, status=LifecycleStatus.SUSPENDED)
    StoreFactory(owner=tenant, status=LifecycleStatus.SUSPENDED)
    html = console.get("/admin/dashboard").content.decode()
    assert '?status__exact=suspended">suspended</a></td><td>2</td>' in html
    assert '?status__exact=ready">ready</a></td><td>1</td>' in html
    assert "?status__exact=upgrading" not in html  # a lifecycle state no store is in has no row
    assert_valid_html(html)


def test_dashboard_shows_the_semaphore_and_survives_unreadable_breakers(console, monkeypatch):
    from provisioning import breaker, concurrency

    monkeypatch.setattr(concurrency, "stats", stats_ok)
    monkeypatch.setattr(breaker, "all_stats", stats_broken)
    html = console.get("/admin/dashboard").content.decode()
    assert '<th scope="row">queued</th><td>2</td>' in html
    assert 'id="breakers-missing"' in html


def test_dashboard_is_for_operators_only(client, tenant):
    client.force_login(tenant)
    assert client.get("/admin/dashboard").status_code == 302
