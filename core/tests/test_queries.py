"""PkLookup: the hot-path primary-key reads give exactly what the ORM gives, in one query; RowsPage: the API's list
pages give the plain ORM's rows and totals."""

import uuid

import pytest
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django_fsm import ConcurrentTransition

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit.models import AuditEvent, EventType
from audit.services import audit_record
from core.queries import PkLookup, RowsPage
from stores.models import Engine, LifecycleStatus, Store, StoreStatus
from stores.selectors import AUDIT_ROWS, STATES_OF_CONTRACT_STATUS, STORE_ROWS, _audit_rows, _store_rows
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


def test_annotations_land_on_the_instance_and_the_field_left_out_is_not_decrypted(django_assert_num_queries):
    store = ready_store()
    token_of = {"token": Cast("admin_credentials", output_field=TextField())}
    lookup = PkLookup(Store, deferred=("secrets", "admin_credentials"), annotations=token_of)
    with django_assert_num_queries(1):
        found = lookup.get(store.pk)
    raw = Store.objects.filter(pk=store.pk).annotate(**token_of).values_list("token", flat=True).get()
    assert found.token == raw and "s3cret-pass" not in raw  # the stored token, as the ORM reads it
    assert found.get_deferred_fields() == {"secrets", "admin_credentials"}
    assert found.admin_credentials["password"] == "s3cret-pass"  # still readable on access


# RowsPage (the API's store list and audit pages): every shape the API can ask for gives the plain ORM's rows and
# total, and a compiled shape takes each call's own values.
def _orm_page(ordered, counted, limit, offset):
    return list(ordered[offset : offset + limit]), counted.count()


@pytest.fixture
def listed():

    owners = [UserFactory(), UserFactory()]
    states = [*StoreStatus.values, *LifecycleStatus.values]
    stores = [
        StoreFactory(owner=owners[i % 2], engine=(Engine.WOOCOMMERCE, Engine.MEDUSA)[i % 3 == 0], status=state)
        for i, state in enumerate(states * 2)
    ]
    for i, store in enumerate(stores):
        audit_record(
            event_type=(EventType.INFO, EventType.STATUS_CHANGE)[i % 2],
            store=store,
            message=f"m{i}",
            metadata={"n": i},
            ip_address="10.0.0.1",
        )
    return owners, stores


def test_every_store_list_shape_gives_the_orm_page(listed):

    owners, _ = listed
    for status in (None, *STATES_OF_CONTRACT_STATUS):
        for owner in (None, *(o.pk for o in owners)):
            for engine in (None, "woocommerce", "medusa"):
                arguments = {k: v for k, v in (("owner", owner), ("engine", engine)) if v is not None}
                for limit, offset in ((3, 0), (3, 3), (50, 0), (2, 1000)):
                    found = STORE_ROWS.page((status,), arguments, limit=limit, offset=offset)
                    assert found == _orm_page(*_store_rows(status, **arguments), limit, offset), (status, arguments)


def test_every_audit_shape_gives_the_orm_page_json_and_ip_converted(listed):

    owners, stores = listed
    shapes = [{}, {"owner": owners[0].pk}, {"owner": owners[1].pk, "store_id": stores[1].pk}]
    shapes += [{"store_id": stores[0].pk}, {"event_type": "INFO"}, {"owner": owners[0].pk, "event_type": "INFO"}]
    for arguments in shapes:
        for limit, offset in ((2, 0), (2, 2), (100, 0)):
            found = AUDIT_ROWS.page((), arguments, limit=limit, offset=offset)
            assert found == _orm_page(*_audit_rows(**arguments), limit, offset), arguments
    newest = AUDIT_ROWS.page((), {}, limit=1, offset=0)[0][0]
    assert newest["metadata"] == AuditEvent.objects.order_by("-id").first().metadata  # a dict, not JSON text


def test_a_shape_whose_sentinel_is_not_one_parameter_is_refused():

    def build(name=None):
        qs = Store.objects.filter(name=name, theme=name)  # the value twice: no single slot for it
        return qs.values("id").order_by("id"), qs

    with pytest.raises(RuntimeError, match="sentinel of 'name'"):
        RowsPage(build, {"name": "sentinel:name"}).page((), {"name": "x"}, limit=1, offset=0)
