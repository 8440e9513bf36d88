"""Retry policy: exponential backoff with full jitter (delay n drawn uniformly from [0, min(cap, base * 2^n)]), for
retryable errors only, a bounded number of times: the tasks (provisioning.tasks) pass `countdown_for` to
`self.retry(countdown=...)`. Full jitter spreads workers that failed together (a cluster blip)."""

import random
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


def countdown_for(attempt: int, base: float | None = None, cap: float | None = None, rng: _Rng | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based, Celery's `self.request.retries`), from settings
    PROVISIONING_RETRY_BASE_SECONDS / PROVISIONING_RETRY_MAX_SECONDS unless given."""
    base = settings.PROVISIONING_RETRY_BASE_SECONDS if base is None else base
    cap = settings.PROVISIONING_RETRY_MAX_SECONDS if cap is None else cap
    return (rng or _system_rng).uniform(0, ceiling(attempt, base, cap))
