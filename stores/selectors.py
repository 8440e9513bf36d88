"""Reads of stores and their audit trail, scoped to what the asking user may see (the only place that filters
by owner: API views, pages and admin lists all come through here)."""

import uuid
from typing import Any

from django.db.models import Count, QuerySet, Window

from accounts.models import User
from audit.models import AuditEvent
from core.queries import PkLookup, PreparedQuery
from stores.exceptions import StoreAccessDenied, StoreNotFound
from stores.models import Store, StoreStatus

# `secrets` (helm's) is never shown, so never read or decrypted for a page or an API read.
STORE_BY_ID = PkLookup(Store, deferred=("secrets",))


def visible_stores(user: User) -> QuerySet[Store]:
    qs = Store.objects.all()
    return qs if user.is_admin else qs.filter(owner=user)


def store_get_for_user(user: User, store_id: str) -> Store:
    """The store, if this user may see it: 404 when it does not exist, 403 when it is someone else's."""
    try:
        store = STORE_BY_ID.get(store_id)
    except Store.DoesNotExist:
        raise StoreNotFound(store_id) from None
    if not user.is_admin and store.owner_id != user.pk:
        raise StoreAccessDenied()
    return store


def _stores(owner: uuid.UUID | None = None, status: str | None = None, engine: str | None = None) -> QuerySet[Store]:
    """The stores a list shows: one owner's (a tenant's own, or the owner an admin asked for) or everyone's;
    deleted ones only when asked for with status=deleted."""
    qs = Store.objects.all() if owner is None else Store.objects.filter(owner_id=owner)
    qs = qs.filter(status=status) if status else qs.exclude(status=StoreStatus.DELETED)
    return qs.filter(engine=engine) if engine else qs


# One round trip: the total rides on every row as COUNT(*) OVER (). `secrets` (install-time passwords) is never
# shown, so never decrypted here. Prepared: the list is the dashboard's poll, the API's most frequent read.
STORE_PAGE = PreparedQuery(
    Store,
    lambda **values: (
        _stores(**values).defer("secrets").annotate(_total=Window(Count("id"))).order_by("-created_at", "-id")
    ),
)


def store_list(
    user: User,
    *,
    status: str | None = None,
    engine: str | None = None,
    owner_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Store], int]:
    """Newest first. Deleted stores are listed only when asked for with status=deleted. `owner_id` is honoured
    for admins only; a tenant always sees just its own stores."""
    if not user.is_admin:
        owner = user.pk
    elif not owner_id:
        owner = None
    elif _is_uuid(owner_id):
        owner = uuid.UUID(owner_id)
    else:
        return [], 0
    values: dict[str, Any] = {"owner": owner, "status": status or None, "engine": engine or None}
    page = STORE_PAGE.page(limit=limit, offset=offset, **values)
    if page:
        return page, page[0]._total
    # Only a page past the end (no rows to carry the total) needs a separate count.
    return page, (0 if offset == 0 else _stores(**values).count())


def store_counts_by_status(user: User) -> dict[str, int]:
    rows = visible_stores(user).values("status").annotate(n=Count("id")).order_by()
    counts = {status: 0 for status in StoreStatus.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def store_audit(store: Store, *, limit: int = 100, offset: int = 0) -> tuple[list[AuditEvent], int]:
    qs = AuditEvent.objects.filter(store_id=store.pk)
    return list(qs.order_by("-id")[offset : offset + limit]), qs.count()


def audit_list(
    user: User, *, store_id: str | None = None, event_type: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[AuditEvent], int]:
    """Admins see everything, security events included; a tenant sees only events of its own stores."""
    qs = AuditEvent.objects.all()
    if not user.is_admin:
        qs = qs.filter(store_owner_id=user.pk)
    if store_id:
        qs = qs.filter(store_id=store_id)
    if event_type:
        qs = qs.filter(event_type=event_type)
    return list(qs.order_by("-id")[offset : offset + limit]), qs.count()


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
