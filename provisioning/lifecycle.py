"""A store's lifecycle beyond create and delete, as chains of recorded steps under the store's lock and a slot of
the global semaphore, exactly like provisioning.services: suspend (every workload to zero, volumes kept, the closed
page served through the ingress), resume (replicas restored, served again), upgrade (a backup first, through the
BEFORE_UPGRADE hooks the backups app registers, then helm upgrade to a chart version or new tenant values, a health
check, and an automatic `helm rollback` to the previous revision when it fails, with the reason recorded), and the
operator's fleet upgrade in waves that stops at the first failure. Every state change goes through stores.services.
The Celery tasks at the bottom are thin, like provisioning.tasks."""

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import User
from audit.models import EventType
from audit.services import audit_record
from core.errors import PlatformError
from provisioning import concurrency, helm, ingress, kubectl, services
from provisioning.errors import NotStarted, ProvisioningError, Superseded
from provisioning.models import Operation, ProvisioningRun, RunStatus
from provisioning.services import remediate_release
from provisioning.steps import Attempt, reason_of, step
from provisioning.values import helm_values, store_host
from stores import services as store_services
from stores.exceptions import InvalidStateTransition
from stores.models import LIFECYCLE_IN_PROGRESS, LifecycleStatus, Store, StoreStatus

logger = logging.getLogger("storeplane.provisioning")
S, L = StoreStatus, LifecycleStatus
POLL_SECONDS = 2.0
# The workloads' component labels that are the store itself (the closed page and helm test pods are not).
ENGINE_COMPONENTS = frozenset({"wordpress", "mariadb", "medusa", "postgresql", "storefront"})
# Container waiting reasons that will not clear by themselves: an upgrade that shows one has failed (no need to wait
# out the readiness timeout). ErrImagePull alone may be a registry's hiccup; it becomes ImagePullBackOff if not.
BROKEN_REASONS = frozenset(
    {
        "ErrImageNeverPull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
# What the chart's closed page carries, per reason it is up (store.closedFor: suspended, or maintenance).
CLOSED_MARKER = b'<meta name="storeplane-status" content="%s">'


class LifecycleFailed(ProvisioningError):
    """A lifecycle step's own check said no (workloads not ready in time, the closed page not served)."""

    code = "LIFECYCLE_CHECK_FAILED"
    retryable = False


# Steps a layer above adds to the upgrade before helm runs (backups: a backup of the store), registered at start-up
# by that app (provisioning cannot import it). Each hook runs after the previous_revision check, under the chain's
# lock and ownership check, records its own steps, and returns what it adds to the upgrade's outcome (the backup's
# id). What it raises stops the upgrade before anything changed: "not started" with its reason (an error may carry
# an `outcome` dict, recorded there too), retried first when retryable.
BEFORE_UPGRADE: list[Callable[[Attempt, dict[str, str]], dict[str, Any]]] = []


def _not_started(store: Store, reason: str, extra: dict[str, Any] | None = None) -> None:
    outcome = {"fromVersion": store.chart_version, "toVersion": (store.pending_upgrade or {}).get("chartVersion")}
    outcome.update(values=(store.pending_upgrade or {}).get("values") or {}, outcome="not_started", reason=reason)
    outcome.update(extra or {})
    store_services.store_finish_upgrade(store_id=store.id, outcome={**outcome, "finishedAt": _now()})


def _helm_upgrade(run: Attempt, values: dict[str, Any], *, wait: bool) -> helm.Release:
    """helm upgrade --install of the store's release with the platform's values file and `values` (secrets
    included) in a 0600 file removed afterwards, as the create chain installs it."""
    store = run.store
    with helm.values_file(values) as secrets_file:
        files = [Path(settings.HELM_CHART_PATH) / settings.HELM_VALUES_FILE, secrets_file]
        return helm.upgrade_install(
            store.helm_release, settings.HELM_CHART_PATH, store.namespace, files, wait=wait, secrets=run.secrets
        )


def _still_ours() -> None:
    """Bounded waits here start few processes; they ask the chain's ownership check themselves on each poll."""
    ingress._still_ours()


# --- health: workloads ready, pods not broken ------------------------------------------------------------------


def _component(item: dict) -> str:
    return ((item.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component", "")


def workload_problem(item: dict) -> str | None:
    """None when a Deployment or StatefulSet has rolled out its current spec completely, else what is missing."""
    meta, spec, status = item.get("metadata") or {}, item.get("spec") or {}, item.get("status") or {}
    name = f"{item.get('kind', '').lower()}/{meta.get('name')}"
    wanted = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return f"{name}: its controller has not seen the new spec yet"
    counts = {key: int(status.get(key, 0)) for key in ("replicas", "updatedReplicas", "readyReplicas")}
    if item.get("kind") == "StatefulSet" and wanted and status.get("updateRevision") != status.get("currentRevision"):
        return f"{name}: update to {status.get('updateRevision')} not finished"
    if counts["updatedReplicas"] < wanted or counts["readyReplicas"] < wanted or counts["replicas"] > wanted:
        return f"{name}: {counts['readyReplicas']}/{wanted} ready, {counts['updatedReplicas']} updated"
    return None


def broken_pods(pods: list[dict]) -> dict[str, str]:
    """{pod name: why} for the store's pods with a container stuck in a state that will not clear (BROKEN_REASONS)."""
    broken = {}
    for pod in pods:
        if _component(pod) not in ENGINE_COMPONENTS or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        status = pod.get("status") or {}
        for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in BROKEN_REASONS:
                image = container.get("image", "")
                broken[pod["metadata"]["name"]] = (
                    f"{_component(pod)} container {container.get('name')} is {waiting['reason']}"
                    + (f" (image {image})" if image else "")
                )
                break
    return broken


def wait_healthy(namespace: str, timeout: float, *, fail_fast: bool = True) -> None:
    """Until every workload has rolled out its current spec (bounded), failing at once (with `fail_fast`) when a pod
    of the store is broken beyond repair (a bad image, a crash loop): LifecycleFailed naming the workload and why.
    After a rollback the failed revision's pods linger a while, so there the workloads' own status decides."""
    deadline = time.monotonic() + timeout
    while True:
        broken = broken_pods(kubectl.get_pods_json(namespace)) if fail_fast else {}
        if broken:
            raise LifecycleFailed("; ".join(sorted(broken.values())))
        problems = [p for p in map(workload_problem, kubectl.get_workloads_json(namespace)) if p]
        if not problems:
            return
        if time.monotonic() >= deadline:
            raise LifecycleFailed(f"Workloads not ready within {int(timeout)} seconds: " + "; ".join(problems))
        _still_ours()
        time.sleep(POLL_SECONDS)


def wait_engine_pods_gone(namespace: str, timeout: float) -> None:
    """Until no pod of the store's engine or database is left (the closed page's pod stays), bounded."""
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(
            p["metadata"]["name"] for p in kubectl.get_pods_json(namespace) if _component(p) in ENGINE_COMPONENTS
        )
        if not left:
            return
        if time.monotonic() >= deadline:
            raise LifecycleFailed(f"Pods still running {int(timeout)} seconds after scaling to zero: {', '.join(left)}")
        _still_ours()
        time.sleep(POLL_SECONDS)


def closed_page_answer(host: str, reason: str = "suspended") -> str | None:
    """None when the store's URL answers with the closed page for `reason` (503 and its marker), else what it
    answered."""
    marker = CLOSED_MARKER % reason.encode()
    try:
        status, _, body = ingress.get_through_ingress(host, "/")
    except OSError as error:
        return type(error).__name__
    if status == 503 and marker in body:
        return None
    return f"HTTP {status}" + ("" if marker in body else f" without the closed page ({reason})")


def wait_closed_page(host: str, timeout: float, reason: str = "suspended") -> None:
    deadline = time.monotonic() + timeout
    while (answer := closed_page_answer(host, reason)) is not None:
        if time.monotonic() >= deadline:
            raise LifecycleFailed(
                f"The closed page was not served at {ingress.host_header(host)} within {int(timeout)} seconds "
                f"(last answer: {answer})."
            )
        _still_ours()
        time.sleep(POLL_SECONDS / 2)


def set_maintenance(run: Attempt, secrets: dict[str, str], *, closed: bool) -> None:
    """Close the shop (closed=True: the chart's maintenance, the Ingress sends every path to the closed page while
    every workload keeps running) until the closed page is served, or open it again (the caller then waits until the
    shop is served). For an operation that replaces the store's data in place (a restore into the same store), so no
    shopper places an order into data about to be replaced."""
    store = run.store
    values = helm_values(store, secrets)
    if not closed:
        _helm_upgrade(run, {**values, "maintenance": False}, wait=False)
        return
    # The closed page first, ready, while shoppers still reach the shop; only then the Ingress turns to it (turned
    # at once, the controller answered its own 404 until the new pod was up: seen on the real cluster).
    standby = {**values, "closedPage": {**(values.get("closedPage") or {}), "standby": True}}
    _helm_upgrade(run, standby, wait=True)
    _helm_upgrade(run, {**standby, "maintenance": True}, wait=False)
    wait_closed_page(store_host(store), timeout=settings.STORE_SERVE_TIMEOUT_SECONDS, reason="maintenance")


# --- suspend and resume --------------------------------------------------------------------------------------------


def _suspend_chain(run: Attempt, secrets: dict[str, str]) -> str:
    store = run.store
    with step(run, "release_check"):
        remediate_release(store)
    with step(run, "helm_suspend"):
        audit_record(event_type=EventType.INFO, store=store, message="Scaling the store to zero; closed page up")
        _helm_upgrade(run, {**helm_values(store, secrets), "suspended": True}, wait=True)
    with step(run, "workloads_stopped"):
        wait_engine_pods_gone(store.namespace, timeout=settings.READINESS_TIMEOUT_SECONDS)
    with step(run, "closed_page"):
        wait_closed_page(store_host(store), timeout=settings.STORE_SERVE_TIMEOUT_SECONDS)
    with step(run, "suspended"):
        store_services.store_mark_suspended(store_id=store.id)
    return "suspended"


def _resume_chain(run: Attempt, secrets: dict[str, str]) -> str:
    store = run.store
    with step(run, "release_check"):
        remediate_release(store)
    with step(run, "helm_resume"):
        audit_record(event_type=EventType.INFO, store=store, message="Restoring the store's replicas")
        _helm_upgrade(run, {**helm_values(store, secrets), "suspended": False}, wait=False)
    with step(run, "readiness"):
        wait_healthy(store.namespace, timeout=settings.READINESS_TIMEOUT_SECONDS)
    with step(run, "served"):
        host = ingress.wait_for_address(store.namespace, timeout=settings.STORE_SERVE_TIMEOUT_SECONDS)
        ingress.wait_until_served(store.engine, host, timeout=settings.STORE_SERVE_TIMEOUT_SECONDS)
    with step(run, "ready"):
        store_services.store_mark_resumed(store_id=store.id)
    return "ready"


SUSPEND = services.Chain(Operation.SUSPEND, L.SUSPENDING, "Suspension", _suspend_chain)
RESUME = services.Chain(Operation.RESUME, L.RESUMING, "Resumption", _resume_chain)


def suspend(store_id: str, *, attempt: int = 0, task_id: str | None = None) -> str:
    """Run (or resume after a crash) the suspension of a suspending store once. Returns "suspended" or as
    services.Chain.once."""
    return SUSPEND.once(store_id, attempt=attempt, task_id=task_id)


def resume(store_id: str, *, attempt: int = 0, task_id: str | None = None) -> str:
    """Run (or resume after a crash) the reopening of a resuming store once. Returns "ready" or as
    services.Chain.once."""
    return RESUME.once(store_id, attempt=attempt, task_id=task_id)


# --- upgrade with automatic rollback -------------------------------------------------------------------------------


def _served_revision(store: Store) -> int | None:
    """The release's latest revision that went live (the rollback target), or None without one."""
    served = [r for r in helm.history(store.helm_release, store.namespace) if r.status in helm.SERVED]
    return served[-1].revision if served else None


def _check_health(store: Store, *, fail_fast: bool = True) -> None:
    wait_healthy(store.namespace, timeout=settings.READINESS_TIMEOUT_SECONDS, fail_fast=fail_fast)
    host = ingress.wait_for_address(store.namespace, timeout=settings.STORE_SERVE_TIMEOUT_SECONDS)
    ingress.wait_until_served(store.engine, host, timeout=settings.STORE_SERVE_TIMEOUT_SECONDS)


def _upgrade_chain(run: Attempt, secrets: dict[str, str]) -> str:
    store = run.store
    target = dict(store.pending_upgrade or {})
    to_version = str(target.get("chartVersion") or "")
    new_values = store_services.merged_chart_values(store.chart_values or {}, target.get("values") or {})
    outcome: dict[str, Any] = {
        "fromVersion": store.chart_version,
        "toVersion": to_version,
        "values": target.get("values") or {},
    }
    try:
        with step(run, "release_check"):
            remediate_release(store)
        with step(run, "previous_revision"):
            previous = _served_revision(store)
            if previous is None:
                raise LifecycleFailed("The release has no revision that served: nothing to roll back to.")
        for before in BEFORE_UPGRADE:
            outcome.update(before(run, secrets))
    except ProvisioningError as error:
        # Nothing was changed: the task may try again; if it gives up, the store serves on as before and the upgrade
        # is recorded as not started.
        raise NotStarted(
            reason_of(error, run.secrets), retryable=error.retryable, outcome=getattr(error, "outcome", None)
        ) from error
    outcome["fromRevision"] = previous
    try:
        with step(run, "helm_upgrade"):
            audit_record(
                event_type=EventType.HELM_INSTALL,
                store=store,
                message=f"Upgrading release {store.helm_release} from revision {previous} to chart {to_version}",
                metadata={"action": "upgrade", "fromRevision": previous, "values": outcome["values"]},
            )
            store.chart_values = new_values  # helm_values lays the store's chart values over the platform's
            _helm_upgrade(run, helm_values(store, secrets), wait=False)
        with step(run, "health"):
            _check_health(store)
    except (Superseded, InvalidStateTransition, SoftTimeLimitExceeded):
        raise
    except Exception as error:  # the upgrade did not give a healthy store: back to the revision that served
        reason = reason_of(error, run.secrets)
        logger.warning("upgrade %s failed, rolling back to %s: %s", store.id, previous, reason)
        _rollback(run, previous, reason)
        store_services.store_finish_upgrade(
            store_id=store.id, outcome={**outcome, "outcome": "rolled_back", "reason": reason, "finishedAt": _now()}
        )
        return "rolled_back"
    with step(run, "upgraded"):
        store_services.store_finish_upgrade(
            store_id=store.id,
            outcome={**outcome, "outcome": "succeeded", "reason": None, "finishedAt": _now()},
            chart_version=to_version,
            chart_values=new_values,
        )
    return "upgraded"


def _rollback(run: Attempt, revision: int, why: str) -> None:
    """helm rollback to `revision`, replace the pods the failed revision broke (a StatefulSet never replaces a pod
    that is not ready by itself), and check the store serves again. A failure here is the upgrade's final failure:
    LifecycleFailed with both reasons, and the store is marked failed when the task gives up."""
    store = run.store
    try:
        with step(run, "rollback"):
            audit_record(
                event_type=EventType.RECOVERY,
                store=store,
                message=f"Upgrade failed ({why}); rolling back to revision {revision}",
                metadata={"action": "upgrade_rollback", "revision": revision},
            )
            helm.rollback(store.helm_release, store.namespace, revision, wait=False)
            broken = broken_pods(kubectl.get_pods_json(store.namespace))
            if broken:
                kubectl.delete_pods(store.namespace, sorted(broken))
        with step(run, "rollback_health"):
            _check_health(store, fail_fast=False)
    except ProvisioningError as error:
        raise LifecycleFailed(
            f"{why}; the rollback to revision {revision} failed too: {reason_of(error, run.secrets)}"
        ) from error


# An upgrade that changed nothing (its checks or backup before helm, or the queue refused it) is recorded as not
# started and the store serves on; one that failed after (even its rollback) leaves the store failed.
UPGRADE = services.Chain(Operation.UPGRADE, L.UPGRADING, "Upgrade", _upgrade_chain, not_started=_not_started)


def upgrade(store_id: str, *, attempt: int = 0, task_id: str | None = None) -> str:
    """Run (or re-run after a crash) the upgrade of an upgrading store once. Returns "upgraded", "rolled_back",
    "not_started", or as services.Chain.once ("failed" when even the rollback failed)."""
    return UPGRADE.once(store_id, attempt=attempt, task_id=task_id)


def _now() -> str:
    from core.api import iso

    return iso(timezone.now())


# --- fleet upgrade: waves of N, stop at the first failure -------------------------------------------------------


def fleet_candidates(*, chart_version: str | None = None, include_current: bool = False) -> list[str]:
    """Ready stores to upgrade to `chart_version` (default: the chart the platform ships), oldest first; with
    `include_current`, also those already on it (a re-apply of the current chart and values)."""
    target = chart_version or store_services.available_chart_versions()[0]
    stores = Store.objects.filter(status=S.READY).order_by("created_at", "id")
    if not include_current:
        stores = stores.exclude(chart_version=target)
    return list(stores.values_list("id", flat=True))


def fleet_upgrade(
    store_ids: list[str],
    *,
    wave: int,
    actor: User | None = None,
    chart_version: str | None = None,
    out: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Upgrade `store_ids` in waves of `wave` stores at a time (each wave's upgrades run side by side, each under
    its own lock and slot, in this process), waiting for every wave to end, and stop at the first store whose
    upgrade did not succeed (rolled back, failed, refused). Returns (and passes to `out`) one line per store."""
    if wave < 1:
        raise ValueError("wave must be at least 1")
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        out(line)

    batches = [store_ids[i : i + wave] for i in range(0, len(store_ids), wave)]
    for number, batch in enumerate(batches, start=1):
        say(f"wave {number}/{len(batches)}: {', '.join(batch)}")
        started: list[str] = []
        stop = False
        for store_id in batch:
            try:
                store_services.store_request_upgrade(
                    store_id=store_id,
                    actor=actor,
                    chart_version=chart_version,
                    wave=f"{number}/{len(batches)}",
                    enqueue_task=False,
                )
                started.append(store_id)
            except PlatformError as refused:
                say(f"{store_id}: refused ({refused.message})")
                stop = True
        with ThreadPoolExecutor(max_workers=max(1, len(started))) as pool:
            results = dict(zip(started, pool.map(_upgrade_in_thread, started), strict=True))
        for store_id, result in results.items():
            store = Store.objects.get(pk=store_id)
            reason = (store.last_upgrade or {}).get("reason") or store.failure_reason or ""
            say(f"{store_id}: {result}" + (f" ({reason})" if result != "upgraded" and reason else ""))
            stop = stop or result != "upgraded"
        if stop:
            remaining = [s for later in batches[number:] for s in later]
            say(f"stopped after wave {number}: a store did not upgrade; {len(remaining)} store(s) left as they are")
            break
    return lines


def _upgrade_in_thread(store_id: str) -> str:
    """One store's upgrade in a wave's thread, which opens its own database connection and closes it when done."""
    try:
        return upgrade(store_id)
    finally:
        connection.close()


# --- recovery (called by provisioning.recovery.recover) -----------------------------------------------------------


def recover(*, dry_run: bool = False) -> list[str]:
    """Lifecycle stores no worker holds for RECOVERY_GRACE_SECONDS (their worker died): the operation is resumed
    (its task enqueued again: each chain starts by remediating a release left pending, and every step is
    idempotent), one audit row and one line per store."""
    lines: list[str] = []
    idle_since = timezone.now() - timedelta(seconds=settings.RECOVERY_GRACE_SECONDS)
    candidates = (
        Store.objects.filter(status__in=LIFECYCLE_IN_PROGRESS, updated_at__lt=idle_since)
        .only("id", "status", "updated_at", "created_at")
        .order_by("created_at")
    )
    for store in candidates:
        if concurrency.is_store_locked(store.id):
            continue
        if dry_run:
            lines.append(f"{store.id} {store.status}: would resume the operation")
            continue
        try:
            with concurrency.store_lock(store.id, renew=False):
                store = Store.objects.get(pk=store.pk)
                task = store_services.LIFECYCLE_TASKS.get(store.status)
                if task is None:
                    lines.append(f"{store.id} {store.status}: nothing to do")
                    continue
                reason = "Interrupted: the worker stopped; resumed by recovery."
                ProvisioningRun.objects.filter(store=store, status=RunStatus.RUNNING).update(
                    status=RunStatus.ERRORED, error=reason, finished_at=timezone.now()
                )
                audit_record(
                    event_type=EventType.RECOVERY,
                    store=store,
                    message=f"{store.status.capitalize()} resumed after a lost worker",
                    metadata={"action": "lifecycle_resumed", "status": store.status},
                )
                store_services.enqueue_now(task, store.id)
                lines.append(f"{store.id} {store.status}: operation resumed")
        except ProvisioningError as error:  # StoreBusy: a worker took it meanwhile
            lines.append(f"{store.id} {store.status}: skipped ({error.code})")
    return lines


# --- Celery tasks (thin) ----------------------------------------------------------------------------------------

_LIMITS = {  # acknowledged at start like every task (config/celery.py says why)
    "soft_time_limit": settings.PROVISIONING_TASK_SOFT_TIME_LIMIT,
    "time_limit": settings.PROVISIONING_TASK_TIME_LIMIT,
}


def _with_retries(task, operation: services.Chain, store_id: str) -> str:
    """provisioning.tasks' retry policy (backoff with jitter, transient outages, a redelivered copy yielding), the
    same for these chains as for create and delete (imported late: tasks imports this module to register it)."""
    from provisioning.tasks import _run_with_retries

    return _run_with_retries(task, operation, store_id)


@shared_task(bind=True, name=store_services.SUSPEND_TASK, **_LIMITS)
def suspend_store(self, store_id: str) -> str:
    return _with_retries(self, SUSPEND, store_id)


@shared_task(bind=True, name=store_services.RESUME_TASK, **_LIMITS)
def resume_store(self, store_id: str) -> str:
    return _with_retries(self, RESUME, store_id)


@shared_task(bind=True, name=store_services.UPGRADE_TASK, **_LIMITS)
def upgrade_store(self, store_id: str) -> str:
    return _with_retries(self, UPGRADE, store_id)


@shared_task(name=store_services.FLEET_UPGRADE_TASK, acks_late=False)
def upgrade_fleet(store_ids: list[str], wave: int, actor_id: str | None = None) -> list[str]:
    """The console's fleet upgrade, in a worker (the waves take minutes). Not acked late: a fleet run that died is
    not replayed behind the operator's back; its stores are recovered one by one."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    lines = fleet_upgrade(store_ids, wave=wave, actor=actor)
    for line in lines:
        logger.info("fleet upgrade: %s", line)
    return lines
