"""Celery tasks: thin. Each takes a store id, calls a service, and turns a retryable failure into a Celery retry
with exponential backoff and jitter (provisioning.retry). Only the task decides retry versus give up. The platform's
own database or Redis not answering is retryable too (on fresh connections); a copy of a task that finds another
operation holding the store (a broker redelivery) yields to it once its retries are spent."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from provisioning import lifecycle, recovery, retry, services  # noqa: F401  (lifecycle: its tasks register here)
from provisioning.errors import DependencyUnavailable, ProvisioningError, StoreBusy
from provisioning.steps import TRANSIENT

logger = logging.getLogger("storeplane.provisioning")

_LIMITS = {
    "soft_time_limit": settings.PROVISIONING_TASK_SOFT_TIME_LIMIT,
    "time_limit": settings.PROVISIONING_TASK_TIME_LIMIT,
}


def _run_with_retries(task, operation, store_id: str) -> str:
    max_retries = settings.PROVISIONING_TASK_MAX_RETRIES
    final = task.request.retries >= max_retries
    try:
        try:
            return operation(store_id, attempt=task.request.retries, task_id=task.request.id, final=final)
        except TRANSIENT as outage:  # before or after the chain's steps: taking the lock, reading the store
            from django.db import close_old_connections

            close_old_connections()
            raise DependencyUnavailable() from outage
    except ProvisioningError as error:
        if isinstance(error, StoreBusy) and final:
            # Another operation holds the store all along (a redelivered copy of a running task): it owns the
            # store and ends it; this copy changes nothing.
            logger.info("%s for %s yields: %s", task.name, store_id, error.message, extra={"store_id": store_id})
            return "yielded"
        if not error.retryable or final:
            raise
        countdown = retry.countdown_for(task.request.retries)
        logger.info("retrying %s for %s in %.1fs (%s)", task.name, store_id, countdown, error.code)
        raise task.retry(exc=error, countdown=countdown, max_retries=max_retries) from error


@shared_task(bind=True, name="provisioning.provision_store", **_LIMITS)
def provision_store(self, store_id: str) -> str:
    return _run_with_retries(self, services.provision, store_id)


@shared_task(bind=True, name="provisioning.delete_store", **_LIMITS)
def delete_store(self, store_id: str) -> str:
    return _run_with_retries(self, services.delete, store_id)


@shared_task(bind=True, name="provisioning.update_store_password", soft_time_limit=120)
def update_store_password(self, store_id: str) -> str:
    return services.update_store_password(store_id, task_id=self.request.id)


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
