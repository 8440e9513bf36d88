"""Request validation (contract §1.4 #5-#11) and the serialized Store and audit entries (§1.5)."""

import logging
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

from django.http import QueryDict
from rest_framework import serializers

from accounts.models import User
from audit.models import AuditEvent
from core.api import iso
from core.crypto import UNREADABLE_MESSAGE, is_unreadable
from core.validation import ContractSerializer, StrictCharField
from stores.models import Engine, Store, StoreStatus, Theme, contract_status
from stores.selectors import AUDIT_COLUMNS, CREDENTIALS_TOKEN, ISO_OF, STORE_COLUMNS
from stores.validators import store_name_error

STORE_ID_RE = re.compile(r"^store-[a-f0-9]{8}$")
MASK = "\u2022" * 8
_CREDENTIALS_FIELD = Store._meta.get_field("admin_credentials")
logger = logging.getLogger(__name__)


class StoreCreateSerializer(ContractSerializer):
    name = StrictCharField(max_length=1024)
    engine = serializers.ChoiceField(
        choices=Engine.values, error_messages={"invalid_choice": "Engine must be one of: woocommerce, medusa."}
    )
    theme = serializers.ChoiceField(
        choices=Theme.values,
        required=False,
        error_messages={
            "invalid_choice": "Theme must be one of: storefront, astra.",
            "blank": '"theme" is not allowed to be empty',
        },
    )
    password = StrictCharField(
        required=False,
        min_length=8,
        max_length=128,
        error_messages={"min_length": "Password must be at least 8 characters."},
    )
    # Addition (issue 19): create the store from one of the caller's succeeded backups (checked by the service).
    restoreFrom = StrictCharField(required=False, max_length=32, source="restore_from")  # noqa: N815

    def validate_name(self, value: str) -> str:
        problem = store_name_error(value)
        if problem:
            code, message = problem
            raise serializers.ValidationError(message, code=code)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("engine") != Engine.WOOCOMMERCE and "theme" in attrs:
            raise serializers.ValidationError(
                {"theme": [serializers.ErrorDetail("Theme is only applicable to WooCommerce stores.", "forbidden")]}
            )
        return attrs


class StoreListQuery(ContractSerializer):
    status = serializers.ChoiceField(choices=StoreStatus.values, required=False)
    engine = serializers.ChoiceField(choices=Engine.values, required=False)
    ownerId = StrictCharField(required=False, max_length=128)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)
    offset = serializers.IntegerField(required=False, min_value=0, default=0)


class LogsQuery(ContractSerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)
    offset = serializers.IntegerField(required=False, min_value=0, default=0)


class AuditQuery(LogsQuery):
    storeId = StrictCharField(required=False, max_length=14)
    eventType = StrictCharField(required=False, max_length=64)

    def validate_storeId(self, value: str) -> str:  # noqa: N802  (DRF names hooks after the field)
        if not STORE_ID_RE.fullmatch(value):
            raise serializers.ValidationError(
                f'"storeId" with value "{value}" fails to match the required pattern: /^store-[a-f0-9]{{8}}$/',
                code="pattern",
            )
        return value


def parse_query(serializer: type[ContractSerializer], params: QueryDict) -> dict[str, Any]:
    """The validated query of a list route. No parameters at all (the dashboard's poll, most of the reads) can only
    mean the defaults, worked out once per class: building a DRF serializer copies all its fields, which cost
    about a tenth of a list request (bench/api)."""
    if not params:
        return dict(_defaults(serializer))
    return serializer.parse(params.dict())


@cache
def _defaults(serializer: type[ContractSerializer]) -> dict[str, Any]:
    return serializer.parse({})


def validate_store_id(value: str) -> str:
    if not STORE_ID_RE.fullmatch(value):
        raise serializers.ValidationError(
            {
                "id": [
                    serializers.ErrorDetail(
                        f'"id" with value "{value[:64]}" fails to match the required pattern: /^store-[a-f0-9]{{8}}$/',
                        "pattern",
                    )
                ]
            }
        )
    return value


def mask_email(email: str | None) -> str | None:
    """jo****@example.com; a short local part is hidden entirely (the original left it readable)."""
    if not email or "@" not in email:
        return email and "****"
    local, domain = email.split("@", 1)
    return (local[:2] if len(local) >= 3 else "") + "****@" + domain


# Reads that skip model instances (the list, the audit pages) hand rows of stores.selectors' columns to these; a
# Store (a page, a store just changed by a service) is turned into the same row first, so the rules are stated once.
#
# A masked view needs the values it masks, so a viewer who sees credentials masked costs one decryption per stored
# token and process, then none: the masked view (never a secret: it is what any admin may see) is kept by token.
# A token stands for exactly one value (changing the credentials writes a new one), so the memo is never stale;
# 4096 of them are about 2 MB per process. The owner's own credentials are decrypted on each read, never kept.
_UNREADABLE = object()


def store_row(store: Store | Mapping[str, Any]) -> Mapping[str, Any]:
    """A store as a row of STORE_COLUMNS: its credentials as the stored token when the selectors read it so
    (CREDENTIALS_TOKEN), else as the decrypted value under "admin_credentials"."""
    if not isinstance(store, Store):  # already a row (an ABC check of Mapping costs more than the row's fields)
        return store
    row = {column: getattr(store, column) for column in STORE_COLUMNS}
    row.update({key: iso(row[column]) for column, key in ISO_OF.items()})
    if CREDENTIALS_TOKEN in store.__dict__:
        row[CREDENTIALS_TOKEN] = store.__dict__[CREDENTIALS_TOKEN]
    else:
        row["admin_credentials"] = store.admin_credentials
    return row


def _decrypted(row: Mapping[str, Any]) -> Any:
    if CREDENTIALS_TOKEN in row:
        return _CREDENTIALS_FIELD.from_db_value(row[CREDENTIALS_TOKEN], None, None)
    return row["admin_credentials"]


def _masked(creds: Any) -> Any:
    if not creds:
        return None
    if is_unreadable(creds):
        return _UNREADABLE
    masked: dict[str, Any] = {"email": mask_email(creds.get("email"))}
    if "username" in creds:
        masked["username"] = (creds["username"][:1] + "****") if creds["username"] else None
    masked["password"] = MASK if creds.get("password") else None
    return masked


@lru_cache(maxsize=4096)
def _masked_token(token: str) -> Any:
    return _masked(_CREDENTIALS_FIELD.from_db_value(token, None, None))


def _masked_view(row: Mapping[str, Any]) -> Any:
    if CREDENTIALS_TOKEN in row:
        return _masked_token(row[CREDENTIALS_TOKEN]) if row[CREDENTIALS_TOKEN] else None
    return _masked(row["admin_credentials"])


def credentials_unreadable(store: Store | Mapping[str, Any]) -> bool:
    """A ready store whose credentials no configured key decrypts (the key was lost or changed): they read as null
    and the rest of the store still reads; the operator must put the old key back in CREDENTIALS_ENCRYPTION_KEY."""
    row = store_row(store)
    return row["status"] == StoreStatus.READY and _masked_view(row) is _UNREADABLE


def admin_credentials_for(store: Store | Mapping[str, Any], viewer: User) -> dict[str, Any] | None:
    """Null until the store is ready. The owner sees the values; anyone else (an admin) sees them masked, for which
    nothing is decrypted once the token's masked view is known (above)."""
    row = store_row(store)
    if row["status"] != StoreStatus.READY:
        return None
    if row["owner_id"] == viewer.pk:
        creds = _decrypted(row)
        if creds and not is_unreadable(creds):
            return {k: creds.get(k) for k in ("email", "username", "password") if k in creds}
    else:
        masked = _masked_view(row)
        if masked is not _UNREADABLE:
            return dict(masked) if masked else None
        creds = _UNREADABLE
    if creds:
        logger.error("store %s: %s", row["id"], UNREADABLE_MESSAGE, extra={"store_id": row["id"]})
    return None


def store_representation(store: Store | Mapping[str, Any], viewer: User) -> dict[str, Any]:
    """Exactly the contract's keys, in its order, from a Store or a row of STORE_COLUMNS. `status` is always one of
    the contract's six: a store that is suspending, resuming or upgrading reads as "provisioning" (a worker has it:
    the dashboard offers no delete or retry, which the API would refuse then anyway), a suspended one as "ready"
    (intact, deletable; its URL shows the closed page). The precise state is store_lifecycle_representation's, at
    GET /stores/{id}/lifecycle."""
    row = store_row(store)
    return {
        "id": row["id"],
        "name": row["name"],
        "engine": row["engine"],
        "status": contract_status(row["status"]),  # a lifecycle state reads as its contract state (models)
        "theme": row["theme"],
        "urls": {"storefront": row["storefront_url"], "admin": row["admin_url"]},
        "namespace": row["namespace"],
        "adminCredentials": admin_credentials_for(row, viewer),
        "isCredentialOwner": row["owner_id"] == viewer.pk,
        "failureReason": row["failure_reason"],
        "retryCount": row["retry_count"],
        "provisioningDurationMs": row["provisioning_duration_ms"] or None,
        "createdAt": row["created_iso"],
        "updatedAt": row["updated_iso"],
    }


def audit_entry(event: AuditEvent | Mapping[str, Any], *, include_actor: bool, include_store_name: bool) -> dict:
    """An audit entry (§1.5) from an AuditEvent or a row of AUDIT_COLUMNS (stores.selectors)."""
    if not isinstance(event, AuditEvent):
        row = event
    else:
        row = {column: getattr(event, column) for column in AUDIT_COLUMNS}
        row["created_iso"] = iso(row["created_at"])
    entry = {
        "id": str(row["id"]),
        "storeId": row["store_id"],
        "eventType": row["event_type"],
        "previousStatus": row["previous_status"],
        "newStatus": row["new_status"],
        "message": row["message"] or None,
        "metadata": row["metadata"] or {},
        "ipAddress": row["ip_address"] if include_actor else None,
        "userEmail": row["actor_email"] if include_actor else None,
        "createdAt": row["created_iso"],
    }
    if include_store_name:
        entry["storeName"] = row["store_name"]
    return entry


# --- lifecycle (additions beside the contract: their own routes) ------------------------------------------------


class StoreUpgradeSerializer(ContractSerializer):
    """POST /stores/{id}/upgrade: a chart version, new tenant values, or both. Which values a tenant may set is
    the domain's rule (stores.services.upgrade_values_problems), checked against the store's engine."""

    chartVersion = StrictCharField(required=False, max_length=32)  # noqa: N815  (the contract's camelCase)
    values = serializers.DictField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("chartVersion") and not attrs.get("values"):
            raise serializers.ValidationError(
                {"body": [serializers.ErrorDetail('Give "chartVersion", "values" or both', "object.missing")]}
            )
        return attrs


def store_lifecycle_representation(store: Store) -> dict[str, Any]:
    """The store's precise lifecycle state, chart version and values (never a secret), and its last upgrade."""
    return {
        "storeId": store.id,
        "state": store.status,
        "status": contract_status(store.status),
        "chartVersion": store.chart_version or None,
        "chartValues": store.chart_values or {},
        "pendingUpgrade": store.pending_upgrade,
        "lastUpgrade": store.last_upgrade,
        "suspendedAt": iso(store.suspended_at) if store.suspended_at else None,
    }
