"""The provisioning chain: create and delete a store in its own namespace with helm and kubectl, under the store's
lock and a global concurrency slot. Each step is recorded (provisioning.steps); every state change goes through
stores.services, so it is checked by the state machine and audited. Tasks (provisioning.tasks) only call these."""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from audit.models import EventType
from audit.services import audit_record
from config import metrics
from config.crypto import UNREADABLE_MESSAGE, is_unreadable
from provisioning import concurrency, helm, ingress, kubectl
from provisioning.errors import ProvisioningError, QueueFull, QueueTimeout
from provisioning.models import Operation
from provisioning.setup import setup_engine
from provisioning.steps import Attempt, reason_of, step
from provisioning.values import admin_email, admin_path, ensure_secrets, helm_values, secret_values, store_url
from stores import services as store_services
from stores.models import Engine, Store, StoreStatus

logger = logging.getLogger("storeplane.provisioning")
S = StoreStatus

MANAGED_BY = "storeplane"
SECRETS_UNREADABLE_REASON = (
    "The store's stored secrets cannot be decrypted (the platform's encryption key changed). An operator must "
    "restore the old key in CREDENTIALS_ENCRYPTION_KEY; then retry."
)


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
def _slot(store: Store, operation: str) -> Iterator[None]:
    semaphore = concurrency.provisioning_semaphore()
    waited = time.perf_counter()
    try:
        with semaphore.slot(f"{store.id}:{operation}"):
            metrics.PROVISIONING_QUEUE_WAIT.observe((time.perf_counter() - waited) * 1000)
            _observe_semaphore(semaphore)
            metrics.ACTIVE_PROVISIONING_OPERATIONS.inc()
            try:
                yield
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


def _fail(store_id: str, reason: str, **metadata) -> None:
    try:
        store_services.store_mark_failed(store_id=store_id, reason=reason, metadata=metadata)
    except ProvisioningError:
        raise
    except Exception:
        logger.exception("could not mark %s failed", store_id)
        raise


# --- create -------------------------------------------------------------------------------------------------------


def provision(store_id: str, *, attempt: int = 0, task_id: str | None = None, final: bool = True) -> str:
    """Run (or resume) the create chain. Returns "ready", "failed" or "skipped"; raises a retryable
    ProvisioningError when the task should try again later (only when `final` is False)."""
    with concurrency.store_lock(store_id):
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
        run = Attempt(store, Operation.CREATE, attempt, task_id, secret_values(store, secrets))
        try:
            with _slot(store, "create"):
                _create_chain(run, secrets)
            return "ready"
        except (QueueFull, QueueTimeout) as error:
            _fail(store_id, reason_of(error, run.secrets), errorCode=error.code)
        except SoftTimeLimitExceeded:
            _fail(store_id, f"Provisioning did not finish within {settings.PROVISIONING_TASK_SOFT_TIME_LIMIT} seconds.")
        except ProvisioningError as error:
            if error.retryable and not final:
                logger.warning("provision %s: retryable failure, will retry: %s", store_id, error.code)
                raise
            _fail(store_id, reason_of(error, run.secrets), errorCode=error.code, retryable=error.retryable)
        except Exception:
            logger.exception("provision %s: internal error", store_id)
            _fail(store_id, "Internal error in the provisioning worker; operators have been notified.")
        return "failed"


def _create_chain(run: Attempt, secrets: dict[str, str]) -> None:
    store = run.store
    ns, release = store.namespace, store.helm_release
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
    # After setup: WordPress answers its installer (a redirect) until `wp core install` has run.
    with step(run, "served"):
        ingress.wait_until_served(host, timeout=settings.STORE_SERVE_TIMEOUT_SECONDS)
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
    if decision.action == helm.Recovery.ROLLBACK:
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
    deleted. Anything left behind leaves the store failed with the reason, never "deleted"."""
    with concurrency.store_lock(store_id):
        store = Store.objects.select_related("owner").get(pk=store_id)
        if store.status != S.DELETING:
            logger.info("delete: %s is %s; nothing to do", store_id, store.status, extra={"store_id": store_id})
            return "skipped"
        # Uninstalling needs no secret: a store whose secrets no key decrypts can still be deleted.
        known = {} if is_unreadable(store.secrets) else (store.secrets or {})
        run = Attempt(store, Operation.DELETE, attempt, task_id, secret_values(store, known))
        try:
            with _slot(store, "delete"):
                _delete_chain(run)
            return "deleted"
        except (QueueFull, QueueTimeout) as error:
            _fail(store_id, "Deletion deferred: " + reason_of(error, run.secrets), errorCode=error.code)
        except SoftTimeLimitExceeded:
            _fail(store_id, f"Deletion did not finish within {settings.PROVISIONING_TASK_SOFT_TIME_LIMIT} seconds.")
        except ProvisioningError as error:
            if error.retryable and not final:
                raise
            _fail(store_id, "Deletion failed: " + reason_of(error, run.secrets), errorCode=error.code)
        except Exception:
            logger.exception("delete %s: internal error", store_id)
            _fail(store_id, "Deletion failed: internal error in the provisioning worker.")
        return "failed"


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


def propagate_password(*, user, new_password: str) -> dict:
    """PATCH /auth/password: the tenant's new password becomes the admin password of each of its ready stores.
    The worker applies it (the new password waits for it encrypted in the store's secrets, never in a queue
    message); the answer reports each store, waiting a bounded time for the workers."""
    from config.celery import app
    from provisioning.models import ProvisioningRun, RunStatus

    stores = list(Store.objects.filter(owner=user, status=S.READY).order_by("-created_at")[:100])
    task_ids: dict[str, str] = {}
    details: dict[str, dict] = {}
    for store in stores:
        if is_unreadable(store.admin_credentials) or is_unreadable(store.secrets):
            details[store.id] = {"storeId": store.id, "success": False, "reason": SECRETS_UNREADABLE_REASON}
            continue
        if not (store.admin_credentials or {}).get("email"):
            details[store.id] = {"storeId": store.id, "success": False, "reason": "no credentials"}
            continue
        current = dict(store.secrets or {})
        current["pendingAdminPassword"] = new_password
        Store.objects.filter(pk=store.pk).update(secrets=current)
        task_ids[store.id] = app.send_task(PASSWORD_TASK, args=[store.id]).id
    deadline = time.monotonic() + settings.PASSWORD_PROPAGATION_WAIT_SECONDS
    while task_ids and time.monotonic() < deadline:
        finished = ProvisioningRun.objects.filter(
            task_id__in=task_ids.values(),
            operation=Operation.PASSWORD,
            step="admin_password",
            status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ERRORED],
        )
        for run in finished:
            ok = run.status == RunStatus.SUCCEEDED
            details[run.store_id] = {"storeId": run.store_id, "success": ok, **({} if ok else {"reason": run.error})}
        if all(store_id in details for store_id in task_ids):
            break
        time.sleep(0.25)
    for store_id in task_ids:
        details.setdefault(
            store_id, {"storeId": store_id, "success": False, "reason": "Still in progress; it is applied shortly."}
        )
    ordered = [details[s.id] for s in stores]
    return {
        "totalStores": len(stores),
        "successful": sum(1 for d in ordered if d["success"]),
        "failed": sum(1 for d in ordered if not d["success"]),
        "details": ordered,
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
        except Exception:
            current.pop("pendingAdminPassword", None)
            Store.objects.filter(pk=store.pk).update(secrets=current)
            return "failed"
        current["adminPassword"] = new_password
        current.pop("pendingAdminPassword", None)
        credentials = {**(store.admin_credentials or {}), "password": new_password}
        Store.objects.filter(pk=store.pk).update(secrets=current, admin_credentials=credentials)
        audit_record(event_type=EventType.INFO, store=store, message="Store admin password updated")
        return "updated"
