"""One factory per model of the stores app. `status=` puts a store straight into any state (tests only)."""

import factory

from accounts.tests.factories import UserFactory
from stores.models import Engine, Store, StoreStatus, new_store_id


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    id = factory.LazyFunction(new_store_id)
    name = factory.Sequence(lambda n: f"shop-{n}")
    engine = Engine.WOOCOMMERCE
    theme = "storefront"
    owner = factory.SubFactory(UserFactory)
    namespace = factory.SelfAttribute("id")
    helm_release = factory.SelfAttribute("id")

    @classmethod
    def _create(cls, model_class, *args, status=StoreStatus.REQUESTED, **kwargs):
        store = super()._create(model_class, *args, **kwargs)
        if status != StoreStatus.REQUESTED:
            # The FSM field is protected on instances; the database is where a fixture may set it directly.
            Store.objects.filter(pk=store.pk).update(status=status)
            store = Store.objects.get(pk=store.pk)
        return store
