"""Restore into the same store: a ready store gets one of its own backups' data back, keeping its URL, namespace,
release, secrets and admin password. Requested through store_restore_request (API, store page, console: one
service), run by RESTORE, a provisioning.services.Chain like every store operation (the store `restoring` under its
lock and a semaphore slot): the chosen backup verified against its manifest (nothing written before), a backup of
the store as it is now, then the shop closed ("briefly closed" through its URL: no order goes into data about to be
replaced), each part loaded over the store's own data, the admin password set back to the store's, the shop opened
and served, ready. Until the load starts nothing changed: a failure there is "not started" and the
store serves on; a failure while loading leaves the store failed with the reason (the backup taken first holds what
it had)."""

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from backups import engine
from backups.models import Backup, BackupStatus
from backups.restore import _load_part, _verify, rewrite_after_load
from backups.services import RESTORE_TRIGGER, BackupFailed, backup_in_chain
from core.api import iso
from core.errors import PlatformError, ValidationFailed
from provisioning import ingress, lifecycle
from provisioning import services as provisioning_services
from provisioning.errors import NotStarted, ProvisioningError
from provisioning.services import remediate_release
from provisioning.steps import Attempt, reason_of, step
from stores import services as store_services
from stores.exceptions import StoreNotFound
from stores.models import LifecycleStatus, Store

logger = logging.getLogger("storeplane.backups")
L = LifecycleStatus
OPERATION = "restore"  # the run rows' operation


class BackupNotFound(PlatformError):
    """No backup of that id that the store's owner may use (unknown, or another tenant's): the contract's 404."""

    status_code = 404
    code = "NOT_FOUND"
    suggestion = "List the store's backups (GET /api/v1/stores/{id}/backups) and use one of their ids."


def _invalid(key: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message,
        details=[{"message": message, "path": [key], "type": "any.invalid", "context": {"label": key, "key": key}}],
    )


def store_restore_request(
    *, store_id: str, backup_id: str, confirm: bool, actor: User | None, ip_address: str | None = None
) -> Store:
    """Restore `backup_id` into its own store `store_id`, once confirmed: 400 VALIDATION_ERROR unless `confirm` is
    true and the backup is one of this store's, succeeded and still in storage; 404 for an unknown backup or
    another tenant's; 409 unless the store is ready. Nothing changes on a refusal. The store goes `restoring`
    (audited) and the worker's task is enqueued on commit."""
    if confirm is not True:
        raise _invalid("confirm", "\"confirm\" must be true: the store's current data is replaced by the backup's")
    with transaction.atomic():
        store = Store.objects.select_for_update().filter(pk=store_id).first()
        if store is None:
            raise StoreNotFound(store_id)
        backup = Backup.objects.select_related("store").filter(pk=backup_id).first()
        if backup is None or backup.store.owner_id != store.owner_id:
            raise BackupNotFound(f"No backup '{backup_id}' was found.")
        if backup.store_id != store.id:
            raise _invalid("backupId", f'"backupId": backup {backup.id} is of another store ({backup.store_id}).')
        if backup.status != BackupStatus.SUCCEEDED:
            raise _invalid("backupId", f'"backupId" must be a succeeded backup; {backup.id} is {backup.status}.')
        if backup.removed_at is not None:
            raise _invalid("backupId", f'"backupId": backup {backup.id} was removed from storage by retention.')
        target = {
            "backupId": backup.id,
            "requestedBy": getattr(actor, "email", None),
            "requestedAt": iso(timezone.now()),
        }
        return store_services.store_request_restore(
            store_id=store.id, actor=actor, target=target, ip_address=ip_address
        )


def _safety_backup(store: Store, asked: dict[str, Any]) -> Backup | None:
    """The backup an earlier attempt of this restore already took (a retry or a resumed worker must not back up
    data it may have half loaded, nor push a good backup out by retention)."""
    since = parse_datetime(str(asked.get("requestedAt") or ""))
    if since is None:
        return None
    found = Backup.objects.filter(
        store_id=store.id, trigger=RESTORE_TRIGGER, status=BackupStatus.SUCCEEDED, requested_at__gte=since
    )
    return found.order_by("-requested_at").first()


def _restore_chain(run: Attempt, secrets: dict[str, str]) -> str:
    store = run.store
    asked = dict(store.pending_restore or {})
    outcome: dict[str, Any] = {"backupId": asked.get("backupId")}
    try:
        with step(run, "release_check"):
            remediate_release(store)
        with step(run, "restore_verify"):
            backup = Backup.objects.get(pk=asked.get("backupId"))
            manifest = _verify(run, backup)
        # No retention after this one: it would remove the backup being restored when that is the oldest one kept
        # (the next backup's retention counts it).
        safety = _safety_backup(store, asked) or backup_in_chain(
            run, secrets, trigger=RESTORE_TRIGGER, purpose=f"before restoring backup {backup.id}", retention=False
        )
        outcome["safetyBackupId"] = safety.id
    except BackupFailed as error:  # nothing was written to the store: if the task gives up, it serves on as it was
        failed = {**outcome, "safetyBackupId": error.outcome["backupId"]}
        raise NotStarted(reason_of(error, run.secrets), retryable=error.retryable, outcome=failed) from error
    except ProvisioningError as error:
        raise NotStarted(reason_of(error, run.secrets), retryable=error.retryable, outcome=outcome) from error
    # From here on the store's data changes: a failure leaves it failed (the task's give-up), never half "ready".
    # Shoppers get the "briefly closed" page meanwhile: an order placed now would be lost with the data replaced.
    with step(run, "maintenance_on"):
        lifecycle.set_maintenance(run, secrets, closed=True)
    for part in engine.parts_for(store.engine):
        stored = manifest["parts"].get(part.name)
        if stored is not None:
            with step(run, f"restore_{part.name}"):
                _load_part(run, store, part, stored, backup.prefix)
    with step(run, "restore_rewrite"):  # the loaded admin password is the backup's: the store's again
        rewrite_after_load(
            store,
            manifest,
            new_url=store.storefront_url or manifest.get("storefrontUrl") or "",
            password=secrets["adminPassword"],
        )
    with step(run, "maintenance_off"):
        lifecycle.set_maintenance(run, secrets, closed=False)
    with step(run, "served"):
        host = ingress.wait_for_address(store.namespace, timeout=_serve_timeout())
        ingress.wait_until_served(store.engine, host, timeout=_serve_timeout())
    with step(run, "restored"):
        store_services.store_finish_restore(
            store_id=store.id,
            outcome={**outcome, "outcome": "succeeded", "reason": None, "finishedAt": iso(timezone.now())},
        )
    return "restored"


def _serve_timeout() -> int:
    return settings.STORE_SERVE_TIMEOUT_SECONDS


def _not_restored(store: Store, reason: str, extra: dict[str, Any]) -> None:
    """A restore that wrote nothing (its checks, its backup first, or the queue refused it) is recorded as not
    started and the store serves on; one that failed while loading leaves the store failed."""
    outcome: dict[str, Any] = {"backupId": (store.pending_restore or {}).get("backupId"), **extra}
    store_services.store_finish_restore(
        store_id=store.id,
        outcome={**outcome, "outcome": "not_started", "reason": reason, "finishedAt": iso(timezone.now())},
    )


RESTORE = provisioning_services.Chain(OPERATION, L.RESTORING, "Restore", _restore_chain, not_started=_not_restored)


def restore_in_place(store_id: str, *, attempt: int = 0, task_id: str | None = None) -> str:
    """Run (or resume after a crash) the restore of a restoring store once. Returns "restored", "not_started", or
    as provisioning.services.Chain.once ("failed" when loading failed)."""
    return RESTORE.once(store_id, attempt=attempt, task_id=task_id)
