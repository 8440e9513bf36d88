"""PkLookup and PreparedQuery: the hot-path reads give exactly what the ORM gives, in one query."""

import uuid

import pytest
from django.db import transaction
from django.db.models import Count, Window
from django_fsm import ConcurrentTransition

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from core.queries import PkLookup, PreparedQuery
from stores.models import Store, StoreStatus
from stores.tests.factories import StoreFactory

pytestmark = pytest.mark.django_db


def _values(instance, names):
    return {name: getattr(instance, name) for name in names}


def ready_store() -> Store:
    store = StoreFactory(status=StoreStatus.READY)
    Store.objects.filter(pk=store.pk).update(
        admin_credentials={"email": "a@example.com", "username": "admin", "password": "s3cret-pass"},
        secrets={"db": "helm-only"},
        storefront_url="http://x.localhost",
    )
    return store


def test_store_matches_the_orm_and_leaves_the_deferred_field_for_later(django_assert_num_queries):
    store = ready_store()
    lookup = PkLookup(Store, deferred=("secrets",))
    shown = [f.attname for f in Store._meta.concrete_fields if f.attname != "secrets"]

    with django_assert_num_queries(1):
        found = lookup.get(store.pk)
        values = _values(found, shown)
    assert values == _values(Store.objects.get(pk=store.pk), shown)
    assert found.admin_credentials["password"] == "s3cret-pass"  # decrypted by the field, as with get()
    assert found.get_deferred_fields() == {"secrets"}
    assert found.secrets == {"db": "helm-only"}  # read on access, as defer() does
    assert not found._state.adding and found._state.db == "default"


def test_a_second_lookup_reads_the_current_row():
    store = ready_store()
    lookup = PkLookup(Store)
    assert lookup.get(store.pk).name == store.name
    Store.objects.filter(pk=store.pk).update(name="renamed")
    assert lookup.get(store.pk).name == "renamed"


def test_a_store_read_through_it_still_loses_a_race_instead_of_overwriting():
    store = ready_store()
    stale = PkLookup(Store).get(store.pk)
    Store.objects.filter(pk=store.pk).update(status=StoreStatus.DELETING)

    stale.request_deletion()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        stale.save()
    assert Store.objects.get(pk=store.pk).status == StoreStatus.DELETING


@pytest.mark.parametrize("value", [uuid.UUID(int=1), str(uuid.UUID(int=1)), "not-a-uuid", "", None, 42])
def test_a_missing_or_impossible_key_is_not_found(value):
    UserFactory()
    with pytest.raises(User.DoesNotExist):
        PkLookup(User).get(value)


def test_user_by_string_or_uuid_key_is_the_same_user():
    user = UserFactory()
    lookup = PkLookup(User)
    assert lookup.get(str(user.pk)).email == lookup.get(user.pk).email == user.email
    assert lookup.get(user.pk).check_password(DEFAULT_PASSWORD)


# --- PreparedQuery: a page of a queryset compiled once per shape ---------------------------------------------------


def _page_queryset(owner=None, status=None, engine=None):
    qs = Store.objects.all() if owner is None else Store.objects.filter(owner_id=owner)
    qs = qs.filter(status=status) if status else qs.exclude(status=StoreStatus.DELETED)
    qs = qs.filter(engine=engine) if engine else qs
    return qs.defer("secrets").annotate(_total=Window(Count("id"))).order_by("-created_at", "-id")


def _mixed_stores():
    owners = [UserFactory(), UserFactory()]
    for i in range(12):
        status = [StoreStatus.READY, StoreStatus.REQUESTED, StoreStatus.DELETED][i % 3]
        StoreFactory(owner=owners[i % 2], engine=["woocommerce", "medusa"][i % 4 // 2], status=status)
    ready_store()  # a third owner's, with credentials
    return owners


@pytest.mark.parametrize("owner_index", [None, 0])
@pytest.mark.parametrize("status", [None, "ready", "deleted"])
@pytest.mark.parametrize("engine", [None, "medusa"])
@pytest.mark.parametrize(("limit", "offset"), [(50, 0), (2, 1), (5, 40)])
def test_a_prepared_page_is_the_orms_page(owner_index, status, engine, limit, offset, django_assert_num_queries):
    owners = _mixed_stores()
    values = {"owner": None if owner_index is None else owners[owner_index].pk, "status": status, "engine": engine}
    prepared = PreparedQuery(Store, _page_queryset)
    given = {name: value for name, value in values.items() if value is not None}
    expected = list(_page_queryset(**given)[offset : offset + limit])
    shown = [f.attname for f in Store._meta.concrete_fields if f.attname != "secrets"]

    with django_assert_num_queries(1):
        page = prepared.page(limit=limit, offset=offset, **values)
        found = [(_values(s, shown), s._total) for s in page]
    assert found == [(_values(s, shown), s._total) for s in expected]
    assert all(s.get_deferred_fields() == {"secrets"} and not s._state.adding for s in page)


def test_a_prepared_page_binds_new_values_and_pages_into_the_same_text():
    owners = _mixed_stores()
    prepared = PreparedQuery(Store, _page_queryset)
    first = prepared.page(limit=50, offset=0, owner=owners[0].pk)
    second = prepared.page(limit=50, offset=0, owner=owners[1].pk)
    tail = prepared.page(limit=2, offset=1, owner=owners[1].pk)
    assert {s.owner_id for s in first} == {owners[0].pk} and {s.owner_id for s in second} == {owners[1].pk}
    assert [s.pk for s in tail] == [s.pk for s in second[1:3]]
    assert len(prepared._compiled) == 1  # one shape, one compiled text


def test_a_prepared_page_decrypts_and_defers_as_the_orm():
    store = ready_store()
    (found,) = PreparedQuery(Store, _page_queryset).page(limit=10, offset=0, owner=store.owner_id)
    assert found.admin_credentials["password"] == "s3cret-pass"
    assert found.secrets == {"db": "helm-only"}  # loaded on access


def test_a_prepared_query_refuses_what_it_cannot_bind():
    with pytest.raises(TypeError, match="str or UUID"):
        PreparedQuery(Store, _page_queryset).page(limit=1, offset=0, owner=42)
    ignored = PreparedQuery(Store, lambda owner: Store.objects.order_by("id"))  # the value never reaches the SQL
    with pytest.raises(RuntimeError, match="do not map"):
        ignored.page(limit=1, offset=0, owner=uuid.uuid4())
    sliced = PreparedQuery(Store, lambda: Store.objects.order_by("id")[:3])
    with pytest.raises(RuntimeError, match="unsliced"):
        sliced.page(limit=1, offset=0)
    rows = PreparedQuery(Store, lambda: Store.objects.values("id").order_by("id"))
    with pytest.raises(RuntimeError, match="model instances"):
        rows.page(limit=1, offset=0)
