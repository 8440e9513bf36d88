"""A store whose encrypted columns no configured key decrypts (CREDENTIALS_ENCRYPTION_KEY lost or changed): its
reads still work with the credentials withheld, the operator is told, and the stored tokens are never overwritten."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.crypto import Unreadable
from stores.models import Store
from stores.tests.factories import StoreFactory
from stores.tests.helpers import UNREADABLE_TOKEN as TOKEN
from stores.tests.helpers import make_unreadable, stored
from stores.tests.test_read_api import CREDS, ready_store

pytestmark = pytest.mark.django_db


def test_the_api_still_reads_the_store_and_the_list_with_credentials_withheld(tenant, tenant_api, admin_api, caplog):
    broken = ready_store(tenant, name="old-key")
    ready_store(tenant, name="new-key")
    make_unreadable(broken, "admin_credentials", "secrets")
    before = stored(broken)

    with caplog.at_level(logging.ERROR, logger="stores.api.serializers"):
        one = tenant_api.get(f"/api/v1/stores/{broken.id}")
        listed = tenant_api.get("/api/v1/stores")
        as_admin = admin_api.get(f"/api/v1/stores/{broken.id}")
    assert one.status_code == listed.status_code == as_admin.status_code == 200
    assert one.json()["store"]["adminCredentials"] is None and one.json()["store"]["status"] == "ready"
    assert as_admin.json()["store"]["adminCredentials"] is None
    by_name = {s["name"]: s for s in listed.json()["stores"]}
    assert by_name["old-key"]["adminCredentials"] is None
    assert by_name["new-key"]["adminCredentials"] == CREDS  # one unreadable row does not hide the others'
    assert f"store {broken.id}: A stored secret cannot be decrypted with CREDENTIALS_ENCRYPTION_KEY." in caplog.messages
    assert TOKEN not in caplog.text
    assert stored(broken) == before


def test_the_store_page_says_why_the_credentials_are_missing(client, tenant):
    store = ready_store(tenant)
    make_unreadable(store, "admin_credentials")
    client.force_login(tenant)
    page = client.get(f"/stores/{store.id}")
    assert page.status_code == 200
    assert b'id="credentials-unreadable"' in page.content and b'id="reveal-credentials"' not in page.content
    revealed = client.post(f"/stores/{store.id}/credentials")
    assert revealed.status_code == 200
    assert CREDS["password"].encode() not in revealed.content


def test_the_console_shows_the_store_and_names_the_problem(client, admin_user, tenant):
    store = ready_store(tenant)
    make_unreadable(store, "admin_credentials", "secrets")
    client.force_login(admin_user)
    page = client.get(f"/admin/stores/store/{store.id}/change/")
    assert page.status_code == 200
    assert b"unreadable: no key in CREDENTIALS_ENCRYPTION_KEY decrypts them" in page.content


def test_a_transition_saves_the_row_without_touching_the_tokens(tenant, tenant_api):
    store = ready_store(tenant)
    make_unreadable(store, "admin_credentials", "secrets")
    assert tenant_api.delete(f"/api/v1/stores/{store.id}").status_code == 202
    assert stored(store) == ("deleting", TOKEN, TOKEN)


def test_using_an_unreadable_value_raises_instead_of_passing_for_empty(tenant):
    store = StoreFactory(owner=tenant, secrets={"dbPassword": "kept"})
    make_unreadable(store, "secrets")
    loaded = Store.objects.get(pk=store.pk)
    assert isinstance(loaded.secrets, Unreadable) and bool(loaded.secrets)
    # `store.secrets or {}` must not become {} (the worker would generate new passwords over the old ones)
    uses = (lambda s: dict(s.secrets or {}), lambda s: (s.secrets or {}).get("dbPassword"), lambda s: s.secrets["x"])
    for use in uses:
        with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
            use(loaded)
    assert TOKEN not in repr(loaded.secrets)
