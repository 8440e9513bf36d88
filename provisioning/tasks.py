"""Celery tasks: thin. Each takes a store id and runs a store operation (provisioning.services.Chain), turning a
retryable failure into a Celery retry with exponential backoff and jitter (provisioning.retry) and, once retries
are spent or the failure is final, giving up (the operation records its failure). Only the task decides retry
versus give up. The platform's own database or Redis not answering is retryable too (on fresh connections); a copy
of a task that finds another operation holding the store (a broker redelivery) yields to it at the end."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from provisioning import lifecycle, recovery, retry, services  # noqa: F401  (lifecycle: its tasks register here)
from provisioning.errors import DependencyUnavailable, OperationFailed, ProvisioningError, StoreBusy
from provisioning.steps import TRANSIENT

logger = logging.getLogger("storeplane.provisioning")

_LIMITS = {
    "soft_time_limit": settings.PROVISIONING_TASK_SOFT_TIME_LIMIT,
    "time_limit": settings.PROVISIONING_TASK_TIME_LIMIT,
}


def _run_with_retries(task, chain: services.Chain, store_id: str) -> str:
    """The one decision of retry versus give up, for every store operation (services.Chain)."""
    max_retries = settings.PROVISIONING_TASK_MAX_RETRIES
    final = task.request.retries >= max_retries
    try:
        try:
            return chain.run(store_id, attempt=task.request.retries, task_id=task.request.id)
        except TRANSIENT as outage:  # before or after the chain's steps: taking the lock, reading the store
            from django.db import close_old_connections

            close_old_connections()
            raise DependencyUnavailable() from outage
    except ProvisioningError as error:
        if error.retryable and not final:
            countdown = retry.countdown_for(task.request.retries)
            logger.info("retrying %s for %s in %.1fs (%s)", task.name, store_id, countdown, error.code)
            raise task.retry(exc=error, countdown=countdown, max_retries=max_retries) from error
        if isinstance(error, StoreBusy):
            # Another operation holds the store all along (a redelivered copy of a running task): it owns the
            # store and ends it; this copy changes nothing.
            logger.info("%s for %s yields: %s", task.name, store_id, error.message, extra={"store_id": store_id})
            return "yielded"
        if isinstance(error, OperationFailed):
            logger.warning("%s for %s gives up: %s", task.name, store_id, error.code, extra={"store_id": store_id})
            return chain.give_up(store_id, error)
        raise  # the platform's own outage outlasted the retries: the store is left as it is, for recovery


@shared_task(bind=True, name="provisioning.provision_store", **_LIMITS)
def provision_store(self, store_id: str) -> str:
    return _run_with_retries(self, services.CREATE, store_id)


@shared_task(bind=True, name="provisioning.delete_store", **_LIMITS)
def delete_store(self, store_id: str) -> str:
    return _run_with_retries(self, services.DELETE, store_id)


@shared_task(bind=True, name="provisioning.update_store_password", soft_time_limit=120)
def update_store_password(self, store_id: str) -> str:
    return _run_with_retries(self, services.PASSWORD, store_id)


@shared_task(name="provisioning.recover_stores")
def recover_stores() -> list[str]:
    return recovery.recover()


@shared_task(name="provisioning.reconcile_stores")
def reconcile_stores() -> list[str]:
    return recovery.reconcile()


@worker_ready.connect
def _recover_on_start(sender, **kwargs) -> None:
    """A worker that starts picks up what a dead one left behind."""
    try:
        sender.app.send_task("provisioning.recover_stores")
    except Exception:
        logger.exception("could not enqueue start-up recovery")
