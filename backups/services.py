"""The only write path for backups (API, store page, console, beat and the worker): each change checks the move
(backups.models.MOVES), saves, and writes its audit row in the same transaction; a request enqueues the worker's
task on commit. `run_backup` is the worker's work: under the store's lock, each part streamed from `kubectl exec`
into the bucket, hashed as it passes, then manifest.json last."""

import logging
import time
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.models import EventType
from audit.services import audit_record
from backups import engine, storage
from backups.metrics import BACKUP_DURATION, BACKUPS, BACKUPS_OVERDUE
from backups.models import IN_PROGRESS_STATES, MOVES, Backup, BackupSchedule, BackupStatus
from core.crypto import is_unreadable
from core.logging import request_id_var
from provisioning import breaker, concurrency, kubectl, runner
from provisioning.errors import CommandFailed, ProvisioningError, StoreBusy, Superseded
from provisioning.helm import tool_env
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.services import SECRETS_UNREADABLE_REASON
from provisioning.setup import component_pod
from provisioning.steps import Attempt, reason_of, step
from provisioning.values import helm_values, secret_values
from stores.exceptions import InvalidStateTransition, StoreConflict, StoreNotFound
from stores.models import Store, StoreStatus

logger = logging.getLogger("storeplane.backups")
B, S = BackupStatus, StoreStatus
BACKUP_TASK = "backups.run_backup"
BACKUP_OPERATION = "backup"  # the run rows' operation of a backup taken on its own (not inside an upgrade's chain)
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


LOST_REASON = "The backup's worker was lost before it finished (no worker held the store); request a new one."
LOST_STEP_REASON = "Interrupted: the backup's worker stopped; recovery failed the backup."


def _overdue(backup: Backup) -> bool:
    since = backup.started_at or backup.requested_at
    return timezone.now() - since > timedelta(seconds=settings.RECOVERY_GRACE_SECONDS)


def _lost(backup: Backup) -> bool:
    """An in-progress backup no worker holds (the store's lock is free) for RECOVERY_GRACE_SECONDS: its worker
    died or its task was lost."""
    return _overdue(backup) and not concurrency.is_store_locked(backup.store_id)


def _fail_lost(backup: Backup) -> bool:
    """Under the store's lock, so no worker starts or resumes the backup meanwhile: still in progress and overdue,
    it is failed with LOST_REASON, the step rows its worker left running are closed, and a recovery audit row says
    so. False when it moved on or a worker holds the store."""
    try:
        with concurrency.store_lock(backup.store_id, renew=False):
            backup = Backup.objects.select_related("store").get(pk=backup.pk)
            if backup.status not in IN_PROGRESS_STATES or not _overdue(backup):
                return False
            with transaction.atomic():
                was = backup.status
                backup_mark_failed(backup_id=backup.id, reason=LOST_REASON)
                # The store is ready and we hold its lock: a backup step still running is the lost worker's.
                ProvisioningRun.objects.filter(
                    store_id=backup.store_id, operation=BACKUP_OPERATION, status=RunStatus.RUNNING
                ).update(status=RunStatus.ERRORED, error=LOST_STEP_REASON, finished_at=timezone.now())
                audit_record(
                    event_type=EventType.RECOVERY,
                    store=backup.store,
                    message=f"Backup {backup.id} failed by recovery: its worker was lost ({was})",
                    metadata={"action": "backup_lost", "backupId": backup.id, "previousBackupStatus": was},
                )
            return True
    except StoreBusy:
        return False


def _lost_backups() -> list[Backup]:
    return [b for b in Backup.objects.filter(status__in=IN_PROGRESS_STATES).order_by("requested_at") if _lost(b)]


def backups_fail_lost() -> list[str]:
    """Each in-progress backup whose worker was lost is failed with the reason, so it is visible and the store can
    be backed up again (beat's schedule sweep, and recovery's through backups_recover). Returns their ids."""
    return [backup.id for backup in _lost_backups() if _fail_lost(backup)]


def backups_recover(*, dry_run: bool = False) -> list[str]:
    """provisioning.recovery's sweep for backups (backups/apps.py registers it in recovery.SWEEPS): as
    backups_fail_lost, with one line per backup found, and nothing changed on a dry run."""
    lines = []
    for backup in _lost_backups():
        what = f"{backup.store_id} backup {backup.id} {backup.status}"
        if dry_run:
            lines.append(f"{what}: would fail (worker lost)")
        elif _fail_lost(backup):
            lines.append(f"{what}: failed (worker lost)")
        else:
            lines.append(f"{what}: skipped (a worker holds it, or it moved on)")
    return lines


def backup_request(
    *, store_id: str, actor: User | None, ip_address: str | None = None, trigger: str = "manual"
) -> Backup:
    """A backup of a ready store is accepted (requested) and its worker enqueued. Refused (409) when the store is
    not ready or a backup of it is already under way; StoreNotFound when there is no such store."""
    with transaction.atomic():
        try:
            store = Store.objects.select_for_update().get(pk=store_id)
        except Store.DoesNotExist:
            raise StoreNotFound(store_id) from None
        if store.status != S.READY:
            raise StoreConflict(
                f"Only ready stores can be backed up. Current status: '{store.status}'",
                suggestion="Wait for the current operation to complete, or check the store's status.",
            )
        running = store.backups.filter(status__in=IN_PROGRESS_STATES).first()
        if running is not None and _lost(running):
            backup_mark_failed(backup_id=running.id, reason=LOST_REASON)
            running = None
        if running is not None:
            raise StoreConflict(
                f"A backup of this store is already {running.status} ({running.id}).",
                suggestion="Wait for it to finish, then request another.",
            )
        backup = _new_backup(
            store, trigger=trigger, requested_by=getattr(actor, "email", "") or "", actor=actor, ip_address=ip_address
        )
        request_id = request_id_var.get()

        def send() -> None:
            try:
                current_app.send_task(BACKUP_TASK, args=[backup.id], headers={"request_id": request_id})
            except Exception:
                logger.exception("Could not enqueue %s for %s", BACKUP_TASK, backup.id)

        transaction.on_commit(send)
    return backup


def _move(backup_id: str, target: str, message: str, **fields: Any) -> Backup:
    """Move a backup to `target` (checked against MOVES) with `fields`, and audit it, in one transaction."""
    with transaction.atomic():
        backup = Backup.objects.select_for_update().select_related("store").get(pk=backup_id)
        if target not in MOVES[backup.status]:
            raise InvalidStateTransition(f"Backup {backup.id} cannot go from '{backup.status}' to '{target}'.")
        previous = backup.status
        backup.status = target
        for name, value in fields.items():
            setattr(backup, name, value)
        backup.save()
        audit_record(
            event_type=EventType.ERROR if target == B.FAILED else EventType.INFO,
            store=backup.store,
            message=message,
            metadata={
                "action": "backup",
                "backupId": backup.id,
                "previousBackupStatus": previous,
                "backupStatus": target,
                **({"sizeBytes": backup.size_bytes} if target == B.SUCCEEDED else {}),
            },
        )
    return backup


def backup_mark_failed(*, backup_id: str, reason: str) -> Backup:
    backup = _move(
        backup_id, B.FAILED, f"Backup {backup_id} failed: {reason}", failure_reason=reason, finished_at=timezone.now()
    )
    BACKUPS.labels(engine=backup.engine, status=B.FAILED).inc()
    return backup


# --- the worker ---------------------------------------------------------------------------------------------------


def scrubbed_values(store: Store, secrets: dict[str, str]) -> dict[str, Any]:
    """The store's chart values with every secret value left out (the manifest records names, never values)."""
    hidden = set(secret_values(store, secrets))

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if not (isinstance(v, str) and v in hidden)}
        if isinstance(value, list):
            return [scrub(v) for v in value if not (isinstance(v, str) and v in hidden)]
        return value

    return scrub(helm_values(store, secrets))


SECRET_KEYS_TEMPLATE = '{{range .items}}{{.metadata.name}}{{range $k, $v := .data}} {{$k}}{{end}}{{"\\n"}}{{end}}'  # noqa: S105


def secret_references(namespace: str) -> list[dict[str, Any]]:
    """The store's Kubernetes Secrets by name and key names (a go-template prints no value)."""
    argv = [*kubectl._base(namespace), "get", "secrets", "-o", f"go-template={SECRET_KEYS_TEMPLATE}"]
    output = kubectl._run(argv).stdout
    references = []
    for line in output.splitlines():
        name, *keys = line.split()
        if name:
            references.append({"secret": name, "keys": sorted(keys)})
    return references


class PartFailed(ProvisioningError):
    """A dump, archive or load command in the store's pod said no; the message is its own last words."""

    code = "BACKUP_COMMAND_FAILED"
    retryable = False


def part_failure(error: CommandFailed, what: str) -> PartFailed:
    """The tool's own last stderr line (kubectl's "command terminated with exit code N" says nothing)."""
    lines = [line for line in error.stderr_tail.splitlines() if line.strip()]
    noise = ("command terminated with exit code", "tar: Exiting with failure status")
    said = [line for line in lines if not line.startswith(noise)]
    return PartFailed(f"{what} failed: {(said or lines or [error.message])[-1]}")


def _stream_part(run: Attempt, store: Store, part: engine.Part, key: str) -> storage.Written:
    """`kubectl exec` the part's dump in its pod, its stdout streamed into a multipart upload while hashed."""
    with step(run, f"backup_{part.name}"):
        pod = component_pod(store, part.component)
        argv = kubectl.exec_argv(store.namespace, pod, part.container, list(part.dump))
        writer = storage.HashingWriter(key)
        try:
            with breaker.guard(kubectl.BREAKER):
                runner.pipe(
                    argv,
                    timeout=settings.BACKUP_COMMAND_TIMEOUT_SECONDS,
                    sink=writer.write,
                    env=tool_env(),
                    secrets=run.secrets,
                )
            return writer.close()
        except CommandFailed as error:
            writer.abort()
            if type(error) is not CommandFailed:  # the cluster is unreachable: said as such
                raise
            raise part_failure(error, f"The {part.name} {'dump' if part.name == 'database' else 'archive'}") from None
        except BaseException:
            writer.abort()
            raise


class BackupFailed(ProvisioningError):
    """The backup an upgrade takes first did not succeed: the upgrade does not start. `outcome` names the backup in
    the upgrade's not-started outcome (provisioning.lifecycle reads it from a BEFORE_UPGRADE hook's error)."""

    code = "BACKUP_FAILED"
    retryable = False

    def __init__(self, message: str, *, backup_id: str, retryable: bool | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.outcome = {"backupId": backup_id}


def _take(run: Attempt, store: Store, secrets: dict[str, str], backup: Backup) -> Backup:
    """The artifact of a running backup, under the lock its caller holds: each part streamed into the bucket, then
    manifest.json last; the backup becomes succeeded. Raises what stopped it (the caller marks it failed)."""
    started = backup.started_at or timezone.now()
    storage.ensure_bucket()
    parts: dict[str, dict[str, Any]] = {}
    for part in engine.parts_for(store.engine):
        written = _stream_part(run, store, part, backup.prefix + part.filename)
        parts[part.name] = {
            "file": part.filename,
            "format": part.format,
            "size": written.size,
            "sha256": written.sha256,
        }
    finished = timezone.now()
    with step(run, "backup_manifest"):
        manifest = {
            "formatVersion": MANIFEST_VERSION,
            "backupId": backup.id,
            "storeId": store.id,
            "storeName": store.name,
            "engine": store.engine,
            "chartVersion": store.chart_version,
            "storefrontUrl": store.storefront_url,
            "values": scrubbed_values(store, secrets),
            "secretReferences": secret_references(store.namespace),
            "platformSecrets": sorted(secrets),
            "parts": parts,
            "sizeBytes": sum(p["size"] for p in parts.values()),
            "startedAt": started.isoformat(),
            "finishedAt": finished.isoformat(),
            "status": B.SUCCEEDED,
        }
        written = storage.put_json(backup.prefix + MANIFEST, manifest)
    return _move(
        backup.id,
        B.SUCCEEDED,
        f"Backup {backup.id} succeeded",
        parts=parts,
        size_bytes=manifest["sizeBytes"],
        manifest_sha256=written.sha256,
        finished_at=finished,
    )


def _succeeded(backup: Backup, began: float, *, retention: bool = True) -> None:
    """A succeeded backup's metrics and the store's retention (a retention failure leaves the backup standing; the
    next one's retention tries again)."""
    BACKUPS.labels(engine=backup.engine, status=B.SUCCEEDED).inc()
    BACKUP_DURATION.labels(engine=backup.engine).observe((time.monotonic() - began) * 1000)
    if not retention:
        return
    try:
        apply_retention(store_id=backup.store_id)
    except storage.StorageError as error:
        logger.warning("backup %s: retention failed: %s", backup.id, error.message, extra={"store_id": backup.store_id})


def run_backup(backup_id: str, *, task_id: str | None = None) -> str:
    """Take the backup (the worker's task calls this). Returns "succeeded", "failed" or "skipped" (not
    requested any more). StoreBusy (another operation holds the store) propagates so the task retries later."""
    backup = Backup.objects.select_related("store", "store__owner").get(pk=backup_id)
    if backup.status != B.REQUESTED:
        return "skipped"
    with concurrency.store_lock(backup.store_id) as lock:
        if not Backup.objects.filter(pk=backup_id, status=B.REQUESTED).exists():
            return "skipped"  # recovery failed it (its task waited too long) before we took the lock
        store = Store.objects.select_related("owner").get(pk=backup.store_id)
        if store.status != S.READY:
            backup_mark_failed(backup_id=backup_id, reason=f"The store is no longer ready (status '{store.status}').")
            return "failed"
        if is_unreadable(store.secrets):
            backup_mark_failed(backup_id=backup_id, reason=SECRETS_UNREADABLE_REASON)
            return "failed"
        secrets = dict(store.secrets or {})
        owner = concurrency.Ownership(store.id, S.READY, lock)
        run = Attempt(store, BACKUP_OPERATION, 0, task_id, secret_values(store, secrets), owner.check)
        began = time.monotonic()
        backup = _move(backup_id, B.RUNNING, f"Backup {backup_id} started", started_at=timezone.now())
        try:
            backup = _take(run, store, secrets, backup)
        except (Superseded, InvalidStateTransition) as moved_on:
            reason = f"The store changed while the backup ran: {getattr(moved_on, 'message', moved_on)}"
            backup_mark_failed(backup_id=backup_id, reason=reason)
            return "failed"
        except ProvisioningError as error:
            backup_mark_failed(backup_id=backup_id, reason=reason_of(error, run.secrets))
            return "failed"
        except Exception:
            logger.exception("backup %s: internal error", backup_id)
            backup_mark_failed(backup_id=backup_id, reason="Internal error in the backup worker.")
            return "failed"
    _succeeded(backup, began)
    return "succeeded"


UPGRADE_TRIGGER = "upgrade"
RESTORE_TRIGGER = "restore"


def _new_backup(
    store: Store, *, trigger: str, requested_by: str, purpose: str = "", actor=None, ip_address: str | None = None
) -> Backup:
    """A requested backup row and the audit row that says so (inside the caller's transaction)."""
    backup = Backup.objects.create(
        store=store, engine=store.engine, trigger=trigger, requested_by=requested_by, chart_version=store.chart_version
    )
    audit_record(
        event_type=EventType.INFO,
        store=store,
        message=f"Backup {backup.id} requested" + (f" {purpose}" if purpose else ""),
        metadata={"action": "backup", "backupId": backup.id, "backupStatus": backup.status, "trigger": trigger},
        actor=actor,
        ip_address=ip_address,
    )
    return backup


def backup_in_chain(
    run: Attempt, secrets: dict[str, str], *, trigger: str, purpose: str, retention: bool = True
) -> Backup:
    """A backup of the store taken inside a store operation's chain (its lock, slot and ownership check; the store
    is in the operation's state), its steps that operation's run rows: before an upgrade's helm, before a restore
    loads another backup. Returns the succeeded backup; raises BackupFailed (retryable as its cause was) when it
    did not succeed, the backup failed with its reason."""
    store = run.store
    # We hold the store's lock, which every backup's worker holds while it runs: a running one is a lost worker's
    # (a crashed earlier attempt of this operation, say), and would otherwise stay running.
    for lost in Backup.objects.filter(store_id=store.id, status=B.RUNNING):
        backup_mark_failed(backup_id=lost.id, reason=LOST_REASON)
    asked = store.pending_upgrade or store.pending_restore or {}
    with transaction.atomic():
        backup = _new_backup(store, trigger=trigger, requested_by=asked.get("requestedBy") or "", purpose=purpose)
    began = time.monotonic()
    backup = _move(backup.id, B.RUNNING, f"Backup {backup.id} started", started_at=timezone.now())
    failed = f"The backup taken {purpose} ({backup.id}) failed"
    try:
        backup = _take(run, store, secrets, backup)
    except (Superseded, InvalidStateTransition) as moved_on:
        reason = f"The store changed while the backup ran: {getattr(moved_on, 'message', moved_on)}"
        backup_mark_failed(backup_id=backup.id, reason=reason)
        raise
    except ProvisioningError as error:
        reason = reason_of(error, run.secrets)
        backup_mark_failed(backup_id=backup.id, reason=reason)
        raise BackupFailed(f"{failed}: {reason}", backup_id=backup.id, retryable=error.retryable) from error
    except Exception as error:  # the time limit included: the operation has changed nothing yet
        logger.exception("backup %s in a chain: internal error", backup.id)
        backup_mark_failed(backup_id=backup.id, reason="Internal error in the backup worker.")
        raise BackupFailed(f"{failed}: internal error in the backup worker.", backup_id=backup.id) from error
    _succeeded(backup, began, retention=retention)
    return backup


def backup_before_upgrade(run: Attempt, secrets: dict[str, str]) -> dict[str, Any]:
    """provisioning.lifecycle's BEFORE_UPGRADE hook: before helm runs, a backup of the store (trigger "upgrade").
    Returns {"backupId"} for the upgrade's outcome; BackupFailed stops the upgrade before anything changed."""
    target = (run.store.pending_upgrade or {}).get("chartVersion")
    backup = backup_in_chain(run, secrets, trigger=UPGRADE_TRIGGER, purpose=f"before the upgrade to chart {target}")
    return {"backupId": backup.id}


def apply_retention(*, store_id: str, keep: int | None = None) -> list[str]:
    """Keep the newest `keep` (the store's schedule's, else BACKUP_RETENTION) succeeded backups of the store;
    older ones leave the bucket and their rows are kept with `removed_at` set (a restore that used one still names
    it). Returns the ids."""
    if keep is None:
        schedule = BackupSchedule.objects.filter(store_id=store_id).first()
        keep = schedule.keep if schedule is not None else settings.BACKUP_RETENTION
    old = list(
        Backup.objects.filter(store_id=store_id, status=B.SUCCEEDED, removed_at__isnull=True).order_by(
            "-requested_at", "-id"
        )[keep:]
    )
    removed = []
    for backup in old:
        storage.delete_prefix(backup.prefix)
        with transaction.atomic():
            Backup.objects.filter(pk=backup.pk).update(removed_at=timezone.now())
            audit_record(
                event_type=EventType.INFO,
                store=backup.store,
                message=f"Backup {backup.id} removed from storage by retention (keeping {keep})",
                metadata={"action": "backup_retention", "backupId": backup.id, "keep": keep},
            )
        removed.append(backup.id)
    return removed


# --- schedules (beat sweeps them every BACKUP_SCHEDULE_SWEEP_SECONDS) -----------------------------------------------


def backup_schedule_set(
    *, store_id: str, actor: User | None, enabled: bool, every_hours: int, keep: int, ip_address: str | None = None
) -> BackupSchedule:
    """Create or change a store's schedule (audited with what it became)."""
    with transaction.atomic():
        try:
            store = Store.objects.select_for_update().get(pk=store_id)
        except Store.DoesNotExist:
            raise StoreNotFound(store_id) from None
        schedule, _ = BackupSchedule.objects.update_or_create(
            store=store, defaults={"enabled": enabled, "every_hours": every_hours, "keep": keep}
        )
        audit_record(
            event_type=EventType.INFO,
            store=store,
            message=f"Backup schedule {'every ' + str(every_hours) + ' h, keeping ' + str(keep) if enabled else 'off'}",
            metadata={"action": "backup_schedule", "enabled": enabled, "everyHours": every_hours, "keep": keep},
            actor=actor,
            ip_address=ip_address,
        )
    return schedule


def backups_run_schedules(*, now=None) -> dict[str, list[str]]:
    """Beat's sweep: a backup is requested for each enabled schedule of a ready store whose last backup was
    requested `every_hours` ago or more; a schedule with no succeeded backup within twice its interval becomes
    overdue (audited once, counted by the `store_backups_overdue` gauge) until one succeeds."""
    now = now or timezone.now()
    backups_fail_lost()
    requested, overdue = [], []
    for schedule in BackupSchedule.objects.filter(enabled=True).select_related("store"):
        store, every = schedule.store, timedelta(hours=schedule.every_hours)
        last = store.backups.order_by("-requested_at").first()
        last_ok = store.backups.filter(status=B.SUCCEEDED).order_by("-requested_at").first()
        since = (last_ok.requested_at if last_ok else schedule.updated_at) if store.status != S.DELETED else now
        if now - since > 2 * every and store.status != S.DELETED:
            overdue.append(store.id)
            if schedule.overdue_since is None:
                BackupSchedule.objects.filter(pk=schedule.pk).update(overdue_since=now)
                audit_record(
                    event_type=EventType.WARNING,
                    store=store,
                    message=f"Scheduled backups are overdue: none succeeded in {2 * schedule.every_hours} h",
                    metadata={"action": "backup_overdue", "everyHours": schedule.every_hours},
                )
        elif schedule.overdue_since is not None:
            BackupSchedule.objects.filter(pk=schedule.pk).update(overdue_since=None)
        if store.status == S.READY and (last is None or now - last.requested_at >= every):
            try:
                requested.append(backup_request(store_id=store.id, actor=None, trigger="schedule").id)
            except StoreConflict as refused:
                logger.info("scheduled backup of %s refused: %s", store.id, refused.message)
    BACKUPS_OVERDUE.set(len(overdue))
    return {"requested": requested, "overdue": overdue}
