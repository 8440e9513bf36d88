"""The only write path for stores, used by the API, the pages, the admin, the commands and the workers.
Each operation locks the row, checks the transition, saves, writes its audit row in the same transaction, and
enqueues the worker's task on commit."""

import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, can_proceed

from accounts.models import User
from audit.models import EventType
from audit.services import audit_record
from core.logging import request_id_var
from stores import guardrails
from stores.exceptions import (
    CreationCooldown,
    InvalidStateTransition,
    StoreConflict,
    StoreLimitExceeded,
    StoreNotFound,
)
from stores.models import (
    ACTIVE_STATES,
    MACHINE,
    TRANSITIONS,
    Engine,
    LifecycleStatus,
    Store,
    StoreStatus,
    Theme,
    new_store_id,
)

logger = logging.getLogger(__name__)
S = StoreStatus

# Celery task names of the provisioning app, sent by name through Celery's current app (the project's, config.celery,
# made the default by Celery's Django fixup): stores imports neither provisioning nor config.
PROVISION_TASK = "provisioning.provision_store"
DELETE_TASK = "provisioning.delete_store"

DELETE_REFUSALS = {
    S.DELETED: "Store is already deleted",
    S.DELETING: "Store is already being deleted",
    S.PROVISIONING: "Store is currently provisioning. Wait for completion or failure before deleting.",
    S.REQUESTED: "Cannot delete store in 'requested' state",
}


def enqueue_now(task_name: str, *args: object) -> None:
    """Send a task right away (recovery, outside any transaction of ours)."""
    current_app.send_task(task_name, args=list(args), headers={"request_id": request_id_var.get()})


def enqueue(task_name: str, *args: object) -> None:
    """Sends the task once the transaction commits, carrying the request id for correlation. A broker outage is
    logged, not raised: the state is saved, and recovery re-enqueues stores that no task is working on."""
    request_id = request_id_var.get()

    def send() -> None:
        try:
            current_app.send_task(task_name, args=list(args), headers={"request_id": request_id})
        except Exception:
            logger.exception("Could not enqueue %s %s; recovery will pick it up", task_name, args)

    transaction.on_commit(send)


def transition_refused(store: Store, target: str) -> InvalidStateTransition:
    allowed = ", ".join(TRANSITIONS.get(store.status) or MACHINE.get(store.status, ()))
    return InvalidStateTransition(
        f"Transition from '{store.status}' to '{target}' is not allowed. Valid transitions: [{allowed}]"
    )


def _locked(store_id: str) -> Store:
    try:
        return Store.objects.select_for_update().get(pk=store_id)
    except Store.DoesNotExist:
        raise StoreNotFound(store_id) from None


def _target(name: str) -> str:
    """Where the transition `name` of Store leads (each has one target)."""
    return next(iter(getattr(Store, name)._django_fsm.transitions.values())).target


def _move(
    store: Store,
    name: str,
    *,
    message: str,
    kwargs: dict[str, Any] | None = None,
    refusal: Callable[[Store], Exception] | None = None,
    concurrent: str = "Store status changed concurrently.",
    event_type: str = EventType.STATUS_CHANGE,
    metadata: dict[str, Any] | None = None,
    actor: User | None = None,
    ip_address: str | None = None,
) -> Store:
    """The recipe's middle, on a store already locked by `_locked`: check the transition `name` (refused with
    `refusal(store)`, or InvalidStateTransition), call it, save (a lost optimistic race is StoreConflict with
    `concurrent`), and write its audit row with the real previous status."""
    transition = getattr(store, name)
    if not can_proceed(transition):
        raise refusal(store) if refusal else transition_refused(store, _target(name))
    previous = store.status
    transition(**(kwargs or {}))
    try:
        store.save()
    except ConcurrentTransition as exc:
        raise StoreConflict(concurrent, suggestion="Refresh and try again.") from exc
    audit_record(
        event_type=event_type,
        store=store,
        previous_status=previous,
        new_status=store.status,
        message=message,
        metadata=metadata,
        actor=actor,
        ip_address=ip_address,
    )
    return store


def _transition(
    store_id: str, name: str, *, enqueue_task: str | None = None, expected: str | None = None, **move: Any
) -> Store:
    """The one transition recipe: in one transaction, lock the row, (optionally) insist on the status the caller
    expects, check, transition, save, audit (`_move`), and enqueue `enqueue_task` once it commits."""
    with transaction.atomic():
        store = _locked(store_id)
        if expected is not None and store.status != expected:
            raise transition_refused(store, _target(name))
        _move(store, name, **move)
        if enqueue_task:
            enqueue(enqueue_task, store.id)
    return store


# --- tenant operations ------------------------------------------------------------------------------------------


def store_create(
    *,
    owner: User,
    name: str,
    engine: str,
    theme: str | None = None,
    password: str | None = None,
    ip_address: str | None = None,
    restore_from: str | None = None,
) -> Store:
    """Accepts a new store (status requested) and enqueues its provisioning, within the owner's limits. With
    `restore_from` (a backup id), the new store is created from that backup (RESTORE_PLANNERS)."""
    theme = (theme or Theme.STOREFRONT) if engine == Engine.WOOCOMMERCE else None
    with transaction.atomic():
        # One creation at a time per user: the limit and cooldown checks below cannot be raced.
        User.objects.select_for_update().only("pk").get(pk=owner.pk)
        _check_limits(owner)
        existing = Store.objects.filter(owner=owner, name=name).exclude(status=S.DELETED).first()
        if existing is not None:
            raise _name_taken(existing)
        store = Store(
            id=_unused_store_id(),
            name=name,
            engine=engine,
            theme=theme,
            owner=owner,
            admin_credentials={"password": password} if password else None,
        )
        store.namespace = store.helm_release = store.id
        try:
            with transaction.atomic():
                store.save(force_insert=True)
        except IntegrityError as exc:  # a concurrent request took the name between our check and insert
            taken = Store.objects.filter(owner=owner, name=name).exclude(status=S.DELETED).first()
            if taken is not None:
                raise _name_taken(taken) from exc
            raise
        audit_record(
            event_type=EventType.STORE_CREATED,
            store=store,
            new_status=S.REQUESTED,
            message=f"Store '{name}' requested ({engine})",
            metadata={"engine": engine, "ownerId": str(owner.pk), "theme": theme},
            actor=owner,
            ip_address=ip_address,
        )
        if restore_from is not None:
            _plan_restore(store, restore_from)
        if not owner.is_admin:
            transaction.on_commit(lambda: guardrails.start_cooldown(str(owner.pk)))
        enqueue(PROVISION_TASK, store.id)
    return store


# --- restoreFrom: a new store created from a backup (the backups app checks and records it; stores sits below it) ---
# The backups app registers, at start-up, the one function that checks a backup id for the new store (its owner's,
# succeeded, same engine: else a 4xx error) and records the restore, inside store_create's transaction; the create
# chain then verifies and loads the backup (provisioning.services' hooks).
RESTORE_PLANNERS: list[Callable[[Store, str], None]] = []


def _plan_restore(store: Store, backup_id: str) -> None:
    if not RESTORE_PLANNERS:
        from core.errors import ValidationFailed

        raise ValidationFailed("Restoring from a backup is not available on this platform.")
    for plan in RESTORE_PLANNERS:
        plan(store, backup_id)


def _check_limits(owner: User) -> None:
    limit = settings.MAX_STORES_PER_USER
    if Store.objects.filter(owner=owner, status__in=ACTIVE_STATES).count() >= limit:
        raise StoreLimitExceeded(limit)
    if owner.is_admin:
        return
    remaining = guardrails.cooldown_remaining(str(owner.pk))
    cooldown = settings.STORE_CREATION_COOLDOWN_SECONDS
    if not remaining and cooldown > 0:
        # The database is the authority (Redis may have lost the key): the last accepted creation's time.
        last = Store.objects.filter(owner=owner).order_by("-created_at").values_list("created_at", flat=True).first()
        if last is not None and timezone.now() - last < timedelta(seconds=cooldown):
            remaining = cooldown - int((timezone.now() - last).total_seconds())
    if remaining > 0:
        raise CreationCooldown(remaining)


def _name_taken(existing: Store) -> StoreConflict:
    if existing.status == S.FAILED:
        suggestion = "Retry the failed store, or delete it before creating a new one with this name."
    else:
        suggestion = "Use a different name or delete the existing store first."
    return StoreConflict(
        f"A store named '{existing.name}' already exists (status: {existing.status}).", suggestion=suggestion
    )


def _unused_store_id() -> str:
    for _ in range(20):
        candidate = new_store_id()
        if not Store.objects.filter(pk=candidate).exists():
            return candidate
    raise RuntimeError("Could not find an unused store id")  # 2^32 ids: unreachable in practice


def store_request_deletion(*, store_id: str, actor: User | None, ip_address: str | None = None) -> Store:
    return _transition(
        store_id,
        "request_deletion",
        message="Store deletion initiated",
        refusal=lambda store: StoreConflict(
            DELETE_REFUSALS.get(store.status, f"Cannot delete store in '{store.status}' state"),
            suggestion="Wait for the current operation to complete.",
        ),
        concurrent="Store status changed concurrently. Aborting deletion.",
        actor=actor,
        ip_address=ip_address,
        enqueue_task=DELETE_TASK,
    )


def _retry_refusal(store: Store) -> StoreConflict:
    return StoreConflict(
        f"Only failed stores can be retried. Current status: '{store.status}'",
        suggestion="Only failed stores can be retried.",
    )


def store_retry(*, store_id: str, actor: User | None, ip_address: str | None = None) -> Store:
    """Puts a failed store back to requested, keeping its credentials and secrets; cleanup runs in the worker."""
    with transaction.atomic():
        store = _locked(store_id)
        max_retries = settings.PROVISIONING_MAX_RETRIES
        if can_proceed(store.retry) and store.retry_count >= max_retries:
            raise StoreConflict(
                f"Maximum retry count ({max_retries}) reached.",
                suggestion="Manual investigation may be required. Delete and recreate the store.",
            )
        _move(
            store,
            "retry",
            message=f"Retry #{store.retry_count + 1} initiated",
            refusal=_retry_refusal,
            concurrent="Store status changed concurrently. Aborting retry.",
            actor=actor,
            ip_address=ip_address,
        )
        enqueue(PROVISION_TASK, store.id)
    return store


# --- worker transitions -----------------------------------------------------------------------------------------


def store_start_provisioning(*, store_id: str) -> Store:
    return _transition(store_id, "start_provisioning", message="Provisioning started")


def store_mark_ready(*, store_id: str, storefront_url: str, admin_url: str, admin_credentials: dict[str, Any]) -> Store:
    return _transition(
        store_id,
        "mark_ready",
        message="Store provisioned",
        kwargs={
            "storefront_url": storefront_url,
            "admin_url": admin_url,
            "admin_credentials": admin_credentials,
            "chart_version": next(iter(available_chart_versions()), ""),
        },
    )


def store_mark_failed(
    *,
    store_id: str,
    reason: str,
    metadata: dict[str, Any] | None = None,
    event_type: str = EventType.ERROR,
    expected: str | None = None,
) -> Store:
    """A worker's chain failed. With `expected` (the status the chain worked in), a store that has moved on since
    (an operator force-deleted it) is refused with InvalidStateTransition instead of being marked."""
    return _transition(
        store_id,
        "mark_failed",
        expected=expected,
        message=reason,
        kwargs={"reason": reason},
        event_type=event_type,
        metadata=metadata,
    )


def store_mark_deleted(*, store_id: str, message: str = "Store deleted") -> Store:
    return _transition(store_id, "mark_deleted", message=message)


# --- operator operations (the console) -------------------------------------------------------------------------

RECONCILE_TASK = "provisioning.reconcile_stores"


def store_operator_mark_failed(*, store_id: str, actor: User, reason: str, ip_address: str | None = None) -> Store:
    """An operator stops a store a worker seems stuck on (requested, provisioning, deleting): it becomes failed with
    the operator's reason, so its owner can retry or delete it. Nothing is enqueued."""
    reason = (reason or "").strip() or "Stopped by an operator."
    return _transition(
        store_id,
        "mark_failed",
        message=f"Marked failed by an operator: {reason}",
        kwargs={"reason": reason},
        refusal=lambda store: StoreConflict(
            f"Only requested, provisioning or deleting stores can be marked failed. Current status: '{store.status}'",
            suggestion="Retry or delete a failed store instead.",
        ),
        concurrent="Store status changed concurrently. Aborting.",
        event_type=EventType.RECOVERY,
        metadata={"action": "operator_mark_failed"},
        actor=actor,
        ip_address=ip_address,
    )


def store_force_delete(*, store_id: str, actor: User, ip_address: str | None = None) -> Store:
    """An operator deletes a store whatever it is doing: a store in progress is first marked failed (the worker's
    chain sees the change before its next step, or within a second while a command runs, and stops), then moved
    to deleting; a store already deleting gets its delete task enqueued again. The worker's delete is idempotent,
    so a second one is harmless."""
    operator: dict[str, Any] = {
        "event_type": EventType.RECOVERY,
        "metadata": {"action": "operator_force_delete"},
        "actor": actor,
        "ip_address": ip_address,
        "concurrent": "Store status changed concurrently. Aborting deletion.",
    }
    with transaction.atomic():
        store = _locked(store_id)
        if store.status == S.DELETED:
            raise StoreConflict("Store is already deleted", suggestion="Nothing to do.")
        if store.status == S.DELETING:
            audit_record(
                event_type=EventType.RECOVERY,
                store=store,
                previous_status=S.DELETING,
                new_status=S.DELETING,
                message="Deletion re-enqueued by an operator",
                metadata={"action": "operator_force_delete"},
                actor=actor,
                ip_address=ip_address,
            )
        else:
            if can_proceed(store.mark_failed):
                reason = "Force-deleted by an operator."
                _move(
                    store,
                    "mark_failed",
                    message="Stopped by an operator for a forced deletion",
                    **operator,
                    kwargs={"reason": reason},
                )
            _move(store, "request_deletion", message="Forced deletion by an operator", **operator)
        enqueue(DELETE_TASK, store.id)
    return store


def stores_request_reconcile(*, store_ids: list[str], actor: User, ip_address: str | None = None) -> int:
    """An operator asks the reconciler to run now (it checks every store against the cluster; the selection is
    recorded on those stores' audit trails). Returns how many audit rows were written."""
    with transaction.atomic():
        stores = list(Store.objects.filter(pk__in=store_ids))
        for store in stores:
            audit_record(
                event_type=EventType.RECOVERY,
                store=store,
                message="Reconciliation requested by an operator",
                metadata={"action": "operator_reconcile"},
                actor=actor,
                ip_address=ip_address,
            )
        enqueue(RECONCILE_TASK)
    return len(stores)


def store_mark_lost(*, store_id: str, reason: str) -> Store:
    """A ready store whose namespace or release vanished from the cluster. The state machine has no ready -> failed
    edge (§3), so the store goes the legal way, ready -> deleting -> failed, in one transaction, each move audited:
    the tenant then sees it failed with the reason and may retry or delete it."""
    with transaction.atomic():
        store = _locked(store_id)
        _move(
            store,
            "request_deletion",
            message="Reconciliation: the store's resources are gone from the cluster",
            event_type=EventType.RECOVERY,
        )
        _move(store, "mark_failed", message=reason, kwargs={"reason": reason}, event_type=EventType.RECOVERY)
    return store


# --- the store's encrypted columns (secrets, admin credentials) ---------------------------------------------------
# Web requests (a password change) and workers (the chain's secrets, a password being applied) both write these:
# each write re-reads the row under its lock and changes only what it means to, so no writer overwrites another's
# change with a stale copy.

SecretsChange = Callable[[dict[str, Any]], dict[str, Any]]


def _stored_json(value: Any) -> dict[str, Any]:
    """A copy of an encrypted JSON column as stored (an Unreadable one refuses: ImproperlyConfigured)."""
    return dict(value or {})


def store_update_secrets(*, store_id: str, change: SecretsChange, credentials: SecretsChange | None = None) -> Store:
    """Read-modify-write of the store's secrets (and, with `credentials`, its admin credentials) inside the row's
    lock: `change` gets a copy of what is stored now and returns the new value. A column no key decrypts is
    refused (ImproperlyConfigured), never overwritten."""
    with transaction.atomic():
        store = _locked(store_id)
        fields: dict[str, Any] = {"secrets": change(_stored_json(store.secrets))}
        if credentials is not None:
            fields["admin_credentials"] = credentials(_stored_json(store.admin_credentials))
        Store.objects.filter(pk=store.pk).update(**fields, updated_at=timezone.now())
        for name, value in fields.items():
            setattr(store, name, value)
    return store


def store_set_pending_admin_password(*, store_id: str, password: str) -> Store:
    """A password change waits, encrypted in the store's secrets, for the worker that applies it to the store; its
    id (not secret) names it in a failure, so giving up on one never drops a newer change."""
    return store_update_secrets(
        store_id=store_id,
        change=lambda current: {
            **current,
            "pendingAdminPassword": password,
            "pendingAdminPasswordId": uuid.uuid4().hex,
        },
    )


def store_settle_admin_password(
    *, store_id: str, applied: bool, password: str | None = None, pending_id: str | None = None
) -> Store:
    """The worker is done with a pending change, `password` (applied: it becomes the store's admin password, in
    its secrets and the credentials shown to the owner) or the one `pending_id` names (given up). Either way it
    stops being pending, unless a newer one took its place."""

    def settle(current: dict[str, Any]) -> dict[str, Any]:
        if applied:
            current["adminPassword"] = password
        same = (
            current.get("pendingAdminPassword") == password
            if password is not None
            else current.get("pendingAdminPasswordId") == pending_id  # None: a change recorded before ids
        )
        if same:
            current.pop("pendingAdminPassword", None)
            current.pop("pendingAdminPasswordId", None)
        return current

    def show(current: dict[str, Any]) -> dict[str, Any]:
        return {**current, "password": password}

    return store_update_secrets(store_id=store_id, change=settle, credentials=show if applied else None)


# --- lifecycle: suspend, resume, upgrade with rollback (provisioning.lifecycle does the work) --------------------
# Each follows the recipe above: lock, check the transition, save, audit, enqueue on commit. The worker's moves
# (mark_suspended, mark_resumed, finish_upgrade, and mark_failed when it cannot finish) come back through here.

L = LifecycleStatus
SUSPEND_TASK = "provisioning.suspend_store"
RESUME_TASK = "provisioning.resume_store"
UPGRADE_TASK = "provisioning.upgrade_store"
FLEET_UPGRADE_TASK = "provisioning.upgrade_fleet"
RESTORE_TASK = "backups.restore_store"  # the backups app's: restore into the same store
# The task that carries each lifecycle operation (recovery re-enqueues it when its worker was lost).
LIFECYCLE_TASKS = {
    L.SUSPENDING: SUSPEND_TASK,
    L.RESUMING: RESUME_TASK,
    L.UPGRADING: UPGRADE_TASK,
    L.RESTORING: RESTORE_TASK,
}

# Chart values a tenant may change in an upgrade: each workload's image tag, for the engine's workloads only. The
# repository, security settings and everything else stay the platform's.
UPGRADABLE_COMPONENTS: dict[str, tuple[str, ...]] = {
    Engine.WOOCOMMERCE: ("wordpress", "mariadb"),
    Engine.MEDUSA: ("medusa", "postgresql", "storefront"),
}
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")  # the OCI distribution spec's tag grammar
_CHART_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")


def _lifecycle_refusal(operation: str, needed: str) -> Callable[[Store], Exception]:
    def refuse(store: Store) -> Exception:
        return StoreConflict(
            f"Only {needed} stores can be {operation}. Current status: '{store.status}'",
            suggestion="Wait for the current operation to complete, or check the store's status.",
        )

    return refuse


def available_chart_versions() -> list[str]:
    """The chart versions the platform can install: the chart it ships (HELM_CHART_PATH's Chart.yaml)."""
    chart = Path(settings.HELM_CHART_PATH) / "Chart.yaml"
    version = str((yaml.safe_load(chart.read_text()) or {}).get("version", ""))
    return [version] if version else []


def upgrade_values_problems(engine: str, values: Any) -> list[tuple[str, str]]:
    """Why `values` is not an upgrade a tenant may ask for, as (path, message) pairs; [] when it is. Only
    {<component>: {image: {tag}}} for the engine's own workloads (UPGRADABLE_COMPONENTS)."""
    if not isinstance(values, dict):
        return [("values", '"values" must be of type object')]
    allowed = UPGRADABLE_COMPONENTS.get(engine, ())
    problems: list[tuple[str, str]] = []
    for component, setting in values.items():
        where = f"values.{component}"
        if component not in allowed:
            problems.append((where, f'"{where}" is not allowed (for {engine}: {", ".join(allowed)})'))
            continue
        if not isinstance(setting, dict) or set(setting) != {"image"}:
            problems.append((where, f'"{where}" may only set image.tag'))
            continue
        image = setting["image"]
        if not isinstance(image, dict) or set(image) != {"tag"}:
            problems.append((f"{where}.image", f'"{where}.image" may only set tag'))
            continue
        tag = image["tag"]
        if not isinstance(tag, str) or not _IMAGE_TAG.fullmatch(tag):
            problems.append((f"{where}.image.tag", f'"{where}.image.tag" must be an image tag (A-Z a-z 0-9 _ . -)'))
    return problems


def merged_chart_values(current: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The store's chart values with `change` laid over them (maps merge, everything else replaces), as helm does."""
    merged = dict(current)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merged_chart_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def _invalid(problems: list[tuple[str, str]]) -> Exception:
    """A 400 VALIDATION_ERROR whose details have the contract's (Joi's) shape, as DRF's validation errors do."""
    from core.errors import ValidationFailed

    details = [
        {
            "message": message,
            "path": path.split("."),
            "type": "any.invalid",
            "context": {"label": path, "key": path.split(".")[-1]},
        }
        for path, message in problems
    ]
    return ValidationFailed(". ".join(message for _, message in problems) + ".", details=details)


def store_request_suspend(*, store_id: str, actor: User | None, ip_address: str | None = None) -> Store:
    """A ready store closes: a worker scales its workloads to zero (volumes kept) and puts up the closed page."""
    return _transition(
        store_id,
        "request_suspend",
        message="Suspension requested",
        refusal=_lifecycle_refusal("suspended", "ready"),
        concurrent="Store status changed concurrently. Aborting suspension.",
        metadata={"action": "suspend"},
        actor=actor,
        ip_address=ip_address,
        enqueue_task=SUSPEND_TASK,
    )


def store_mark_suspended(*, store_id: str) -> Store:
    return _transition(store_id, "mark_suspended", message="Store suspended: workloads stopped, volumes kept")


def store_request_resume(*, store_id: str, actor: User | None, ip_address: str | None = None) -> Store:
    """A suspended store reopens: a worker restores its replicas, and it is ready once served again."""
    return _transition(
        store_id,
        "request_resume",
        message="Resumption requested",
        refusal=_lifecycle_refusal("resumed", "suspended"),
        concurrent="Store status changed concurrently. Aborting resumption.",
        metadata={"action": "resume"},
        actor=actor,
        ip_address=ip_address,
        enqueue_task=RESUME_TASK,
    )


def store_mark_resumed(*, store_id: str) -> Store:
    return _transition(store_id, "mark_resumed", message="Store resumed and served again")


def store_request_upgrade(
    *,
    store_id: str,
    actor: User | None,
    chart_version: str | None = None,
    values: dict[str, Any] | None = None,
    ip_address: str | None = None,
    wave: str | None = None,
    enqueue_task: bool = True,
) -> Store:
    """A ready store is upgraded to `chart_version` (one of available_chart_versions()) and/or new tenant `values`
    (upgrade_values_problems): a worker runs helm upgrade, checks health, and rolls back on failure. Invalid input is
    a 400 before anything changes. The fleet upgrade runs the upgrade itself (`enqueue_task=False`)."""
    values = values or {}
    if chart_version is not None and chart_version not in available_chart_versions():
        versions = ", ".join(available_chart_versions())
        raise _invalid([("chartVersion", f'"chartVersion" must be one of [{versions}]')])
    with transaction.atomic():
        store = _locked(store_id)
        problems = upgrade_values_problems(store.engine, values)
        if problems:
            raise _invalid(problems)
        target: dict[str, Any] = {
            "chartVersion": chart_version or (available_chart_versions() or [store.chart_version])[0],
            "values": values,
            "requestedBy": getattr(actor, "email", None),
        }
        if wave:
            target["wave"] = wave
        _move(
            store,
            "request_upgrade",
            message=f"Upgrade requested to chart {target['chartVersion']}"
            + (f" with values {json.dumps(values, sort_keys=True)}" if values else ""),
            kwargs={"target": target},
            refusal=_lifecycle_refusal("upgraded", "ready"),
            concurrent="Store status changed concurrently. Aborting upgrade.",
            metadata={"action": "upgrade", "chartVersion": target["chartVersion"], "values": values},
            actor=actor,
            ip_address=ip_address,
        )
        if enqueue_task:
            enqueue(UPGRADE_TASK, store.id)
    return store


def store_finish_upgrade(
    *, store_id: str, outcome: dict[str, Any], chart_version: str | None = None, chart_values: dict | None = None
) -> Store:
    """The worker is done: succeeded (the new chart version and values are recorded) or rolled back (the reason is
    recorded, the store serves its previous revision). Either way the store is ready again."""
    succeeded = outcome.get("outcome") == "succeeded"
    message = (
        f"Upgraded to chart {outcome.get('toVersion')}"
        if succeeded
        else f"Upgrade not started: {outcome.get('reason')}"  # nothing changed (a check or the backup before helm)
        if outcome.get("outcome") == "not_started"
        else f"Upgrade rolled back to revision {outcome.get('fromRevision')}: {outcome.get('reason')}"
    )
    return _transition(
        store_id,
        "finish_upgrade",
        message=message,
        kwargs={"outcome": outcome, "chart_version": chart_version, "chart_values": chart_values},
        event_type=EventType.STATUS_CHANGE if succeeded else EventType.WARNING,
        metadata={"action": "upgrade", **{k: v for k, v in outcome.items() if k != "finishedAt"}},
    )


def stores_request_fleet_upgrade(*, store_ids: list[str], wave: int, actor: User, ip_address: str | None = None) -> int:
    """An operator's fleet upgrade from the console: the selection (in this order) is upgraded by a worker in waves
    of `wave`, stopping at the first store that does not upgrade (provisioning.lifecycle.fleet_upgrade). Each
    selected store's audit trail records the request. Returns how many stores were selected."""
    if wave < 1:
        from core.errors import ValidationFailed

        raise ValidationFailed("The wave size must be at least 1.")
    with transaction.atomic():
        stores = list(Store.objects.filter(pk__in=store_ids).order_by("created_at", "id"))
        for store in stores:
            audit_record(
                event_type=EventType.INFO,
                store=store,
                message=f"Fleet upgrade requested by an operator (waves of {wave})",
                metadata={"action": "fleet_upgrade", "wave": wave},
                actor=actor,
                ip_address=ip_address,
            )
        enqueue(FLEET_UPGRADE_TASK, [s.id for s in stores], wave, str(actor.pk))
    return len(stores)


def store_request_restore(
    *, store_id: str, actor: User | None, target: dict[str, Any], ip_address: str | None = None
) -> Store:
    """A ready store gets a chosen backup's data back (the backups app checked the backup and calls this in its
    transaction): a worker backs the store up first, then loads the backup; the store keeps its URL and secrets."""
    return _transition(
        store_id,
        "request_restore",
        message=f"Restore from backup {target.get('backupId')} requested (a backup of the store is taken first)",
        kwargs={"target": target},
        refusal=_lifecycle_refusal("restored", "ready"),
        concurrent="Store status changed concurrently. Aborting restore.",
        metadata={"action": "restore_in_place", "backupId": target.get("backupId")},
        actor=actor,
        ip_address=ip_address,
        enqueue_task=RESTORE_TASK,
    )


def store_finish_restore(*, store_id: str, outcome: dict[str, Any]) -> Store:
    """The worker is done: restored, or not started (its backup first failed: nothing was loaded). Either way the
    store is ready again and `last_restore` says what happened."""
    restored = outcome.get("outcome") == "succeeded"
    return _transition(
        store_id,
        "finish_restore",
        message=f"Restored from backup {outcome.get('backupId')}"
        if restored
        else f"Restore not started: {outcome.get('reason')}",
        kwargs={"outcome": outcome},
        event_type=EventType.STATUS_CHANGE if restored else EventType.WARNING,
        metadata={"action": "restore_in_place", **{k: v for k, v in outcome.items() if k != "finishedAt"}},
    )
