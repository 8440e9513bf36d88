"""The operator console's dashboard page (inside the Django admin): stores by status, the provisioning semaphore's
queue and the circuit breakers. The last two are read from the provisioning app (config.readings) and are shown as
"not available" when they cannot be read, so the page never breaks on them."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from config import readings
from stores.models import LifecycleStatus, StoreStatus
from stores.selectors import store_counts_by_status

admin.site.site_header = "storeplane console"
admin.site.site_title = "storeplane console"
admin.site.index_title = "Operations"
admin.site.index_template = "admin/storeplane_index.html"


def _rows(stats: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    """Flattens one level of nesting into (name, "k=v, k=v") rows for a plain table."""
    if stats is None:
        return None
    rows = []
    for key, value in stats.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        rows.append((str(key), str(value)))
    return rows


def _breaker_rows(breakers: list[dict[str, Any]]) -> list[tuple[str, str]] | None:
    """One row per breaker: its name, then "state=..., failureCount=..."; None when none could be read."""
    if not breakers:
        return None
    return _rows({str(b.get("name")): {k: v for k, v in b.items() if k != "name"} for b in breakers})


def dashboard(request: HttpRequest) -> HttpResponse:
    counts = store_counts_by_status(request.user)  # type: ignore[arg-type]  # admin_view: a staff User
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        # The contract's statuses always, and a lifecycle state (suspended, upgrading...) when a store is in it: the
        # rows add up to the total.
        "counts": [(status, counts.get(status, 0)) for status in StoreStatus.values]
        + [(status, counts[status]) for status in LifecycleStatus.values if counts.get(status)],
        "total": sum(counts.values()),
        "semaphore": _rows(readings.semaphore_stats()),
        "breakers": _breaker_rows(readings.breaker_stats()),
    }
    return TemplateResponse(request, "admin/storeplane_dashboard.html", context)
