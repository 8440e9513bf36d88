"""Reads of backups, scoped like the store routes: a tenant reaches backups only through a store it may see."""

from django.db.models import QuerySet

from accounts.models import User
from backups.models import Backup
from stores import selectors as store_selectors
from stores.exceptions import StoreAccessDenied, StoreNotFound
from stores.models import Store


def store_for_backups(user: User, store_id: str) -> Store:
    """The store if `user` may see it; another tenant's store is StoreNotFound, as one that does not exist."""
    try:
        return store_selectors.store_get_for_user(user, store_id)
    except StoreAccessDenied:
        raise StoreNotFound(store_id) from None


def backups_of(store: Store, *, limit: int = 50) -> QuerySet[Backup]:
    return Backup.objects.filter(store=store).order_by("-requested_at", "-id")[:limit]
