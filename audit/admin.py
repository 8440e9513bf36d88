"""The audit log in the console: read-only (no add, change or delete, no actions), filtered by event type, store and
actor."""

from django.contrib import admin

from audit.models import AuditEvent
from core.admin import ReadOnlyModelAdmin


class StoreFilter(admin.SimpleListFilter):
    title = "store"
    parameter_name = "store_id"

    def lookups(self, request, model_admin):
        rows = (
            AuditEvent.objects.exclude(store_id=None)
            .order_by("store_id", "-created_at")
            .distinct("store_id")
            .values_list("store_id", "store_name")[:100]
        )
        return [(store_id, f"{name} ({store_id})") for store_id, name in rows]

    def queryset(self, request, queryset):
        return queryset.filter(store_id=self.value()) if self.value() else queryset


class ActorFilter(admin.SimpleListFilter):
    title = "actor"
    parameter_name = "actor_email"

    def lookups(self, request, model_admin):
        emails = (
            AuditEvent.objects.exclude(actor_email=None)
            .order_by("actor_email")
            .values_list("actor_email", flat=True)
            .distinct()[:100]
        )
        return [(email, email) for email in emails]

    def queryset(self, request, queryset):
        return queryset.filter(actor_email=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "event_type", "store_id", "store_name", "transition", "actor_email", "message")
    list_filter = ("event_type", StoreFilter, ActorFilter)
    search_fields = ("store_id", "store_name", "actor_email", "message", "request_id")
    date_hierarchy = "created_at"
    list_per_page = 100
    actions = None

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.display(description="Status")
    def transition(self, obj: AuditEvent) -> str:
        if obj.previous_status:
            return f"{obj.previous_status} → {obj.new_status or ''}"
        return obj.new_status or ""
