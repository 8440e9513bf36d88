"""The Celery application: broker and schedule come from Django settings (CELERY_* names), plus the broker
behaviour the fault suite (tests/faults) proves: a worker outlives a Redis restart."""

import os

from celery import Celery

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
)
app.autodiscover_tasks()

import config.worker  # noqa: E402,F401  (signals: JSON logs, correlation ids, metrics across processes)
