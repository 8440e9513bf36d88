"""The Celery application: broker and schedule come from Django settings (CELERY_* names), plus the broker
behaviour the fault suite (tests/faults) proves: a worker outlives a Redis restart."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("storeplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    # A worker started before Redis answers waits for it, and one that loses Redis reconnects for as long as it
    # takes (Celery's default gives up after 100 attempts and the worker exits).
    broker_connection_retry=True,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    # A chain in flight keeps running through a broker outage: its store lock, not the broker, makes a redelivered
    # copy yield, and cancelling it would kill a helm install half way for nothing.
    worker_cancel_long_running_tasks_on_connection_loss=False,
    # No message is left unacknowledged in the worker when the broker connection drops: celery 5.7.0 then closes
    # the broken connection after collect() dropped its transport, and kombu 5.7.0 restoring an unacknowledged
    # message through that transport raises AttributeError("'NoneType' object has no attribute 'hostname'"),
    # which kills the worker (issue 18). So tasks are acknowledged when they start (a task a dead worker held is
    # re-enqueued, resumed or failed "safe to retry" by recovery, from the database), and a worker fetches a
    # message only when a process is free to start it (nothing waits unacknowledged in its buffer).
    task_acks_late=False,
    task_reject_on_worker_lost=False,
    worker_disable_prefetch=True,
)
app.autodiscover_tasks()


def _ack_at_start(**_kwargs) -> None:
    """Every task of the app is acknowledged at its start, whatever its decorator asked (see above): once the app
    is finalized, and again when the worker is ready (task modules imported after that are registered by then)."""
    for task in app.tasks.values():
        task.acks_late = False
        task.reject_on_worker_lost = False


app.on_after_finalize.connect(_ack_at_start, weak=False)
signals.worker_ready.connect(_ack_at_start, weak=False)


import config.worker  # noqa: E402,F401  (signals: JSON logs, correlation ids, metrics across processes)
