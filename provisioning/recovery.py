"""Reapers (on worker start, every few minutes from beat, and as manage.py commands with --dry-run).

recover(): stores a worker should be working on but is not (no store lock for longer than the lock's TTL):
  requested -> re-enqueued; provisioning -> its release remediated, then failed with a reason (safe to retry);
  deleting -> deletion resumed; suspending, resuming, upgrading, restoring -> the operation resumed
  (provisioning.lifecycle.recover), at most PROVISIONING_TASK_MAX_RETRIES times per operation: a store whose
  operation keeps losing its worker is failed with that reason instead of being re-run forever; then the sweeps
  the layers above register in SWEEPS (backups: a backup whose worker was lost is failed with the reason).
reconcile(): the database against the cluster, with one `helm list` and one `kubectl get namespaces` per sweep:
  ready stores whose namespace or release vanished -> failed; releases stuck pending with nobody working on them
  -> remediated; managed namespaces that no live store owns -> reported.
Each action re-reads and re-checks the store, goes through the services (audited), and yields one line."""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent, EventType
from audit.services import audit_record
from provisioning import concurrency, helm, kubectl
from provisioning.errors import ProvisioningError, StoreBusy
from provisioning.models import ProvisioningRun, RunStatus
from stores import services as store_services
from stores.models import LIFECYCLE_IN_PROGRESS, LifecycleStatus, Store, StoreStatus

logger = logging.getLogger("storeplane.provisioning")
S, L = StoreStatus, LifecycleStatus
# Sweeps a layer above adds to recover(), registered at start-up by that app (provisioning cannot import it): each
# takes dry_run, acts on what its own lost workers left behind (audited), and returns one line per thing it found.
SWEEPS: list[Callable[..., list[str]]] = []
# How a lifecycle operation is named in the reason of the store recovery stopped resuming.
LIFECYCLE_NAMES = {
    L.SUSPENDING: "The suspension",
    L.RESUMING: "The resumption",
    L.UPGRADING: "The upgrade",
    L.RESTORING: "The restore",
}


def _idle_since() -> timezone.datetime:
    return timezone.now() - timedelta(seconds=settings.RECOVERY_GRACE_SECONDS)


def _close_open_runs(store: Store, reason: str) -> None:
    ProvisioningRun.objects.filter(store=store, status=RunStatus.RUNNING).update(
        status=RunStatus.ERRORED, error=reason, finished_at=timezone.now()
    )


def recover(*, dry_run: bool = False) -> list[str]:
    lines: list[str] = []
    # Only the columns the sweep reads: the encrypted ones are not decrypted for a list of candidates.
    candidates = (
        Store.objects.filter(status__in=[S.REQUESTED, S.PROVISIONING, S.DELETING], updated_at__lt=_idle_since())
        .only("id", "status", "namespace", "helm_release", "created_at", "updated_at")
        .order_by("created_at")
    )
    for store in candidates:
        if concurrency.is_store_locked(store.id):
            continue  # a worker is on it
        action = {
            S.REQUESTED: "re-enqueue provisioning",
            S.PROVISIONING: "fail (worker lost)",
            S.DELETING: "resume deletion",
        }[store.status]
        if dry_run:
            lines.append(f"{store.id} {store.status}: would {action}")
            continue
        try:
            lines.append(_recover_one(store))
        except Exception as error:  # one store's failure is reported, and the others are still recovered
            logger.exception("recovery of %s failed", store.id, extra={"store_id": store.id})
            lines.append(f"{store.id} {store.status}: recovery failed ({type(error).__name__}); next sweep retries")
    # Lifecycle stores whose worker was lost: those recovery already resumed too often are failed here, and
    # provisioning.lifecycle resumes the others.
    from provisioning import lifecycle

    given_up = _give_up_lifecycle(dry_run=dry_run)
    lines.extend(given_up.values())
    # A dry run changed nothing, so lifecycle.recover would offer to resume the stores said to be failed above.
    said = set(given_up) if dry_run else set()
    lines.extend(line for line in lifecycle.recover(dry_run=dry_run) if line.split(" ", 1)[0] not in said)
    for sweep in SWEEPS:
        lines.extend(sweep(dry_run=dry_run))
    return lines


def lifecycle_resumes(store: Store) -> int:
    """How many times recovery has resumed the store's current lifecycle operation: its recovery rows since the
    store last entered that status (an earlier suspension's resumes do not count against this one)."""
    entries = AuditEvent.objects.filter(store_id=store.id, new_status=store.status).order_by("-id")
    entered = entries.values_list("id", flat=True).first()
    return AuditEvent.objects.filter(
        store_id=store.id,
        id__gt=entered or 0,
        event_type=EventType.RECOVERY,
        metadata__action="lifecycle_resumed",
        metadata__status=store.status,
    ).count()


def _times(count: int) -> str:
    return f"{count} time{'' if count == 1 else 's'}"


def _give_up_lifecycle(*, dry_run: bool) -> dict[str, str]:
    """Lifecycle stores no worker holds whose operation recovery resumed PROVISIONING_TASK_MAX_RETRIES times
    already (the same bound as a task's retries): each is failed with the reason (audited as recovery), its open
    step rows closed, instead of a worker dying on it again. {store id: line}."""
    limit = settings.PROVISIONING_TASK_MAX_RETRIES
    lines: dict[str, str] = {}
    candidates = (
        Store.objects.filter(status__in=LIFECYCLE_IN_PROGRESS, updated_at__lt=_idle_since())
        .only("id", "status", "updated_at", "created_at")
        .order_by("created_at")
    )
    for store in candidates:
        if concurrency.is_store_locked(store.id) or lifecycle_resumes(store) < limit:
            continue
        if dry_run:
            lines[store.id] = f"{store.id} {store.status}: would fail (resumed {_times(limit)} already)"
            continue
        try:
            with concurrency.store_lock(store.id, renew=False):
                store = Store.objects.get(pk=store.pk)  # re-read under the lock: it may have moved meanwhile
                if store.status not in LIFECYCLE_IN_PROGRESS or (resumes := lifecycle_resumes(store)) < limit:
                    continue  # lifecycle.recover sees it again
                reason = (
                    f"{LIFECYCLE_NAMES[store.status]} was interrupted {resumes + 1} times (its worker stopped each "
                    f"time); recovery stopped resuming it. Retry or delete the store."
                )
                _close_open_runs(store, f"Interrupted: the worker stopped; recovery gave up after {resumes} resumes.")
                store_services.store_mark_failed(
                    store_id=store.id,
                    reason=reason,
                    event_type=EventType.RECOVERY,
                    metadata={"recovered": True, "action": "lifecycle_given_up", "status": store.status},
                    expected=store.status,
                )
                lines[store.id] = f"{store.id} {store.status}: failed (resumed {_times(resumes)} already)"
        except StoreBusy:
            lines[store.id] = f"{store.id} {store.status}: skipped (a worker holds it)"
        except Exception as error:  # one store's failure is reported, and the others are still recovered
            logger.exception("recovery of %s failed", store.id, extra={"store_id": store.id})
            lines[store.id] = f"{store.id} {store.status}: recovery failed ({type(error).__name__}); next sweep retries"
    return lines


def _recover_one(store: Store) -> str:
    try:
        with concurrency.store_lock(store.id, renew=False):
            store = Store.objects.get(pk=store.pk)  # re-read under the lock: it may have moved meanwhile
            if store.status == S.REQUESTED:
                audit_record(event_type=EventType.RECOVERY, store=store, message="Re-enqueued: no worker had it")
                store_services.enqueue_now(store_services.PROVISION_TASK, store.id)
                return f"{store.id} requested: re-enqueued provisioning"
            if store.status == S.DELETING:
                # The lost worker's step never finished: its row says so, not "running" forever beside the new one.
                _close_open_runs(store, "Interrupted: the worker stopped; recovery resumed the deletion.")
                audit_record(event_type=EventType.RECOVERY, store=store, message="Deletion resumed after a lost worker")
                store_services.enqueue_now(store_services.DELETE_TASK, store.id)
                return f"{store.id} deleting: deletion resumed"
            if store.status == S.PROVISIONING:
                note = ""
                try:
                    from provisioning.services import remediate_release

                    note = f"; release: {remediate_release(store)}"
                except ProvisioningError as error:
                    note = f"; release not checked ({error.code})"
                reason = "Provisioning was interrupted (the worker stopped). Safe to retry."
                _close_open_runs(store, reason)
                store_services.store_mark_failed(
                    store_id=store.id, reason=reason, event_type=EventType.RECOVERY, metadata={"recovered": True}
                )
                return f"{store.id} provisioning: failed (worker lost){note}"
            return f"{store.id} {store.status}: nothing to do"
    except StoreBusy:
        return f"{store.id} {store.status}: skipped (a worker holds it)"


def reconcile(*, dry_run: bool = False) -> list[str]:
    """Compare ready stores with the cluster: one helm list and one namespace list for the whole sweep."""
    lines: list[str] = []
    releases = {(r.namespace, r.name): r for r in helm.list_releases(all_namespaces=True)}
    namespaces = {ns.name: ns for ns in kubectl.list_namespaces("app.kubernetes.io/managed-by=storeplane")}
    live = {}
    for store in Store.objects.exclude(status=S.DELETED).only(
        "id", "status", "namespace", "helm_release", "updated_at"
    ):
        live[store.namespace] = store
        release = releases.get((store.namespace, store.helm_release))
        if store.status == S.READY:
            missing = [
                what
                for what, there in (("namespace", store.namespace in namespaces), ("release", release))
                if not there
            ]
            if missing:
                reason = f"Reconciliation: the store's {' and '.join(missing)} no longer exist(s) in the cluster."
                if dry_run:
                    lines.append(f"{store.id} ready: would fail ({', '.join(missing)} missing)")
                    continue
                try:
                    store_services.store_mark_lost(store_id=store.id, reason=reason)
                    lines.append(f"{store.id} ready: failed ({', '.join(missing)} missing)")
                except Exception as error:  # moved meanwhile: next sweep sees it again
                    lines.append(f"{store.id} ready: skipped ({type(error).__name__})")
        if release is not None and release.status.is_pending and not concurrency.is_store_locked(store.id):
            if dry_run:
                lines.append(f"{store.id} {store.status}: would remediate release ({release.status})")
                continue
            try:
                with concurrency.store_lock(store.id, renew=False):
                    from provisioning.services import remediate_release

                    lines.append(f"{store.id} {store.status}: release {remediate_release(store)}")
            except StoreBusy:
                lines.append(f"{store.id} {store.status}: skipped (a worker holds it)")
    for name in sorted(set(namespaces) - set(live)):
        lines.append(f"{name}: orphaned namespace (no live store); left for an operator")
    return lines
