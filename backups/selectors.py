"""Reads of backups, scoped like the store routes: a tenant reaches backups only through a store it may see."""

from django.db.models import QuerySet

from accounts.models import User
from backups.models import Backup
from stores import selectors as store_selectors
from stores.models import Store


def store_for_backups(user: User, store_id: str) -> Store:
    """The store if `user` may see it: StoreNotFound (404) or, for another tenant's store, StoreAccessDenied (the
    contract's 403 `Access denied.`), the same answers as the store's own routes."""
    return store_selectors.store_get_for_user(user, store_id)


def backups_of(store: Store, *, limit: int = 50) -> QuerySet[Backup]:
    return Backup.objects.filter(store=store).order_by("-requested_at", "-id")[:limit]
