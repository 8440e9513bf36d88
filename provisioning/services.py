"""The provisioning chain: create and delete a store in its own namespace with helm and kubectl, under the store's
lock and a global concurrency slot, in the frame every store operation shares (Chain: run, then the task retries
or gives up). Each step is recorded (provisioning.steps); every state change goes through stores.services, so it
is checked by the state machine and audited. Tasks (provisioning.tasks) only call these."""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from audit.models import EventType
from audit.services import audit_record
from core import metrics
from core.crypto import UNREADABLE_MESSAGE, is_unreadable
from provisioning import concurrency, helm, ingress, kubectl
from provisioning.errors import (
    NotStarted,
    OperationFailed,
    ProvisioningError,
    QueueFull,
    QueueTimeout,
    StoreBusy,
    Superseded,
)
from provisioning.models import Operation
from provisioning.setup import setup_engine
from provisioning.steps import Attempt, reason_of, step
from provisioning.values import admin_email, admin_path, ensure_secrets, helm_values, secret_values, store_url
from stores import services as store_services
from stores.exceptions import InvalidStateTransition
from stores.models import LIFECYCLE_IN_PROGRESS, Engine, LifecycleStatus, Store, StoreStatus

logger = logging.getLogger("storeplane.provisioning")
S = StoreStatus
# A store that is not ready now but will be again without its owner doing anything more than resuming it.
LIFECYCLE_LIVE = frozenset({LifecycleStatus.SUSPENDED, *LIFECYCLE_IN_PROGRESS})

MANAGED_BY = "storeplane"
SECRETS_UNREADABLE_REASON = (
    "The store's stored secrets cannot be decrypted (the platform's encryption key changed). An operator must "
    "restore the old key in CREDENTIALS_ENCRYPTION_KEY; then retry."
)


# Steps a layer above adds to the create chain (backups: a restore into a new store), registered at start-up by
# that app: each BEFORE_CREATE hook runs before anything is written (a restore verifies its backup there), each
# AFTER_ENGINE_SETUP hook after engine setup and before the store is served and ready (a restore loads its data).
# A hook that has nothing to do for the store returns at once; what it raises fails the chain like any step.
BEFORE_CREATE: list[Callable[[Attempt], None]] = []
AFTER_ENGINE_SETUP: list[Callable[[Attempt, dict[str, str], str], None]] = []


class DeletionIncomplete(ProvisioningError):
    code = "DELETION_INCOMPLETE"
    retryable = False


def namespace_labels(store: Store) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "storeplane.io/store-id": store.id,
        "storeplane.io/engine": store.engine,
        "storeplane.io/owner": str(store.owner_id),
    }


@contextmanager
def _slot(store: Store, operation: str) -> Iterator[concurrency.Lease]:
    semaphore = concurrency.provisioning_semaphore()
    waited = time.perf_counter()
    try:
        with semaphore.slot(f"{store.id}:{operation}") as lease:
            metrics.PROVISIONING_QUEUE_WAIT.observe((time.perf_counter() - waited) * 1000)
            _observe_semaphore(semaphore)
            metrics.ACTIVE_PROVISIONING_OPERATIONS.inc()
            try:
                yield lease
            finally:
                metrics.ACTIVE_PROVISIONING_OPERATIONS.dec()
    except QueueFull:
        metrics.PROVISIONING_REJECTIONS.labels(reason="queue_full").inc()
        raise
    except QueueTimeout:
        metrics.PROVISIONING_REJECTIONS.labels(reason="queue_timeout").inc()
        raise
    finally:
        _observe_semaphore(semaphore)


def _observe_semaphore(semaphore) -> None:
    try:
        stats = semaphore.stats()
    except Exception:  # metrics must never break the chain
        return
    metrics.PROVISIONING_QUEUE_DEPTH.set(stats.get("queued", 0))
    metrics.PROVISIONING_CONCURRENT_OPERATIONS.set(stats.get("active", 0))


# --- the frame every store operation runs in ------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """A store operation as its task runs it (provisioning.tasks): `run` does the work under the store's lock and a
    slot of the global semaphore and raises OperationFailed for what it could not finish, retryable or not; the
    task alone decides whether to try again or to give up, and `give_up` then records the failure. Create, delete,
    the lifecycle chains and password propagation all have this shape."""

    operation: str  # provisioning.models.Operation
    expected: str  # the status the chain works in, the only one its failure is recorded from
    what: str  # how its reasons name it ("Deletion failed: ...")
    steps: Callable[[Attempt, dict[str, str]], str] | None = None
    # An operation with a frame of its own instead of steps (password propagation: a ready store, no release
    # changed, no slot of the semaphore); it raises OperationFailed the same way.
    body: Callable[..., str] | None = None
    # Before the status check (create: a requested store starts provisioning).
    start: Callable[[Store], None] | None = None
    # A deletion needs no secret: a store whose secrets no key decrypts can still be deleted.
    needs_secrets: bool = True
    # A deletion waits for a create chain it superseded to let go of the lock (within one ownership poll).
    waits_for_lock: bool = False
    # Create's reasons are the cause's own; the others' say which operation failed.
    named_reasons: bool = True
    # How a given-up failure of an operation that changed nothing is recorded (NotStarted, or the queue refused it:
    # the store serves on), given the store, the reason and what the failed step adds; without it, the store fails.
    not_started: Callable[[Store, str, dict[str, Any]], None] | None = None
    # How a given-up failure is recorded, when not as above (a password change that was not applied).
    record: Callable[[str, OperationFailed], str] | None = None

    def run(self, store_id: str, *, attempt: int = 0, task_id: str | None = None) -> str:
        if self.body is not None:
            return self.body(store_id, attempt=attempt, task_id=task_id)
        outcome = _operate(self, store_id, attempt=attempt, task_id=task_id)
        hand_over_pending_password(store_id)  # after the lock is released, for the task that applies it
        return outcome

    def give_up(self, store_id: str, error: OperationFailed) -> str:
        if self.record is not None:
            return self.record(store_id, error)
        if self.not_started is not None and isinstance(error.cause, NotStarted | QueueFull | QueueTimeout):
            store = Store.objects.get(pk=store_id)
            if store.status != self.expected:
                return "skipped"
            if isinstance(error.cause, NotStarted):
                self.not_started(store, error.cause.message, error.cause.outcome)
            else:
                self.not_started(store, error.message, {})
            return "not_started"
        return mark_failed(self, store_id, error)

    def once(self, store_id: str, *, attempt: int = 0, task_id: str | None = None) -> str:
        """Run without retries: what an operator's command, a fleet wave or a test wants."""
        try:
            return self.run(store_id, attempt=attempt, task_id=task_id)
        except OperationFailed as error:
            return self.give_up(store_id, error)

    def reason(self, kind: str, text: str = "") -> str:
        if kind == "internal":
            if not self.named_reasons:
                return "Internal error in the provisioning worker; operators have been notified."
            return f"{self.what} failed: internal error in the provisioning worker."
        if kind == "timeout":
            return f"{self.what} did not finish within {settings.PROVISIONING_TASK_SOFT_TIME_LIMIT} seconds."
        return f"{self.what} {kind}: {text}" if self.named_reasons else text


def _operate(chain: Chain, store_id: str, *, attempt: int, task_id: str | None) -> str:
    """Returns the chain's outcome, "skipped" (the store is not in `chain.expected`) or "superseded" (the store
    moved on meanwhile, e.g. an operator force-deleted it: the chain stopped and marked nothing); raises
    OperationFailed."""
    wait = settings.STORE_LOCK_WAIT_SECONDS if chain.waits_for_lock else 0
    with concurrency.store_lock(store_id, wait=wait) as lock:
        store = Store.objects.select_related("owner").get(pk=store_id)
        if chain.start is not None:
            chain.start(store)
            store = Store.objects.select_related("owner").get(pk=store_id)
        if store.status != chain.expected:
            logger.info(
                "%s: %s is %s; nothing to do", chain.operation, store_id, store.status, extra={"store_id": store_id}
            )
            return "skipped"
        if (is_unreadable(store.secrets) or is_unreadable(store.admin_credentials)) and chain.needs_secrets:
            # New secrets would lock the release out of its own database: an operator restores the key.
            logger.error("%s %s: %s", chain.operation, store_id, UNREADABLE_MESSAGE, extra={"store_id": store_id})
            raise OperationFailed(SECRETS_UNREADABLE_REASON, code="SECRETS_UNREADABLE", retryable=False)
        secrets = ensure_secrets(store) if chain.needs_secrets else dict(_readable(store.secrets))
        owner = concurrency.Ownership(store_id, chain.expected, lock)
        run = Attempt(store, chain.operation, attempt, task_id, secret_values(store, secrets), owner.check)
        try:
            try:
                with _slot(store, chain.operation) as lease:
                    owner.lease = lease
                    assert chain.steps is not None  # a Chain has steps or a body
                    return chain.steps(run, secrets)
            except (Superseded, InvalidStateTransition):
                raise
            except (QueueFull, QueueTimeout) as error:
                # The queue's refusal is the answer, not a fault to retry: the tenant retries when it is less busy.
                reason = chain.reason("deferred", reason_of(error, run.secrets))
                raise OperationFailed(reason, code=error.code, retryable=False, cause=error) from error
            except SoftTimeLimitExceeded as error:
                raise OperationFailed(chain.reason("timeout"), code="TIMEOUT", retryable=False) from error
            except ProvisioningError as error:
                if error.retryable:
                    owner.check()  # a chain that lost the store hands it over instead of asking for a retry
                    logger.warning("%s %s: retryable failure: %s", chain.operation, store_id, error.code)
                reason = chain.reason("failed", reason_of(error, run.secrets))
                raise OperationFailed(reason, code=error.code, retryable=error.retryable, cause=error) from error
            except Exception as error:
                logger.exception("%s %s: internal error", chain.operation, store_id)
                raise OperationFailed(chain.reason("internal"), code="INTERNAL_ERROR", retryable=False) from error
        except (Superseded, InvalidStateTransition) as moved_on:
            superseded(run, moved_on, chain.what)
            return "superseded"


def _readable(secrets: dict | None) -> dict:
    return {} if is_unreadable(secrets) else (secrets or {})


def mark_failed(chain: Chain, store_id: str, error: OperationFailed) -> str:
    """The task gave up: the store is marked failed with the reason, under its lock, from the chain's own status
    only (a store that moved on meanwhile is its new owner's; a copy of the task that holds it ends it)."""
    try:
        with concurrency.store_lock(store_id, wait=settings.STORE_LOCK_WAIT_SECONDS):
            store_services.store_mark_failed(
                store_id=store_id, reason=error.message, metadata=error.metadata, expected=chain.expected
            )
    except StoreBusy:
        logger.info("%s %s: another operation holds the store; it ends it", chain.operation, store_id)
        return "yielded"
    except InvalidStateTransition as moved_on:
        store = Store.objects.get(pk=store_id)
        superseded(Attempt(store, chain.operation), moved_on, chain.what)
        return "superseded"
    return "failed"


# --- create -------------------------------------------------------------------------------------------------------


def _start_provisioning(store: Store) -> None:
    if store.status == S.REQUESTED:
        store_services.store_start_provisioning(store_id=store.id)


def provision(store_id: str, *, attempt: int = 0, task_id: str | None = None) -> str:
    """Run (or resume) the create chain once, giving up on a failure. Returns "ready", "failed", "skipped" or
    "superseded". The task runs CREATE with retries."""
    return CREATE.once(store_id, attempt=attempt, task_id=task_id)


def superseded(run: Attempt, moved_on: Exception, what: str | None = None) -> None:
    """The chain stopped because the store is no longer its own: one audit row says so, and nothing is marked (the
    store's new owner, usually its deletion, goes on). `what` names the operation (the lifecycle chains' own)."""
    status = Store.objects.filter(pk=run.store.pk).values_list("status", flat=True).first()
    what = what or ("Provisioning" if run.operation == Operation.CREATE else "Deletion")
    message = (
        f"{what} stopped, no longer the store's owner (status now {status}): {getattr(moved_on, 'message', moved_on)}"
    )
    logger.info("%s %s superseded: %s", run.operation, run.store.pk, message, extra={"store_id": run.store.pk})
    audit_record(
        event_type=EventType.INFO,
        store=run.store,
        message=message,
        metadata={"action": "superseded", "operation": run.operation, "status": status},
    )


def _create_chain(run: Attempt, secrets: dict[str, str]) -> str:
    store = run.store
    ns, release = store.namespace, store.helm_release
    for before in BEFORE_CREATE:
        before(run)
    with step(run, "namespace"):
        kubectl.create_namespace(ns, namespace_labels(store))
    with step(run, "release_check"):
        remediate_release(store)
    with step(run, "helm_install"):
        audit_record(event_type=EventType.HELM_INSTALL, store=store, message=f"Installing release {release}")
        with helm.values_file(helm_values(store, secrets)) as secrets_file:
            files = [Path(settings.HELM_CHART_PATH) / settings.HELM_VALUES_FILE, secrets_file]
            helm.upgrade_install(release, settings.HELM_CHART_PATH, ns, files, secrets=run.secrets)
    with step(run, "readiness"):
        for workload in kubectl.list_workloads(ns):
            kubectl.rollout_status(ns, workload, timeout=settings.READINESS_TIMEOUT_SECONDS)
    with step(run, "urls"):
        host = ingress.wait_for_address(ns, timeout=settings.STORE_SERVE_TIMEOUT_SECONDS)
        storefront = store_url(host)
    email, password = admin_email(store), secrets["adminPassword"]
    with step(run, "engine_setup"):
        setup_engine(store, url=storefront, email=email, password=password)
    for after in AFTER_ENGINE_SETUP:
        after(run, secrets, storefront)
    # After setup: WordPress answers its installer (a redirect) until `wp core install` has run.
    with step(run, "served"):
        ingress.wait_until_served(store.engine, host, timeout=settings.STORE_SERVE_TIMEOUT_SECONDS)
    with step(run, "ready"):
        credentials = {"email": email, "password": password}
        if store.engine == Engine.WOOCOMMERCE:
            credentials = {"email": email, "username": "admin", "password": password}
        ready = store_services.store_mark_ready(
            store_id=store.id,
            storefront_url=storefront,
            admin_url=storefront + admin_path(store),
            admin_credentials=credentials,
        )
    if ready.provisioning_duration_ms:
        metrics.STORE_PROVISIONING_DURATION.labels(engine=store.engine).observe(ready.provisioning_duration_ms)
    return "ready"


CREATE = Chain(
    Operation.CREATE, S.PROVISIONING, "Provisioning", _create_chain, start=_start_provisioning, named_reasons=False
)


def remediate_release(store: Store) -> str:
    """A release left pending-* by a killed worker is rolled back to the revision that last served, or removed
    if it never served (the helm-controller way); a release that served is never uninstalled. Needs the lock."""
    decision = helm.decide_recovery(helm.history(store.helm_release, store.namespace))
    if decision.action == helm.Recovery.ROLLBACK and decision.revision is not None:
        helm.rollback(store.helm_release, store.namespace, decision.revision)
    elif decision.action == helm.Recovery.UNINSTALL:
        helm.uninstall(store.helm_release, store.namespace)
    if decision.action in (helm.Recovery.ROLLBACK, helm.Recovery.UNINSTALL):
        audit_record(
            event_type=EventType.RECOVERY,
            store=store,
            message=f"Release remediated: {decision.reason}",
            metadata={"action": str(decision.action), "revision": decision.revision},
        )
    return str(decision.action)


# --- delete -------------------------------------------------------------------------------------------------------


def delete(store_id: str, *, attempt: int = 0, task_id: str | None = None) -> str:
    """Run (or resume) the deletion chain once: uninstall, delete the namespace, wait (bounded) until it is gone,
    then deleted. Anything left behind leaves the store failed with the reason, never "deleted". The task runs
    DELETE with retries."""
    return DELETE.once(store_id, attempt=attempt, task_id=task_id)


def _delete_chain(run: Attempt, secrets: dict[str, str]) -> str:
    store = run.store
    ns = store.namespace
    with step(run, "helm_uninstall"):
        audit_record(
            event_type=EventType.HELM_UNINSTALL, store=store, message=f"Uninstalling release {store.helm_release}"
        )
        helm.uninstall(store.helm_release, ns)
    with step(run, "namespace_delete"):
        kubectl.delete_namespace(ns)
    with step(run, "cleanup_verify"):
        timeout = settings.DELETE_VERIFY_TIMEOUT_SECONDS
        if not kubectl.wait_namespace_deleted(ns, timeout=timeout):
            raise DeletionIncomplete(f"Namespace {ns} was still terminating after {timeout} seconds.")
    with step(run, "deleted"):
        store_services.store_mark_deleted(store_id=store.id, message="Store deleted; namespace and release removed")
    return "deleted"


DELETE = Chain(Operation.DELETE, S.DELETING, "Deletion", _delete_chain, needs_secrets=False, waits_for_lock=True)


# --- password propagation -----------------------------------------------------------------------------------------

PASSWORD_TASK = "provisioning.update_store_password"  # noqa: S105  (a task name)


IN_PROGRESS_REASON = "In progress: a worker applies it shortly; the store's activity log records the outcome."


WAITING_REASON = "Waiting: the store is {status}; the new password is applied when it runs again."
# The stores a password change reaches: the running ones at once, and those that will run again (suspended, or
# held by a lifecycle operation) when they do: the change waits in their secrets, and the chain that makes the
# store ready again hands it to its worker (hand_over_pending_password).
PASSWORD_STORES = (S.READY, *sorted(LIFECYCLE_LIVE))


def propagate_password(*, user, new_password: str) -> dict:
    """The tenant's new password becomes the admin password of each of its stores (up to 100, newest first) that
    is ready or will be again. The request never waits for a worker: each store's new password waits for its worker
    encrypted in the store's secrets (never in a queue message), and the answer reports each store as it stands
    now, in the contract's shape {totalStores, successful, failed, details}: refused ones with their reason, queued
    ones as in progress, suspended or busy ones as waiting (the worker's outcome lands in the store's audit log)."""
    stores = list(Store.objects.filter(owner=user, status__in=PASSWORD_STORES).order_by("-created_at")[:100])
    details: list[dict] = []
    for store in stores:
        if is_unreadable(store.admin_credentials) or is_unreadable(store.secrets):
            details.append({"storeId": store.id, "success": False, "reason": SECRETS_UNREADABLE_REASON})
            continue
        if not (store.admin_credentials or {}).get("email"):
            details.append({"storeId": store.id, "success": False, "reason": "no credentials"})
            continue
        store_services.store_set_pending_admin_password(store_id=store.id, password=new_password)
        if store.status == S.READY:
            current_app.send_task(PASSWORD_TASK, args=[store.id])
            reason = IN_PROGRESS_REASON
        else:
            reason = WAITING_REASON.format(status=store.status)
        details.append({"storeId": store.id, "success": False, "reason": reason})
    return {
        "totalStores": len(stores),
        "successful": sum(1 for d in details if d["success"]),
        "failed": sum(1 for d in details if not d["success"]),
        "details": details,
    }


def hand_over_pending_password(store_id: str) -> bool:
    """A ready store with a password change still pending (it waited while the store was suspended or another
    operation held it) gets a task that applies it. True when one was sent."""
    store = Store.objects.filter(pk=store_id, status=S.READY).only("id", "secrets").first()
    if store is None or is_unreadable(store.secrets) or not (store.secrets or {}).get("pendingAdminPassword"):
        return False
    current_app.send_task(PASSWORD_TASK, args=[store_id])
    return True


def _apply_password(store_id: str, *, attempt: int = 0, task_id: str | None = None) -> str:
    """Apply a pending admin password to one ready store (WP-CLI or the Medusa admin API), then keep it. Raises
    OperationFailed naming the pending change it could not apply (its id, never the password)."""
    from provisioning.setup import set_medusa_password, set_woocommerce_password

    with concurrency.store_lock(store_id):
        store = Store.objects.select_related("owner").get(pk=store_id)
        current = dict(store.secrets or {})
        new_password = current.get("pendingAdminPassword")
        if not new_password or store.status != S.READY:
            return "skipped"
        old_password = current.get("adminPassword", "")
        pending = {"pendingId": current.get("pendingAdminPasswordId")}
        run = Attempt(store, Operation.PASSWORD, attempt, task_id, [new_password, old_password])
        try:
            with step(run, "admin_password"):
                if store.engine == Engine.WOOCOMMERCE:
                    set_woocommerce_password(store, password=new_password)
                else:
                    set_medusa_password(store, email=admin_email(store), password=new_password)
        except ProvisioningError as error:
            reason = PASSWORD_NOT_UPDATED + reason_of(error, run.secrets)
            raise OperationFailed(
                reason, code=error.code, retryable=error.retryable, cause=error, metadata=pending
            ) from error
        except Exception as error:
            logger.exception("admin password %s: internal error", store_id)
            reason = PASSWORD_NOT_UPDATED + reason_of(error, run.secrets)
            raise OperationFailed(reason, code="INTERNAL_ERROR", retryable=False, metadata=pending) from error
        store_services.store_settle_admin_password(store_id=store.id, password=new_password, applied=True)
        audit_record(event_type=EventType.INFO, store=store, message="Store admin password updated")
        return "updated"


PASSWORD_NOT_UPDATED = "Store admin password not updated (the old one still works): "  # noqa: S105  (a message)


def _password_not_applied(store_id: str, error: OperationFailed) -> str:
    """The task gave up: the pending change it tried stops being pending (a newer one stays for its own task), and
    the store's activity log says the old password still works."""
    store = store_services.store_settle_admin_password(
        store_id=store_id, pending_id=error.metadata.get("pendingId"), applied=False
    )
    audit_record(event_type=EventType.WARNING, store=store, message=error.message)
    return "failed"


PASSWORD = Chain(Operation.PASSWORD, S.READY, "Password change", body=_apply_password, record=_password_not_applied)


def update_store_password(store_id: str, *, task_id: str | None = None) -> str:
    """Apply a pending admin password once, giving up on a failure (the task retries PASSWORD)."""
    return PASSWORD.once(store_id, task_id=task_id)
