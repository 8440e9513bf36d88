"""The provisioning chain: create and delete a store in its own namespace with helm and kubectl, under the store's
lock and a global concurrency slot. Each step is recorded (provisioning.steps); every state change goes through
stores.services, so it is checked by the state machine and audited. Tasks (provisioning.tasks) only call these."""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from audit.models import EventType
from audit.services import audit_record
from core import metrics
from core.crypto import UNREADABLE_MESSAGE, is_unreadable
from provisioning import concurrency, helm, ingress, kubectl
from provisioning.errors import ProvisioningError, QueueFull, QueueTimeout, Superseded
from provisioning.models import Operation
from provisioning.setup import setup_engine
from provisioning.steps import Attempt, reason_of, step
from provisioning.values import admin_email, admin_path, ensure_secrets, helm_values, secret_values, store_url
from stores import services as store_services
from stores.exceptions import InvalidStateTransition
from stores.models import Engine, Store, StoreStatus

logger = logging.getLogger("storeplane.provisioning")
S = StoreStatus

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


def _fail(store_id: str, reason: str, *, expected: str | None = None, **metadata) -> None:
    """Mark the store failed; with `expected`, only from that status (InvalidStateTransition otherwise: the store
    moved on while the chain failed, and it is not the chain's to mark any more)."""
    try:
        store_services.store_mark_failed(store_id=store_id, reason=reason, metadata=metadata, expected=expected)
    except InvalidStateTransition:
        raise
    except ProvisioningError:
        raise
    except Exception:
        logger.exception("could not mark %s failed", store_id)
        raise


# --- create -------------------------------------------------------------------------------------------------------


def provision(store_id: str, *, attempt: int = 0, task_id: str | None = None, final: bool = True) -> str:
    """Run (or resume) the create chain. Returns "ready", "failed", "skipped" or "superseded" (the store moved on,
    e.g. an operator force-deleted it: the chain stopped and marked nothing); raises a retryable
    ProvisioningError when the task should try again later (only when `final` is False)."""
    with concurrency.store_lock(store_id) as lock:
        store = Store.objects.select_related("owner").get(pk=store_id)
        if store.status == S.REQUESTED:
            store = store_services.store_start_provisioning(store_id=store_id)
        elif store.status != S.PROVISIONING:
            logger.info("provision: %s is %s; nothing to do", store_id, store.status, extra={"store_id": store_id})
            return "skipped"
        store = Store.objects.select_related("owner").get(pk=store_id)
        if is_unreadable(store.secrets) or is_unreadable(store.admin_credentials):
            # Generating new secrets would lock the release out of its own database: an operator restores the key.
            logger.error("provision %s: %s", store_id, UNREADABLE_MESSAGE, extra={"store_id": store_id})
            _fail(store_id, SECRETS_UNREADABLE_REASON, errorCode="SECRETS_UNREADABLE")
            return "failed"
        secrets = ensure_secrets(store)
        owner = concurrency.Ownership(store_id, S.PROVISIONING, lock)
        run = Attempt(store, Operation.CREATE, attempt, task_id, secret_values(store, secrets), owner.check)
        try:
            try:
                with _slot(store, "create") as lease:
                    owner.lease = lease
                    _create_chain(run, secrets)
                return "ready"
            except (Superseded, InvalidStateTransition):
                raise
            except (QueueFull, QueueTimeout) as error:
                _fail(store_id, reason_of(error, run.secrets), expected=S.PROVISIONING, errorCode=error.code)
            except SoftTimeLimitExceeded:
                limit = settings.PROVISIONING_TASK_SOFT_TIME_LIMIT
                _fail(store_id, f"Provisioning did not finish within {limit} seconds.", expected=S.PROVISIONING)
            except ProvisioningError as error:
                if error.retryable and not final:
                    owner.check()  # a chain that lost the store hands it over instead of asking for a retry
                    logger.warning("provision %s: retryable failure, will retry: %s", store_id, error.code)
                    raise
                reason = reason_of(error, run.secrets)
                _fail(store_id, reason, expected=S.PROVISIONING, errorCode=error.code, retryable=error.retryable)
            except Exception:
                logger.exception("provision %s: internal error", store_id)
                reason = "Internal error in the provisioning worker; operators have been notified."
                _fail(store_id, reason, expected=S.PROVISIONING)
            return "failed"
        except (Superseded, InvalidStateTransition) as moved_on:
            superseded(run, moved_on)
            return "superseded"


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


def _create_chain(run: Attempt, secrets: dict[str, str]) -> None:
    store = run.store
    ns, release = store.namespace, store.helm_release
    for before in BEFORE_CREATE:
        before(run)
    with step(run, "namespace"):
        kubectl.create_namespace(ns, namespace_labels(store))
    with step(run, "release_check") as ctx:
        remediate_release(store, ctx=ctx)
    with step(run, "helm_install") as ctx:
        audit_record(event_type=EventType.HELM_INSTALL, store=store, message=f"Installing release {release}")
        with helm.values_file(helm_values(store, secrets)) as secrets_file:
            files = [Path(settings.HELM_CHART_PATH) / settings.HELM_VALUES_FILE, secrets_file]
            ctx.ran(helm.upgrade_install_argv(release, settings.HELM_CHART_PATH, ns, files, settings.HELM_TIMEOUT))
            helm.upgrade_install(release, settings.HELM_CHART_PATH, ns, files, secrets=run.secrets)
    with step(run, "readiness"):
        for workload in kubectl.list_workloads(ns):
            kubectl.rollout_status(ns, workload, timeout=settings.READINESS_TIMEOUT_SECONDS)
    with step(run, "urls"):
        host = ingress.wait_for_address(ns, timeout=settings.STORE_SERVE_TIMEOUT_SECONDS)
        storefront = store_url(host)
    email, password = admin_email(store), secrets["adminPassword"]
    with step(run, "engine_setup") as ctx:
        setup_engine(ctx, store, url=storefront, email=email, password=password)
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


def remediate_release(store: Store, *, ctx=None) -> str:
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


def delete(store_id: str, *, attempt: int = 0, task_id: str | None = None, final: bool = True) -> str:
    """Run (or resume) the deletion chain: uninstall, delete the namespace, wait (bounded) until it is gone, then
    deleted. Anything left behind leaves the store failed with the reason, never "deleted". Waits up to
    STORE_LOCK_WAIT_SECONDS for the store's lock (a create chain it superseded lets go within a poll)."""
    with concurrency.store_lock(store_id, wait=settings.STORE_LOCK_WAIT_SECONDS) as lock:
        store = Store.objects.select_related("owner").get(pk=store_id)
        if store.status != S.DELETING:
            logger.info("delete: %s is %s; nothing to do", store_id, store.status, extra={"store_id": store_id})
            return "skipped"
        # Uninstalling needs no secret: a store whose secrets no key decrypts can still be deleted.
        known = {} if is_unreadable(store.secrets) else (store.secrets or {})
        owner = concurrency.Ownership(store_id, S.DELETING, lock)
        run = Attempt(store, Operation.DELETE, attempt, task_id, secret_values(store, known), owner.check)
        try:
            try:
                with _slot(store, "delete") as lease:
                    owner.lease = lease
                    _delete_chain(run)
                return "deleted"
            except (Superseded, InvalidStateTransition):
                raise
            except (QueueFull, QueueTimeout) as error:
                reason = "Deletion deferred: " + reason_of(error, run.secrets)
                _fail(store_id, reason, expected=S.DELETING, errorCode=error.code)
            except SoftTimeLimitExceeded:
                limit = settings.PROVISIONING_TASK_SOFT_TIME_LIMIT
                _fail(store_id, f"Deletion did not finish within {limit} seconds.", expected=S.DELETING)
            except ProvisioningError as error:
                if error.retryable and not final:
                    owner.check()
                    raise
                reason = "Deletion failed: " + reason_of(error, run.secrets)
                _fail(store_id, reason, expected=S.DELETING, errorCode=error.code)
            except Exception:
                logger.exception("delete %s: internal error", store_id)
                _fail(store_id, "Deletion failed: internal error in the provisioning worker.", expected=S.DELETING)
            return "failed"
        except (Superseded, InvalidStateTransition) as moved_on:
            superseded(run, moved_on)
            return "superseded"


def _delete_chain(run: Attempt) -> None:
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


# --- password propagation -----------------------------------------------------------------------------------------

PASSWORD_TASK = "provisioning.update_store_password"  # noqa: S105  (a task name)


IN_PROGRESS_REASON = "In progress: a worker applies it shortly; the store's activity log records the outcome."


def propagate_password(*, user, new_password: str) -> dict:
    """The tenant's new password becomes the admin password of each of its ready stores (up to 100, newest first).
    The request never waits for a worker: each store's new password waits for its worker encrypted in the store's
    secrets (never in a queue message), and the answer reports each store as it stands now, in the contract's shape
    {totalStores, successful, failed, details}: refused ones with their reason, queued ones as in progress (the
    worker's outcome lands in the store's audit log)."""
    stores = list(Store.objects.filter(owner=user, status=S.READY).order_by("-created_at")[:100])
    details: list[dict] = []
    for store in stores:
        if is_unreadable(store.admin_credentials) or is_unreadable(store.secrets):
            details.append({"storeId": store.id, "success": False, "reason": SECRETS_UNREADABLE_REASON})
            continue
        if not (store.admin_credentials or {}).get("email"):
            details.append({"storeId": store.id, "success": False, "reason": "no credentials"})
            continue
        store_services.store_set_pending_admin_password(store_id=store.id, password=new_password)
        current_app.send_task(PASSWORD_TASK, args=[store.id])
        details.append({"storeId": store.id, "success": False, "reason": IN_PROGRESS_REASON})
    return {
        "totalStores": len(stores),
        "successful": sum(1 for d in details if d["success"]),
        "failed": sum(1 for d in details if not d["success"]),
        "details": details,
    }


def update_store_password(store_id: str, *, task_id: str | None = None) -> str:
    """Apply a pending admin password to one ready store (WP-CLI or the Medusa admin API), then keep it."""
    from provisioning.setup import set_medusa_password, set_woocommerce_password

    with concurrency.store_lock(store_id):
        store = Store.objects.select_related("owner").get(pk=store_id)
        current = dict(store.secrets or {})
        new_password = current.get("pendingAdminPassword")
        if not new_password or store.status != S.READY:
            return "skipped"
        old_password = current.get("adminPassword", "")
        run = Attempt(store, Operation.PASSWORD, 0, task_id, [new_password, old_password])
        try:
            with step(run, "admin_password") as ctx:
                if store.engine == Engine.WOOCOMMERCE:
                    set_woocommerce_password(ctx, store, password=new_password)
                else:
                    set_medusa_password(
                        ctx, store, email=admin_email(store), old_password=old_password, password=new_password
                    )
        except Exception as error:
            store_services.store_settle_admin_password(store_id=store.id, password=new_password, applied=False)
            audit_record(
                event_type=EventType.WARNING,
                store=store,
                message="Store admin password not updated (the old one still works): " + reason_of(error, run.secrets),
            )
            return "failed"
        store_services.store_settle_admin_password(store_id=store.id, password=new_password, applied=True)
        audit_record(event_type=EventType.INFO, store=store, message="Store admin password updated")
        return "updated"
