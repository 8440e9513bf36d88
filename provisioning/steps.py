"""Recording of steps: each step of a store operation is one ProvisioningRun row (running -> succeeded / failed /
errored), one log line with its duration, and the step metrics. A step rides out a restart of the platform's own
database or Redis: its row writes and ownership checks wait for them on fresh connections (`until_answered`), and
what still finds them down fails the step as retryable (DependencyUnavailable), never as an internal error."""

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from redis.exceptions import RedisError

from core import metrics
from core.logging import request_id_var, step_var, store_id_var
from provisioning.errors import DependencyUnavailable, ProvisioningError
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.redaction import redact
from provisioning.runner import checking_owner, recording
from stores.models import Store

logger = logging.getLogger("storeplane.provisioning")

T = TypeVar("T")
# The platform's own dependencies not answering: a PostgreSQL or Redis restart, a failover, a dropped connection.
TRANSIENT = (OperationalError, InterfaceError, RedisError)


def _outage_budget() -> float:
    return float(getattr(settings, "PROVISIONING_OUTAGE_WAIT_SECONDS", 90))


def _forget_connection(error: BaseException) -> None:
    """After a database error Django keeps the dead connection until a request ends, and a worker serves none:
    close it, so the next query opens a fresh one (never inside a transaction, whose work is lost anyway)."""
    if isinstance(error, OperationalError | InterfaceError) and not connection.in_atomic_block:
        connection.close()


def until_answered(call: Callable[[], T], what: str) -> T:
    """`call()`, tried again on a fresh connection while the database or Redis does not answer (backoff 0.5 s up
    to 5 s, for PROVISIONING_OUTAGE_WAIT_SECONDS in all); then the last error is raised."""
    deadline = time.monotonic() + _outage_budget()
    delay = 0.5
    while True:
        try:
            return call()
        except TRANSIENT as error:
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            _forget_connection(error)
            logger.warning("%s: %s did not answer; trying again in %.1fs", what, _dependency(error), delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _dependency(error: BaseException) -> str:
    return "Redis" if isinstance(error, RedisError) else "the database"


def _polling(check: Callable[[], None] | None) -> Callable[[], None] | None:
    """The ownership check as a running command polls it: a check that cannot ask (the database or Redis is
    restarting) keeps the command running; nobody else can take the store meanwhile, and the next poll asks again.
    A check that answers "not yours" (Superseded) still stops it at once."""
    if check is None:
        return None

    def poll() -> None:
        try:
            check()
        except TRANSIENT as error:
            _forget_connection(error)
            logger.warning("ownership check: %s did not answer; the command goes on", _dependency(error))

    return poll


@dataclass
class StepContext:
    """What a running step adds to its row: the (already redacted) argv of every command it started, handed over by
    the runner (provisioning.runner.recording). A poll that runs the same command again is recorded once."""

    run: ProvisioningRun
    argv: list[list[str]] = field(default_factory=list)

    def ran(self, argv: list[str]) -> None:
        if not self.argv or self.argv[-1] != argv:
            self.argv.append(list(argv))


@dataclass
class Attempt:
    """One execution of an operation (a Celery task run): which store, which try, which task, which secrets."""

    store: Store
    operation: str
    attempt: int = 0
    task_id: str | None = None
    secrets: list[str] = field(default_factory=list)
    # The chain's ownership check (concurrency.Ownership.check): before each step, and while its commands run.
    owner_check: Callable[[], None] | None = None


def _unavailable(error: BaseException) -> str:
    return (
        f"The platform's {'Redis' if isinstance(error, RedisError) else 'database'} did not answer for "
        f"{_outage_budget():g} seconds; the worker retries."
    )


def reason_of(error: BaseException, secrets: list[str]) -> str:
    """A reason a tenant can read, with every secret removed."""
    if isinstance(error, ProvisioningError):
        return redact(error.message, secrets)
    return "Internal error in the provisioning worker; operators have been notified."


@contextmanager
def step(attempt: Attempt, name: str) -> Iterator[StepContext]:
    store = attempt.store
    try:
        if attempt.owner_check is not None:
            # Raises Superseded before the step starts: no row for a step that never ran.
            until_answered(attempt.owner_check, f"step {name}: ownership check")
        run = until_answered(
            lambda: ProvisioningRun.objects.create(
                store_id=store.pk,
                operation=attempt.operation,
                step=name,
                attempt=attempt.attempt,
                task_id=attempt.task_id,
                request_id=request_id_var.get(),
            ),
            f"step {name}: run row",
        )
    except TRANSIENT as error:
        raise DependencyUnavailable(_unavailable(error)) from error
    ctx = StepContext(run=run)
    store_token, step_token = store_id_var.set(store.pk), step_var.set(name)
    started = time.perf_counter()
    status, error_text, trace = RunStatus.SUCCEEDED, "", ""
    try:
        try:
            with checking_owner(_polling(attempt.owner_check)), recording(ctx.ran):
                yield ctx
        except TRANSIENT as error:
            # The step's own writes (an audit row, a transition) found the database or Redis down: retryable.
            raise DependencyUnavailable(_unavailable(error)) from error
    except BaseException as exc:
        if isinstance(exc, ProvisioningError):
            status, error_text = RunStatus.FAILED, reason_of(exc, attempt.secrets)
        else:
            status, error_text = RunStatus.ERRORED, reason_of(exc, attempt.secrets)
            trace = redact(traceback.format_exc(), attempt.secrets)
        metrics.STORE_PROVISIONING_FAILURES.labels(engine=store.engine, step=name).inc()
        raise
    finally:
        duration_ms = int((time.perf_counter() - started) * 1000)
        finished = {
            "status": status,
            "error": error_text,
            "traceback": trace,
            "finished_at": timezone.now(),
            "duration_ms": duration_ms,
            "argv": [[redact(a, attempt.secrets) for a in argv] for argv in ctx.argv],
        }
        # The row's outcome is the record a tenant reads: a database restart delays it, never loses it.
        until_answered(
            lambda: ProvisioningRun.objects.filter(pk=run.pk).update(**finished), f"step {name}: run row outcome"
        )
        metrics.STORE_PROVISIONING_STEP_DURATION.labels(engine=store.engine, step=name).observe(duration_ms)
        logger.info(
            "step %s %s",
            name,
            status,
            extra={
                "store_id": store.pk,
                "step": name,
                "status": status,
                "duration_ms": duration_ms,
                "operation": attempt.operation,
                "attempt": attempt.attempt,
            },
        )
        store_id_var.reset(store_token)
        step_var.reset(step_token)
