"""The Celery application: broker and schedule come from Django settings (CELERY_* names)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("storeplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

import config.worker  # noqa: E402,F401  (signals: JSON logs, correlation ids, metrics across processes)
