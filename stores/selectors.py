"""Reads of stores and their audit trail, scoped to what the asking user may see (the only place that filters
by owner: API views, pages and admin lists all come through here)."""

import uuid
from typing import Any

from django.db.models import CharField, Count, F, Func, QuerySet, TextField
from django.db.models.functions import Cast

from accounts.models import User
from audit.models import AuditEvent
from core.queries import PkLookup, RowsPage, total_shown
from stores.exceptions import StoreAccessDenied, StoreNotFound
from stores.models import LifecycleStatus, Store, StoreStatus, contract_status

# What the API and the pages read of a store: `secrets` (helm's) never, and the admin credentials as their stored
# token, decrypted only for a viewer who sees them in plain (stores.api.serializers): an admin's page of other
# tenants' stores decrypts nothing. The name of that token's annotation (or row key):
CREDENTIALS_TOKEN = "credentials_token"  # noqa: S105  (a column alias, not a secret)
# The columns the contract's Store is made of (owner_id for isCredentialOwner) and an audit entry's: the API's pages
# read them as rows, not models (building a Store, with django-fsm's state bookkeeping, cost more CPU than the
# rest of a page's row: bench/api), and stores.api.serializers renders either.
STORE_COLUMNS = (
    "id",
    "name",
    "engine",
    "status",
    "theme",
    "storefront_url",
    "admin_url",
    "namespace",
    "owner_id",
    "failure_reason",
    "retry_count",
    "provisioning_duration_ms",
    "created_at",
    "updated_at",
)
# Rows carry their timestamps as the contract writes them (ISO 8601 in UTC, milliseconds, Z), formatted by
# PostgreSQL: loading a timestamptz into a datetime and formatting it again cost more CPU than the rest of a list
# row's fields together (bench/api). The row key of each column's text:
ISO_OF = {"created_at": "created_iso", "updated_at": "updated_iso"}
AUDIT_COLUMNS = (
    "id",
    "store_id",
    "store_name",
    "event_type",
    "previous_status",
    "new_status",
    "message",
    "metadata",
    "ip_address",
    "actor_email",
    "created_at",
)


def _iso(column: str) -> Func:
    """`column` (a timestamptz) as core.api.iso writes it; to_char's MS truncates, as isoformat's milliseconds do."""
    return Func(
        F(column),
        template="""to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')""",
        output_field=CharField(),
    )


def _row_values(qs: QuerySet, columns: tuple[str, ...], **annotations: Any) -> QuerySet:
    """`qs` as rows of `columns`, the timestamps as ISO text under their ISO_OF keys."""
    plain = [c for c in columns if c not in ISO_OF]
    return qs.values(*plain, **{ISO_OF[c]: _iso(c) for c in columns if c in ISO_OF}, **annotations)


def _token() -> Cast:
    return Cast("admin_credentials", output_field=TextField())  # the stored text, without the field's decryption


def _readable(qs: QuerySet[Store]) -> QuerySet[Store]:
    return qs.defer("secrets", "admin_credentials").annotate(**{CREDENTIALS_TOKEN: _token()})


def visible_stores(user: User) -> QuerySet[Store]:
    qs = Store.objects.all()
    return qs if user.is_admin else qs.filter(owner=user)


# A store by id is the API's and the pages' most frequent single read: compiled once (core.queries).
STORE_BY_ID = PkLookup(Store, deferred=("secrets", "admin_credentials"), annotations={CREDENTIALS_TOKEN: _token()})


def store_get_for_user(user: User, store_id: str) -> Store:
    """The store, if this user may see it: 404 when it does not exist, 403 when it is someone else's."""
    try:
        store = STORE_BY_ID.get(store_id)
    except Store.DoesNotExist:
        raise StoreNotFound(store_id) from None
    if not user.is_admin and store.owner_id != user.pk:
        raise StoreAccessDenied()
    return store


# The stored states each contract status stands for: a list filtered by a status returns the stores whose
# representation shows that status (suspended reads as ready, upgrading as provisioning: stores.models).
STATES_OF_CONTRACT_STATUS: dict[str, tuple[str, ...]] = {
    shown: tuple(s for s in (*StoreStatus.values, *LifecycleStatus.values) if contract_status(s) == shown)
    for shown in StoreStatus.values
}


def _stores(owner: uuid.UUID | None = None, status: str | None = None, engine: str | None = None) -> QuerySet[Store]:
    """The stores a list shows: one owner's (a tenant's own, or the owner an admin asked for) or everyone's;
    deleted ones only when asked for with status=deleted. `status` is the contract's, as the store reads."""
    qs = Store.objects.all() if owner is None else Store.objects.filter(owner_id=owner)
    qs = qs.filter(status__in=STATES_OF_CONTRACT_STATUS[status]) if status else qs.exclude(status=StoreStatus.DELETED)
    return qs.filter(engine=engine) if engine else qs


def store_list(
    user: User,
    *,
    status: str | None = None,
    engine: str | None = None,
    owner_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
    rows: bool = False,
) -> tuple[list, int]:
    """Newest first (id breaks ties, so pages never overlap or skip). Deleted stores are listed only when asked for
    with status=deleted. `owner_id` is honoured for admins only; a tenant always sees just its own stores.
    The page is an index-ordered slice (the owner, status and created indexes end in created_at DESC, id DESC);
    the total is a separate COUNT, left out when the page itself shows it (a short page that is not empty).
    Stores, or with `rows` (the API) dicts of STORE_COLUMNS and the credentials' token."""
    if not user.is_admin:
        owner = user.pk
    elif not owner_id:
        owner = None
    elif _is_uuid(owner_id):
        owner = uuid.UUID(owner_id)
    else:
        return [], 0
    if rows:
        given = {"owner": owner, "engine": engine or None}
        arguments = {name: value for name, value in given.items() if value is not None}
        return STORE_ROWS.page((status or None,), arguments, limit=limit, offset=offset)
    qs = _stores(owner=owner, status=status or None, engine=engine or None)
    return _page(_readable(qs).order_by("-created_at", "-id"), qs, limit, offset)


def _store_rows(status: str | None, owner: uuid.UUID | None = None, engine: str | None = None) -> tuple:
    qs = _stores(owner=owner, status=status, engine=engine)
    return _row_values(qs, STORE_COLUMNS, **{CREDENTIALS_TOKEN: _token()}).order_by("-created_at", "-id"), qs


# Sentinels stand for a call's values while a shape compiles (core.queries.RowsPage): none a real row could hold.
_SENTINELS = {
    "owner": uuid.UUID("00000000-0000-4000-8000-5e47e1000001"),
    "engine": "sentinel:engine",
    "store_id": "sentinel:store",
    "event_type": "sentinel:event-type",
}
# The API's store list and audit pages, each shape compiled once per process.
STORE_ROWS = RowsPage(_store_rows, _SENTINELS)


def _page(ordered: QuerySet, counted: QuerySet, limit: int, offset: int) -> tuple[list, int]:
    """A page of `ordered` and the total of `counted`: a page that is short but not empty ends the list, so the
    total is offset + its length without asking; a full page (or none past the end) needs the COUNT."""
    page = list(ordered[offset : offset + limit])
    shown = total_shown(len(page), limit=limit, offset=offset)
    return page, counted.count() if shown is None else shown


def store_counts_by_status(user: User) -> dict[str, int]:
    rows = visible_stores(user).values("status").annotate(n=Count("id")).order_by()
    counts = {status: 0 for status in StoreStatus.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def store_audit(store: Store, *, limit: int = 100, offset: int = 0, rows: bool = False) -> tuple[list, int]:
    """The store's audit trail, newest first: AuditEvents, or with `rows` (the API) dicts of AUDIT_COLUMNS."""
    if rows:
        return AUDIT_ROWS.page((), {"store_id": store.pk}, limit=limit, offset=offset)
    qs = AuditEvent.objects.filter(store_id=store.pk)
    return _page(qs.order_by("-id"), qs, limit, offset)


def audit_list(
    user: User, *, store_id: str | None = None, event_type: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Admins see everything, security events included; a tenant sees only events of its own stores. Newest first
    (ids are assigned in insertion order and rows are never changed), as rows of AUDIT_COLUMNS."""
    given = {"owner": None if user.is_admin else user.pk, "store_id": store_id, "event_type": event_type}
    arguments = {name: value for name, value in given.items() if value}
    return AUDIT_ROWS.page((), arguments, limit=limit, offset=offset)


def _audit_rows(owner: uuid.UUID | None = None, store_id: str | None = None, event_type: str | None = None) -> tuple:
    qs = AuditEvent.objects.all()
    if owner is not None:
        qs = qs.filter(store_owner_id=owner)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if event_type is not None:
        qs = qs.filter(event_type=event_type)
    return _row_values(qs, AUDIT_COLUMNS).order_by("-id"), qs


AUDIT_ROWS = RowsPage(_audit_rows, _SENTINELS)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
