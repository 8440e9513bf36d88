"""Celery tasks: thin. Each takes a store id, calls a service, and turns a retryable failure into a Celery retry
with exponential backoff and jitter (provisioning.retry)."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from provisioning import lifecycle, recovery, retry, services  # noqa: F401  (lifecycle: its tasks register here)
from provisioning.errors import ProvisioningError

logger = logging.getLogger("storeplane.provisioning")

_LIMITS = {
    "acks_late": True,
    "soft_time_limit": settings.PROVISIONING_TASK_SOFT_TIME_LIMIT,
    "time_limit": settings.PROVISIONING_TASK_TIME_LIMIT,
}


def _run_with_retries(task, operation, store_id: str) -> str:
    max_retries = settings.PROVISIONING_TASK_MAX_RETRIES
    final = task.request.retries >= max_retries
    try:
        return operation(store_id, attempt=task.request.retries, task_id=task.request.id, final=final)
    except ProvisioningError as error:
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


@shared_task(bind=True, name="provisioning.update_store_password", acks_late=True, soft_time_limit=120)
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
