"""Celery tasks of the backups app: thin. The backup's worker (a store another operation holds is retried later,
with backoff, then the backup fails with that reason), the beat's scheduled backups, and restore into the same
store (a store operation like the others, retried or given up by provisioning.tasks' policy)."""

import logging

from celery import shared_task
from django.conf import settings

from backups import restore_in_place, services
from provisioning import retry
from provisioning.errors import StoreBusy
from provisioning.tasks import _run_with_retries
from stores.services import RESTORE_TASK

logger = logging.getLogger("storeplane.backups")


@shared_task(
    bind=True,
    name="backups.run_backup",
    soft_time_limit=settings.PROVISIONING_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.PROVISIONING_TASK_TIME_LIMIT,
)
def run_backup(self, backup_id: str) -> str:
    try:
        return services.run_backup(backup_id, task_id=self.request.id)
    except StoreBusy as busy:
        if self.request.retries >= settings.PROVISIONING_TASK_MAX_RETRIES:
            services.backup_mark_failed(backup_id=backup_id, reason=f"{busy.message} Try again later.")
            return "failed"
        raise self.retry(exc=busy, countdown=retry.countdown_for(self.request.retries)) from busy


@shared_task(name="backups.run_schedules")
def run_schedules() -> dict[str, list[str]]:
    return services.backups_run_schedules()


@shared_task(
    bind=True,
    name=RESTORE_TASK,
    soft_time_limit=settings.PROVISIONING_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.PROVISIONING_TASK_TIME_LIMIT,
)
def restore_store(self, store_id: str) -> str:
    """Restore into the same store: the store operations' one retry policy (provisioning.tasks)."""
    return _run_with_retries(self, restore_in_place.RESTORE, store_id)
