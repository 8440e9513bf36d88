"""What the operator's views (health, the metric routes, the console's dashboard) read from the apps at request
time: stores by status, the provisioning semaphore, the circuit breakers. The composition root imports the apps
directly (no settings hooks); each reading survives its source failing, so the view still renders."""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Count

from provisioning import breaker, concurrency
from stores.models import Store, StoreStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _guarded(what: str, read: Callable[[], T], default: T) -> T:
    """read(), or `default` when it fails (Redis down, an unexpected error): logged, never raised."""
    try:
        return read()
    except Exception:
        logger.warning("%s unavailable", what, exc_info=True)
        return default


def store_counts() -> dict[str, int]:
    """Every store by status, unscoped (every status present, 0 when none): the stores_total gauge."""
    counts = dict.fromkeys(StoreStatus.values, 0)
    for row in Store.objects.values("status").annotate(n=Count("pk")).order_by():
        counts[row["status"]] = row["n"]
    return counts


def breaker_stats() -> list[dict[str, Any]]:
    """Every circuit breaker's stats ({"name", "state", "failureCount", ...}); [] when they cannot be read."""
    return _guarded("Circuit breaker stats", lambda: list(breaker.all_stats()), [])


def semaphore_stats() -> dict[str, Any] | None:
    """The provisioning semaphore's slots and queue; None when they cannot be read."""
    return _guarded("Semaphore stats", concurrency.stats, None)
