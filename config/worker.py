"""Celery worker wiring for observability: JSON logging like web, the correlation id carried from the request that
enqueued a task (task header `request_id`) into every log line of that task, and Prometheus multiprocess
bookkeeping so a scrape of the web process includes what workers did. Imported by config.celery."""

from __future__ import annotations

import os

from celery import signals

from core.logging import configure_worker_logging, request_id_var, step_var, store_id_var

_tokens: dict[str, tuple] = {}


@signals.setup_logging.connect
def _setup_logging(**kwargs) -> None:
    configure_worker_logging(**kwargs)


@signals.before_task_publish.connect
def _propagate_request_id(headers: dict | None = None, **_kwargs) -> None:
    """A task enqueued while serving a request carries its id, unless the caller already set one."""
    request_id = request_id_var.get()
    if headers is not None and request_id and not headers.get("request_id"):
        headers["request_id"] = request_id


def _header(task, name: str) -> str | None:
    request = getattr(task, "request", None)
    value = getattr(request, name, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return str(value) if value else None


@signals.task_prerun.connect
def _bind_context(task_id: str | None = None, task=None, **_kwargs) -> None:
    request_id = _header(task, "request_id") or (f"task_{task_id}" if task_id else None)
    _tokens[task_id or ""] = (request_id_var.set(request_id), store_id_var.set(None), step_var.set(None))


@signals.task_postrun.connect
def _unbind_context(task_id: str | None = None, **_kwargs) -> None:
    tokens = _tokens.pop(task_id or "", None)
    if tokens:
        for var, token in zip((request_id_var, store_id_var, step_var), tokens, strict=True):
            var.reset(token)


@signals.worker_process_shutdown.connect
def _mark_dead(pid: int | None = None, **_kwargs) -> None:
    from core.metrics import mark_process_dead

    mark_process_dead(pid or os.getpid())
