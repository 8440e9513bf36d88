"""The operator console's dashboard page (inside the Django admin): stores by status, the provisioning semaphore's
queue and the circuit breakers. The last two come from settings hooks (HEALTH_CONCURRENCY_STATS,
CIRCUIT_BREAKER_STATS: dotted paths to functions returning a dict) and are shown as "not available" when a hook is
missing or fails, so the page never breaks on them."""

import logging
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.module_loading import import_string

from stores.models import StoreStatus
from stores.selectors import store_counts_by_status

logger = logging.getLogger(__name__)

admin.site.site_header = "storeplane console"
admin.site.site_title = "storeplane console"
admin.site.index_title = "Operations"
admin.site.index_template = "admin/storeplane_index.html"


def hook_stats(setting_name: str) -> dict[str, Any] | None:
    """The dict a settings hook returns, or None when it is not configured, not importable or fails."""
    path = getattr(settings, setting_name, None)
    if not path:
        return None
    try:
        result = import_string(path)()
    except Exception:
        logger.warning("Console: the %s hook (%s) failed", setting_name, path, exc_info=True)
        return None
    return result if isinstance(result, dict) else {"value": result}


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


def dashboard(request: HttpRequest) -> HttpResponse:
    counts = store_counts_by_status(request.user)  # type: ignore[arg-type]  # admin_view: a staff User
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "counts": [(status, counts.get(status, 0)) for status in StoreStatus.values],
        "total": sum(counts.values()),
        "semaphore": _rows(hook_stats("HEALTH_CONCURRENCY_STATS")),
        "breakers": _rows(hook_stats("CIRCUIT_BREAKER_STATS")),
    }
    return TemplateResponse(request, "admin/storeplane_dashboard.html", context)
