"""Retry policy: exponential backoff with full jitter (delay n drawn uniformly from [0, min(cap, base * 2^n)]), for
retryable errors only, a bounded number of times. Pure schedule functions plus the helpers Celery tasks use
(`should_retry`, `countdown_for` -> `self.retry(countdown=...)`)."""

import random
from collections.abc import Callable
from typing import Protocol

from django.conf import settings


class _Rng(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


_system_rng = random.SystemRandom()


def ceiling(attempt: int, base: float, cap: float) -> float:
    """The largest delay before retry number `attempt` (0-based): min(cap, base * 2^attempt)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # Cap the exponent too, so a large attempt number never overflows a float.
    return min(cap, base * 2 ** min(attempt, 62))


def backoff_delays(attempts: int, base: float, cap: float, rng: _Rng | None = None) -> list[float]:
    """The delays before each of `attempts` retries. Full jitter spreads workers that failed together (a cluster
    blip) so they do not retry together."""
    rng = rng or _system_rng
    return [rng.uniform(0, ceiling(n, base, cap)) for n in range(attempts)]


def countdown_for(attempt: int, base: float | None = None, cap: float | None = None, rng: _Rng | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based, Celery's `self.request.retries`), from settings
    PROVISIONING_RETRY_BASE_SECONDS / PROVISIONING_RETRY_MAX_SECONDS unless given."""
    base = settings.PROVISIONING_RETRY_BASE_SECONDS if base is None else base
    cap = settings.PROVISIONING_RETRY_MAX_SECONDS if cap is None else cap
    return (rng or _system_rng).uniform(0, ceiling(attempt, base, cap))


def is_retryable(error: BaseException) -> bool:
    """Only errors that say so: timeouts, an unreachable cluster, a full queue, an open breaker..."""
    return bool(getattr(error, "retryable", False))


def should_retry(error: BaseException, attempt: int, max_retries: int | None = None) -> bool:
    """Retry `error` after `attempt` earlier retries? (PROVISIONING_MAX_RETRIES by default)."""
    limit = settings.PROVISIONING_MAX_RETRIES if max_retries is None else max_retries
    return is_retryable(error) and attempt < limit


def call_with_retries(
    fn: Callable[[], object],
    *,
    attempts: int,
    base: float,
    cap: float,
    sleep: Callable[[float], None],
    rng: _Rng | None = None,
):
    """Call fn, retrying retryable errors up to `attempts` times with the backoff above (for short in-task steps;
    whole tasks retry through Celery with countdown_for instead of sleeping in a worker)."""
    delays = backoff_delays(attempts, base, cap, rng)
    for delay in delays:
        try:
            return fn()
        except Exception as error:
            if not is_retryable(error):
                raise
            sleep(delay)
    return fn()
