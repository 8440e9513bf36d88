"""Recording of steps: each step of a store operation is one ProvisioningRun row (running -> succeeded / failed /
errored), one log line with its duration, and the step metrics."""

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.utils import timezone

from core import metrics
from core.logging import request_id_var, step_var, store_id_var
from provisioning.errors import CommandError, ProvisioningError
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.redaction import redact
from provisioning.runner import checking_owner
from stores.models import Store

logger = logging.getLogger("storeplane.provisioning")


@dataclass
class StepContext:
    """What a running step may add to its row: the (already redacted) argv of the commands it ran."""

    run: ProvisioningRun
    argv: list[list[str]] = field(default_factory=list)

    def ran(self, argv: list[str]) -> None:
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


def reason_of(error: BaseException, secrets: list[str]) -> str:
    """A reason a tenant can read, with every secret removed."""
    if isinstance(error, ProvisioningError):
        return redact(error.message, secrets)
    return "Internal error in the provisioning worker; operators have been notified."


@contextmanager
def step(attempt: Attempt, name: str) -> Iterator[StepContext]:
    store = attempt.store
    if attempt.owner_check is not None:
        attempt.owner_check()  # raises Superseded before the step starts: no row for a step that never ran
    run = ProvisioningRun.objects.create(
        store_id=store.pk,
        operation=attempt.operation,
        step=name,
        attempt=attempt.attempt,
        task_id=attempt.task_id,
        request_id=request_id_var.get(),
    )
    ctx = StepContext(run=run)
    store_token, step_token = store_id_var.set(store.pk), step_var.set(name)
    started = time.perf_counter()
    status, error_text, trace = RunStatus.SUCCEEDED, "", ""
    try:
        with checking_owner(attempt.owner_check):
            yield ctx
    except BaseException as exc:
        if isinstance(exc, ProvisioningError):
            status, error_text = RunStatus.FAILED, reason_of(exc, attempt.secrets)
            if isinstance(exc, CommandError) and getattr(exc, "argv", None):
                ctx.ran(list(exc.argv))
        else:
            status, error_text = RunStatus.ERRORED, reason_of(exc, attempt.secrets)
            trace = redact(traceback.format_exc(), attempt.secrets)
        metrics.STORE_PROVISIONING_FAILURES.labels(engine=store.engine, step=name).inc()
        raise
    finally:
        duration_ms = int((time.perf_counter() - started) * 1000)
        ProvisioningRun.objects.filter(pk=run.pk).update(
            status=status,
            error=error_text,
            traceback=trace,
            finished_at=timezone.now(),
            duration_ms=duration_ms,
            argv=[[redact(a, attempt.secrets) for a in argv] for argv in ctx.argv],
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
