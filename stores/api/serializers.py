"""Request validation (contract §1.4 #5-#11) and the serialized Store and audit entries (§1.5)."""

import logging
import re
from typing import Any

from rest_framework import serializers

from accounts.models import User
from audit.models import AuditEvent
from core.api import iso
from core.crypto import UNREADABLE_MESSAGE, is_unreadable
from core.validation import ContractSerializer, StrictCharField
from stores.models import Engine, Store, StoreStatus, Theme, contract_status
from stores.validators import store_name_error

STORE_ID_RE = re.compile(r"^store-[a-f0-9]{8}$")
MASK = "\u2022" * 8
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


def credentials_unreadable(store: Store) -> bool:
    """A ready store whose credentials no configured key decrypts (the key was lost or changed): they read as null
    and the rest of the store still reads; the operator must put the old key back in CREDENTIALS_ENCRYPTION_KEY."""
    return store.status == StoreStatus.READY and is_unreadable(store.admin_credentials)


def admin_credentials_for(store: Store, viewer: User) -> dict[str, Any] | None:
    """Null until the store is ready. The owner sees the values; anyone else (an admin) sees them masked."""
    creds = store.admin_credentials if store.status == StoreStatus.READY else None
    if not creds:
        return None
    if credentials_unreadable(store):
        logger.error("store %s: %s", store.id, UNREADABLE_MESSAGE, extra={"store_id": store.id})
        return None
    if store.owner_id == viewer.pk:
        return {k: creds.get(k) for k in ("email", "username", "password") if k in creds}
    masked: dict[str, Any] = {"email": mask_email(creds.get("email"))}
    if "username" in creds:
        masked["username"] = (creds["username"][:1] + "****") if creds["username"] else None
    masked["password"] = MASK if creds.get("password") else None
    return masked


def store_representation(store: Store, viewer: User) -> dict[str, Any]:
    """Exactly the contract's keys, in its order. `status` is always one of the contract's six: a store that is
    suspending, resuming or upgrading reads as "provisioning" (a worker has it: the dashboard offers no delete or
    retry, which the API would refuse then anyway), a suspended one as "ready" (intact, deletable; its URL shows
    the closed page). The precise state is store_lifecycle_representation's, at GET /stores/{id}/lifecycle."""
    return {
        "id": store.id,
        "name": store.name,
        "engine": store.engine,
        "status": contract_status(store.status),  # a lifecycle state reads as its contract state (models)
        "theme": store.theme,
        "urls": {"storefront": store.storefront_url, "admin": store.admin_url},
        "namespace": store.namespace,
        "adminCredentials": admin_credentials_for(store, viewer),
        "isCredentialOwner": store.owner_id == viewer.pk,
        "failureReason": store.failure_reason,
        "retryCount": store.retry_count,
        "provisioningDurationMs": store.provisioning_duration_ms or None,
        "createdAt": iso(store.created_at),
        "updatedAt": iso(store.updated_at),
    }


def audit_entry(event: AuditEvent, *, include_actor: bool, include_store_name: bool) -> dict[str, Any]:
    entry = {
        "id": str(event.id),
        "storeId": event.store_id,
        "eventType": event.event_type,
        "previousStatus": event.previous_status,
        "newStatus": event.new_status,
        "message": event.message or None,
        "metadata": event.metadata or {},
        "ipAddress": event.ip_address if include_actor else None,
        "userEmail": event.actor_email if include_actor else None,
        "createdAt": iso(event.created_at),
    }
    if include_store_name:
        entry["storeName"] = event.store_name
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
