"""Suspend, resume and upgrade from the store page (a confirmation, then the same service as the API) and from the
console (suspend, resume, and a fleet upgrade in waves handed to a worker); each audited, each refused without a
change when the store is in the wrong state."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from audit.models import AuditEvent
from stores.models import LifecycleStatus, Store, StoreStatus
from stores.services import FLEET_UPGRADE_TASK, RESUME_TASK, SUSPEND_TASK, UPGRADE_TASK
from stores.tests.factories import StoreFactory
from stores.tests.helpers import queued_tasks
from tests.browser.htmlcheck import assert_valid_html

pytestmark = pytest.mark.django_db
S, L = StoreStatus, LifecycleStatus
CHANGELIST = "/admin/stores/store/"


@pytest.fixture
def browser(client, tenant):
    client.force_login(tenant)
    return client


def status(store: Store) -> str:
    return Store.objects.get(pk=store.pk).status


def test_the_store_page_offers_what_the_machine_allows(browser, tenant):
    ready = StoreFactory(owner=tenant, status=S.READY)
    page = browser.get(f"/stores/{ready.id}").content.decode()
    assert f"/stores/{ready.id}/suspend" in page and f"/stores/{ready.id}/upgrade" in page
    assert f"/stores/{ready.id}/resume" not in page
    suspended = StoreFactory(owner=tenant, status=L.SUSPENDED)
    page = browser.get(f"/stores/{suspended.id}").content.decode()
    assert_valid_html(page)
    assert 'id="suspended-note"' in page and f"/stores/{suspended.id}/resume" in page
    assert f"/stores/{suspended.id}/suspend" not in page and f"/stores/{suspended.id}/upgrade" not in page


def test_suspend_and_resume_from_the_page_after_a_confirmation(browser, tenant, django_capture_on_commit_callbacks):
    store = StoreFactory(owner=tenant, status=S.READY)
    confirm = browser.get(f"/stores/{store.id}/suspend")
    assert confirm.status_code == 200 and b"Suspend " in confirm.content
    assert status(store) == S.READY  # a GET changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post(f"/stores/{store.id}/suspend").status_code == 302
    assert status(store) == L.SUSPENDING
    Store.objects.filter(pk=store.pk).update(status=L.SUSPENDED)  # what the worker does meanwhile
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post(f"/stores/{store.id}/resume").status_code == 302
    assert status(store) == L.RESUMING
    assert [t[:2] for t in queued_tasks()] == [(SUSPEND_TASK, [store.id]), (RESUME_TASK, [store.id])]
    actors = set(AuditEvent.objects.filter(store_id=store.id).values_list("actor_email", flat=True))
    assert actors == {tenant.email}


def test_a_refused_suspension_shows_why_and_changes_nothing(browser, tenant):
    store = StoreFactory(owner=tenant, status=S.PROVISIONING)
    response = browser.post(f"/stores/{store.id}/suspend")
    assert response.status_code == 409
    assert "Only ready stores can be suspended. Current status: &#x27;provisioning&#x27;" in response.content.decode()
    assert status(store) == S.PROVISIONING and not AuditEvent.objects.filter(store_id=store.id).exists()


def test_the_upgrade_form_validates_and_starts_an_upgrade(browser, tenant, django_capture_on_commit_callbacks):
    store = StoreFactory(owner=tenant, status=S.READY)
    form = browser.get(f"/stores/{store.id}/upgrade")
    assert (
        form.status_code == 200 and b'name="tag-wordpress"' in form.content and b'name="tag-medusa"' not in form.content
    )
    assert_valid_html(form.content)
    bad = browser.post(f"/stores/{store.id}/upgrade", {"tag-wordpress": "not a tag"})
    assert bad.status_code == 400 and b"must be an image tag" in bad.content
    assert status(store) == S.READY
    with django_capture_on_commit_callbacks(execute=True):
        done = browser.post(f"/stores/{store.id}/upgrade", {"tag-wordpress": "6.7.1", "tag-mariadb": ""})
    assert done.status_code == 302
    stored = Store.objects.get(pk=store.pk)
    assert stored.status == L.UPGRADING
    assert stored.pending_upgrade["values"] == {"wordpress": {"image": {"tag": "6.7.1"}}}
    assert [t[:2] for t in queued_tasks()] == [(UPGRADE_TASK, [store.id])]


def test_another_tenant_cannot_suspend_from_the_page(client, other_tenant, tenant):
    store = StoreFactory(owner=tenant, status=S.READY)
    client.force_login(other_tenant)
    assert client.post(f"/stores/{store.id}/suspend").status_code == 403
    assert status(store) == S.READY and not AuditEvent.objects.filter(store_id=store.id).exists()


@pytest.fixture
def console(client, admin_user):
    client.force_login(admin_user)
    return client


def act(console, action, stores, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [s.pk for s in stores], "confirm": "yes", **extra}
    return console.post(CHANGELIST, data, follow=True)


def test_the_console_suspends_and_resumes_through_the_services(
    console, admin_user, tenant, django_capture_on_commit_callbacks
):
    ready, failed = StoreFactory(owner=tenant, status=S.READY), StoreFactory(owner=tenant, status=S.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        done = act(console, "suspend_stores", [ready, failed])
    html = done.content.decode()
    assert "Suspension started: 1 store(s)." in html and "Only ready stores can be suspended" in html
    assert (status(ready), status(failed)) == (L.SUSPENDING, S.FAILED)
    event = AuditEvent.objects.get(store_id=ready.id)
    assert (event.new_status, event.actor_email) == (L.SUSPENDING, admin_user.email)
    Store.objects.filter(pk=ready.pk).update(status=L.SUSPENDED)
    with django_capture_on_commit_callbacks(execute=True):
        assert b"Resumption started: 1 store(s)." in act(console, "resume_stores", [ready]).content
    assert status(ready) == L.RESUMING


def test_the_console_fleet_upgrade_asks_for_the_wave_and_hands_it_to_a_worker(
    console, admin_user, tenant, django_capture_on_commit_callbacks
):
    first, second = StoreFactory(owner=tenant, status=S.READY), StoreFactory(owner=tenant, status=S.READY)
    page = console.post(CHANGELIST, {"action": "fleet_upgrade", ACTION_CHECKBOX_NAME: [first.pk, second.pk]})
    assert page.status_code == 200 and b'name="wave"' in page.content
    assert_valid_html(page.content)
    refused = act(console, "fleet_upgrade", [first], wave="0")
    assert b"The wave size must be at least 1." in refused.content and queued_tasks() == []
    with django_capture_on_commit_callbacks(execute=True):
        done = act(console, "fleet_upgrade", [first, second], wave="2")
    assert b"Fleet upgrade of 2 store(s) in waves of 2 started" in done.content
    (task,) = queued_tasks()
    assert task[0] == FLEET_UPGRADE_TASK and task[1] == [[first.id, second.id], 2, str(admin_user.pk)]
    for store in (first, second):
        event = AuditEvent.objects.get(store_id=store.id)
        assert (event.metadata, event.actor_email) == ({"action": "fleet_upgrade", "wave": 2}, admin_user.email)
        assert status(store) == S.READY  # the worker moves them, wave by wave


@pytest.mark.parametrize(
    ("outcome", "says"),
    [
        ("rolled_back", "The last upgrade failed and was rolled back to revision 3:"),
        ("not_started", "The last upgrade did not start:"),
    ],
)
def test_the_store_page_says_why_the_last_upgrade_did_not_succeed(browser, tenant, outcome, says):
    store = StoreFactory(owner=tenant, status=S.READY)
    reason = "wordpress container wordpress is ErrImageNeverPull (image storeplane.local/wordpress:no-such-tag)"
    Store.objects.filter(pk=store.pk).update(
        last_upgrade={"outcome": outcome, "fromRevision": 3, "reason": reason}, chart_version="2.0.0"
    )
    page = browser.get(f"/stores/{store.id}").content.decode()
    assert_valid_html(page)
    assert says in page and reason in page and "ecommerce-store 2.0.0" in page
