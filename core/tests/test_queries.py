"""PkLookup: the hot-path primary-key reads give exactly what the ORM gives, in one query."""

import uuid

import pytest
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django_fsm import ConcurrentTransition

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from core.queries import PkLookup
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
