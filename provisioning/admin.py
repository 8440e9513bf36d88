"""Provisioning runs in the console: read-only (the worker writes them), with redacted argv, durations and errors;
the traceback of an errored run is for operators only and shows here, never to tenants."""

import json

from django.contrib import admin
from django.utils.html import format_html

from core.admin import ReadOnlyModelAdmin
from provisioning.models import ProvisioningRun


@admin.register(ProvisioningRun)
class ProvisioningRunAdmin(ReadOnlyModelAdmin):
    list_display = ("started_at", "store_id", "operation", "step", "status", "attempt", "duration_ms", "short_error")
    list_filter = ("status", "operation", "step")
    search_fields = ("store__id", "store__name", "request_id", "task_id")
    date_hierarchy = "started_at"
    list_select_related = ("store",)
    fields = (
        "store",
        "operation",
        "step",
        "status",
        "attempt",
        "started_at",
        "finished_at",
        "duration_ms",
        "request_id",
        "task_id",
        "commands",
        "error",
        "traceback",
    )
    readonly_fields = fields

    @admin.display(description="error")
    def short_error(self, obj: ProvisioningRun) -> str:
        return (obj.error[:80] + "...") if len(obj.error) > 80 else obj.error

    @admin.display(description="commands (redacted)")
    def commands(self, obj: ProvisioningRun) -> str:
        return format_html("<pre>{}</pre>", "\n".join(" ".join(argv) for argv in obj.argv) or json.dumps(obj.argv))
