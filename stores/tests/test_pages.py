"""The store pages: dashboard, create (the API's validation), the store page, credentials on demand, delete and
retry with confirmation, the live part for polling, and the 403/404/500 pages."""

import pytest
from django.test import Client

from audit.models import AuditEvent, EventType
from stores import services
from stores.models import LifecycleStatus, Store, StoreStatus
from stores.tests.factories import StoreFactory
from stores.tests.helpers import queued_tasks
from tests.browser.htmlcheck import assert_valid_html

pytestmark = pytest.mark.django_db
S = StoreStatus
SECRET = "s3cret-admin-pass"


@pytest.fixture
def browser(client, tenant) -> Client:
    client.force_login(tenant)
    return client


@pytest.fixture
def ready_store(tenant):
    store = StoreFactory(owner=tenant, name="corner-shop")
    services.store_start_provisioning(store_id=store.id)
    return services.store_mark_ready(
        store_id=store.id,
        storefront_url="http://corner-shop.localhost",
        admin_url="http://corner-shop.localhost/wp-admin",
        admin_credentials={"email": "owner@example.com", "username": "admin", "password": SECRET},
    )


def snapshot(store: Store) -> tuple:
    store.refresh_from_db()
    return store.status, store.retry_count, AuditEvent.objects.filter(store_id=store.pk).count()


def test_dashboard_empty_state(browser):
    response = browser.get("/dashboard")
    assert response.status_code == 200
    assert b"No stores yet." in response.content
    assert_valid_html(response.content)


def test_dashboard_lists_only_my_stores_with_counts(browser, tenant, other_tenant):
    StoreFactory(owner=tenant, name="mine-one", status=S.READY)
    StoreFactory(owner=tenant, name="mine-two", status=S.FAILED)
    StoreFactory(owner=other_tenant, name="not-mine")
    response = browser.get("/dashboard")
    html = response.content.decode()
    assert "mine-one" in html and "mine-two" in html and "not-mine" not in html
    assert '<li class="count count-ready"><span class="count-n">1</span>' in html
    assert '<li class="count count-requested"><span class="count-n">0</span>' in html
    assert_valid_html(html)


def test_dashboard_counts_every_store_under_the_state_its_row_shows(browser, tenant):
    # A suspended or upgrading store shows its precise state on the page: it is counted under that state, not
    # left out of every count.
    for state in (S.READY, LifecycleStatus.SUSPENDED, LifecycleStatus.UPGRADING, S.FAILED):
        StoreFactory(owner=tenant, name=f"in-{state}", status=state)
    html = browser.get("/dashboard").content.decode()
    for state in (S.READY, LifecycleStatus.SUSPENDED, LifecycleStatus.UPGRADING, S.FAILED):
        assert f'<li class="count count-{state}"><span class="count-n">1</span>' in html, state
        assert f'<span class="badge badge-{state}">{state}</span>' in html
    assert "count-suspending" not in html  # a lifecycle state no store is in has no count
    assert_valid_html(html)


def test_create_form_renders_accessible_fields(browser):
    response = browser.get("/stores/new")
    html = response.content.decode()
    for field in ("name", "engine", "theme", "password"):
        assert f'<label for="id_{field}"' in html
    assert_valid_html(html)


def test_create_starts_provisioning_and_shows_the_store(browser, tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/stores/new", {"name": "my-shop", "engine": "woocommerce", "theme": "astra"})
    store = Store.objects.get(owner=tenant)
    assert response.status_code == 302 and response["Location"] == f"/stores/{store.id}"
    assert (store.name, store.engine, store.theme, store.status) == ("my-shop", "woocommerce", "astra", S.REQUESTED)
    assert [t[:2] for t in queued_tasks()] == [("provisioning.provision_store", [store.id])]
    page = browser.get(response["Location"])
    assert b"requested" in page.content and b"Store &#x27;my-shop&#x27; requested." in page.content


def test_create_medusa_ignores_the_theme_select(browser, tenant):
    browser.post("/stores/new", {"name": "medusa-shop", "engine": "medusa", "theme": "storefront"})
    store = Store.objects.get(owner=tenant)
    assert (store.engine, store.theme) == ("medusa", None)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ab", "engine": "woocommerce"},
        {"name": "Bad_Name", "engine": "woocommerce"},
        {"name": "admin", "engine": "woocommerce"},
        {"name": "fine-name", "engine": "shopify"},
        {"name": "fine-name", "engine": "woocommerce", "password": "short"},
        {"engine": "woocommerce"},
    ],
)
def test_invalid_input_shows_the_api_messages_and_creates_nothing(
    browser, tenant_api, body, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/stores/new", body)
    assert response.status_code == 200
    html = response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    api_details = tenant_api.post("/api/v1/stores", body, format="json").json()["error"]["details"]
    assert api_details
    for detail in api_details:
        assert detail["message"] in html
    assert not Store.objects.exists()
    assert queued_tasks() == []
    assert_valid_html(response.content)


def test_a_refusal_from_the_service_is_shown_and_nothing_is_created(browser, tenant, settings):
    settings.MAX_STORES_PER_USER = 1
    StoreFactory(owner=tenant, status=S.READY)
    response = browser.post("/stores/new", {"name": "second-shop", "engine": "woocommerce"})
    assert response.status_code == 429
    assert b"Maximum of 1 active stores per user reached." in response.content
    assert Store.objects.filter(owner=tenant).count() == 1


def test_store_page_shows_status_timeline_events_and_links(browser, ready_store):
    response = browser.get(f"/stores/{ready_store.id}")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="badge badge-ready">ready</span>' in html
    assert '<a href="http://corner-shop.localhost" rel="noopener noreferrer" target="_blank">' in html
    assert 'id="store-timeline"' in html and "Provisioning" in html and "Store provisioned" in html
    assert 'id="store-events"' in html
    assert 'data-poll="off"' in html  # a stable store is not polled
    assert_valid_html(html)


def test_credentials_are_revealed_only_on_request(browser, ready_store):
    page = browser.get(f"/stores/{ready_store.id}").content.decode()
    assert SECRET not in page and 'id="reveal-credentials"' in page
    revealed = browser.post(f"/stores/{ready_store.id}/credentials")
    assert revealed.status_code == 200 and "no-store" in revealed["Cache-Control"]
    assert SECRET in revealed.content.decode()
    assert_valid_html(revealed.content)


def test_another_tenant_gets_the_403_page_and_no_credentials(client, other_tenant, ready_store):
    client.force_login(other_tenant)
    for response in (
        client.get(f"/stores/{ready_store.id}"),
        client.get(f"/stores/{ready_store.id}/live"),
        client.post(f"/stores/{ready_store.id}/credentials"),
        client.post(f"/stores/{ready_store.id}/delete"),
    ):
        assert response.status_code == 403
        assert SECRET not in response.content.decode()
    page = client.get(f"/stores/{ready_store.id}").content.decode()
    assert "Access denied" in page and "storeplane" in page and "corner-shop" not in page
    assert_valid_html(page)
    assert snapshot(ready_store)[0] == S.READY


def test_an_admin_sees_masked_credentials_and_cannot_reveal_them(client, admin_user, ready_store):
    client.force_login(admin_user)
    page = client.get(f"/stores/{ready_store.id}").content.decode()
    assert SECRET not in page and "Masked" in page
    assert client.post(f"/stores/{ready_store.id}/credentials").status_code == 403


@pytest.mark.parametrize("store_id", ["store-00000000", "not-a-store-id"])
def test_unknown_store_gets_the_404_page(browser, store_id):
    response = browser.get(f"/stores/{store_id}")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert_valid_html(response.content)


def test_unknown_page_gets_the_404_page_and_api_paths_keep_json(browser):
    response = browser.get("/no-such-page")
    assert response.status_code == 404 and b"Page not found" in response.content
    assert browser.get("/api/v1/nope").json()["error"]["code"] == "NOT_FOUND"


def test_a_crash_gets_the_500_page_without_details(client, tenant, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("stores.selectors.store_list", boom)
    client.raise_request_exception = False
    client.force_login(tenant)
    response = client.get("/dashboard")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "hunter2" not in html and "Traceback" not in html
    assert response["X-Request-ID"] in html
    assert_valid_html(html)


def test_delete_asks_for_confirmation_first(browser, ready_store, django_capture_on_commit_callbacks):
    before = snapshot(ready_store)
    confirm = browser.get(f"/stores/{ready_store.id}/delete")
    assert confirm.status_code == 200 and b"Yes, delete this store" in confirm.content
    assert_valid_html(confirm.content)
    assert snapshot(ready_store) == before
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/stores/{ready_store.id}/delete")
    assert response.status_code == 302
    assert snapshot(ready_store)[0] == S.DELETING
    assert ("provisioning.delete_store", [ready_store.id]) in [t[:2] for t in queued_tasks()]


def test_delete_refused_while_provisioning_changes_nothing(browser, tenant, django_capture_on_commit_callbacks):
    store = StoreFactory(owner=tenant, status=S.PROVISIONING)
    before = snapshot(store)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/stores/{store.id}/delete")
    assert response.status_code == 409
    assert b"Store is currently provisioning." in response.content
    assert snapshot(store) == before
    assert queued_tasks() == []


def test_retry_a_failed_store_after_confirmation(browser, tenant):
    store = StoreFactory(owner=tenant, status=S.FAILED)
    page = browser.get(f"/stores/{store.id}").content.decode()
    assert f'href="/stores/{store.id}/retry"' in page
    assert browser.get(f"/stores/{store.id}/retry").status_code == 200
    assert snapshot(store)[0] == S.FAILED
    browser.post(f"/stores/{store.id}/retry")
    status, retries, _ = snapshot(store)
    assert (status, retries) == (S.REQUESTED, 1)
    event = AuditEvent.objects.filter(store_id=store.id, event_type=EventType.STATUS_CHANGE).latest("created_at")
    assert event.actor_email == tenant.email


def test_live_part_is_a_fragment_that_keeps_polling_while_in_progress(browser, tenant):
    store = StoreFactory(owner=tenant)
    live = browser.get(f"/stores/{store.id}/live")
    html = live.content.decode()
    assert live.status_code == 200 and html.lstrip().startswith('<div id="store-live" data-status="requested"')
    assert 'data-poll="on"' in html and "<html" not in html
    services.store_start_provisioning(store_id=store.id)
    assert 'data-status="provisioning"' in browser.get(f"/stores/{store.id}/live").content.decode()
