"""The backups' JSON (camelCase, ISO-8601 UTC with milliseconds) and their OpenAPI schemas."""

from typing import Any

from rest_framework import serializers

from backups.models import Backup, BackupSchedule
from core.api import iso
from core.validation import ContractSerializer, StrictCharField
from stores.models import Store, contract_status


def backup_representation(backup: Backup) -> dict[str, Any]:
    return {
        "id": backup.id,
        "storeId": backup.store_id,
        "engine": backup.engine,
        "status": backup.status,
        "trigger": backup.trigger,
        "chartVersion": backup.chart_version or None,
        "sizeBytes": backup.size_bytes,
        "parts": {
            name: {"size": part.get("size"), "sha256": part.get("sha256"), "format": part.get("format")}
            for name, part in (backup.parts or {}).items()
        },
        "manifestSha256": backup.manifest_sha256 or None,
        "failureReason": backup.failure_reason or None,
        "requestedAt": iso(backup.requested_at),
        "startedAt": iso(backup.started_at),
        "finishedAt": iso(backup.finished_at),
        "removedAt": iso(backup.removed_at),
        "restorable": backup.status == "succeeded" and backup.removed_at is None,
    }


class PartSchema(serializers.Serializer):
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    format = serializers.CharField()


class BackupSchema(serializers.Serializer):
    id = serializers.CharField()
    storeId = serializers.CharField()  # noqa: N815
    engine = serializers.CharField()
    status = serializers.ChoiceField(choices=["requested", "running", "succeeded", "failed"])
    trigger = serializers.CharField()
    chartVersion = serializers.CharField(allow_null=True)  # noqa: N815
    sizeBytes = serializers.IntegerField(allow_null=True)  # noqa: N815
    parts = serializers.DictField(child=PartSchema())
    manifestSha256 = serializers.CharField(allow_null=True)  # noqa: N815
    failureReason = serializers.CharField(allow_null=True)  # noqa: N815
    requestedAt = serializers.DateTimeField()  # noqa: N815
    startedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    finishedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    removedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    restorable = serializers.BooleanField()


class BackupActionResponse(serializers.Serializer):
    requestId = serializers.CharField()  # noqa: N815
    message = serializers.CharField()
    backup = BackupSchema()


def restore_representation(store: Store) -> dict[str, Any]:
    """Restore into the same store as a tenant follows it: the precise state (`restoring`, shown to the contract's
    clients as provisioning), the restore under way and the last one's outcome."""
    return {
        "storeId": store.id,
        "state": store.status,
        "status": contract_status(store.status),
        "pendingRestore": store.pending_restore,
        "lastRestore": store.last_restore,
    }


class _RestoreState(serializers.Serializer):
    """The store's restore state, in both the backup list and a restore's answer."""

    requestId = serializers.CharField()  # noqa: N815
    storeId = serializers.CharField()  # noqa: N815
    state = serializers.CharField()
    status = serializers.CharField()
    pendingRestore = serializers.JSONField(allow_null=True)  # noqa: N815
    lastRestore = serializers.JSONField(allow_null=True)  # noqa: N815


class BackupListResponse(_RestoreState):
    backups = BackupSchema(many=True)
    total = serializers.IntegerField()


class RestoreResponse(_RestoreState):
    message = serializers.CharField()


class ScheduleSerializer(ContractSerializer):
    """PUT /stores/{id}/backups/schedule: every N hours (1-720), keeping the newest `keep` (1-100)."""

    enabled = serializers.BooleanField()
    everyHours = serializers.IntegerField(min_value=1, max_value=720, source="every_hours")  # noqa: N815
    keep = serializers.IntegerField(min_value=1, max_value=100)


def schedule_representation(schedule: BackupSchedule | None) -> dict[str, Any]:
    if schedule is None:
        return {"enabled": False, "everyHours": None, "keep": None, "overdueSince": None}
    return {
        "enabled": schedule.enabled,
        "everyHours": schedule.every_hours,
        "keep": schedule.keep,
        "overdueSince": iso(schedule.overdue_since),
    }


class ScheduleResponse(serializers.Serializer):
    requestId = serializers.CharField()  # noqa: N815
    enabled = serializers.BooleanField()
    everyHours = serializers.IntegerField(allow_null=True)  # noqa: N815
    keep = serializers.IntegerField(allow_null=True)
    overdueSince = serializers.DateTimeField(allow_null=True)  # noqa: N815


class StrictBooleanField(serializers.BooleanField):
    """true or false only: a destructive confirmation is never read from "yes" or 1."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class RestoreSerializer(ContractSerializer):
    """POST /stores/{id}/restore: one of the store's own backups, and `confirm: true` (its data replaces the
    store's)."""

    backupId = StrictCharField(max_length=32, source="backup_id")  # noqa: N815
    confirm = StrictBooleanField()
