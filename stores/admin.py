"""Stores in the operator console: a read-only list and detail (secrets never shown), and the operator actions
(retry, mark failed, force delete, re-run reconcile), each behind a confirmation page and each done by a service in
stores.services, exactly as the API and the pages do."""

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.timesince import timesince

from audit.models import AuditEvent, EventType
from core.admin import ReadOnlyModelAdmin
from core.crypto import is_unreadable
from core.errors import PlatformError
from core.net import client_ip
from stores import services
from stores.models import Store
from stores.views import store_timeline

CONFIRM_TEMPLATE = "admin/stores/store/confirm_action.html"
HIDDEN_FIELDS = ("secrets", "admin_credentials")


@admin.register(Store)
class StoreAdmin(ReadOnlyModelAdmin):
    """Read-only: stores are created by tenants (the API or the pages), their state moves only through the actions
    below, and a row is history ("force delete" removes the store from the cluster, not the row)."""

    list_display = ("name", "id", "status", "engine", "owner_email", "age", "last_failure")
    list_filter = ("status", "engine", "created_at")
    search_fields = ("id", "name", "namespace", "owner__email")
    list_select_related = ("owner",)
    ordering = ("-created_at",)
    list_per_page = 50
    actions = [
        "retry_stores",
        "mark_failed",
        "force_delete",
        "reconcile",
        "suspend_stores",
        "resume_stores",
        "fleet_upgrade",
    ]
    exclude = HIDDEN_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Store]:
        last_error = AuditEvent.objects.filter(store_id=OuterRef("pk"), event_type=EventType.ERROR).order_by(
            "-created_at"
        )
        return super().get_queryset(request).annotate(last_error=Subquery(last_error.values("message")[:1]))

    def get_readonly_fields(self, request, obj=None):
        own = [f.name for f in self.model._meta.fields if f.name not in HIDDEN_FIELDS]
        return [*own, "credentials_state", "timeline", "audit_link"]

    @admin.display(description="Owner", ordering="owner__email")
    def owner_email(self, obj: Store) -> str:
        return obj.owner.email

    @admin.display(description="Age", ordering="created_at")
    def age(self, obj: Store) -> str:
        return timesince(obj.created_at)

    @admin.display(description="Last failure")
    def last_failure(self, obj: Store) -> str:
        text = obj.failure_reason or getattr(obj, "last_error", None) or ""
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.display(description="Admin credentials")
    def credentials_state(self, obj: Store) -> str:
        if is_unreadable(obj.admin_credentials):
            return "unreadable: no key in CREDENTIALS_ENCRYPTION_KEY decrypts them (restore the old key)"
        return "set (shown to the owner only)" if obj.admin_credentials else "not set"

    @admin.display(description="Timeline")
    def timeline(self, obj: Store) -> str:
        steps = store_timeline(obj)
        if not steps:
            return "—"
        rows = format_html_join(
            "",
            "<li>{} · <strong>{}</strong> {}</li>",
            ((f"{s.at:%Y-%m-%d %H:%M:%S}", s.label, s.detail) for s in steps),
        )
        return format_html("<ol>{}</ol>", rows)

    @admin.display(description="Audit events")
    def audit_link(self, obj: Store) -> str:
        url = reverse("admin:audit_auditevent_changelist") + "?" + urlencode({"store_id": obj.pk})
        return format_html('<a href="{}">All audit events of this store</a>', url)

    # --- operator actions: confirmation page first, then one service call per store --------------------------

    def _confirmed(
        self,
        request: HttpRequest,
        queryset: QuerySet[Store],
        *,
        action: str,
        title: str,
        explanation: str,
        run: Callable[[Store, str], object],
        done: str,
        ask_reason: bool = False,
    ):
        if request.POST.get("confirm") == "yes":
            reason = request.POST.get("reason", "")[:500]
            succeeded, refused = 0, []
            for store in queryset:
                try:
                    run(store, reason)
                    succeeded += 1
                except PlatformError as exc:
                    refused.append(f"{store.name} ({store.id}): {exc.message}")
            if succeeded:
                self.message_user(request, f"{done}: {succeeded} store(s).", messages.SUCCESS)
            for line in refused:
                self.message_user(request, f"Refused — {line}", messages.ERROR)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "explanation": explanation,
            "stores": queryset,
            "action": action,
            "ask_reason": ask_reason,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)

    @admin.action(description="Retry selected failed stores")
    def retry_stores(self, request: HttpRequest, queryset: QuerySet[Store]):
        ip = client_ip(request)
        return self._confirmed(
            request,
            queryset,
            action="retry_stores",
            title="Retry these stores?",
            explanation="Each failed store goes back to requested and a worker provisions it again, with the same "
            "credentials. Stores that are not failed, or have used up their retries, are refused.",
            run=lambda store, _: services.store_retry(store_id=store.id, actor=request.user, ip_address=ip),
            done="Retry started",
        )

    @admin.action(description="Mark selected stuck stores as failed")
    def mark_failed(self, request: HttpRequest, queryset: QuerySet[Store]):
        ip = client_ip(request)
        return self._confirmed(
            request,
            queryset,
            action="mark_failed",
            title="Mark these stores as failed?",
            explanation="Use this when a worker is stuck on a store (requested, provisioning or deleting). The "
            "owner sees your reason and can retry or delete the store.",
            run=lambda store, reason: services.store_operator_mark_failed(
                store_id=store.id, actor=request.user, reason=reason, ip_address=ip
            ),
            done="Marked failed",
            ask_reason=True,
        )

    @admin.action(description="Force delete selected stores")
    def force_delete(self, request: HttpRequest, queryset: QuerySet[Store]):
        ip = client_ip(request)
        return self._confirmed(
            request,
            queryset,
            action="force_delete",
            title="Force delete these stores?",
            explanation="Whatever they are doing, these stores are stopped and a worker removes their release and "
            "namespace. Their data is lost. This cannot be undone.",
            run=lambda store, _: services.store_force_delete(store_id=store.id, actor=request.user, ip_address=ip),
            done="Deletion started",
        )

    @admin.action(description="Re-run reconcile now")
    def reconcile(self, request: HttpRequest, queryset: QuerySet[Store]):
        ip = client_ip(request)
        if request.POST.get("confirm") == "yes":  # one reconcile run for the whole selection
            ids = list(queryset.values_list("pk", flat=True))
            services.stores_request_reconcile(store_ids=ids, actor=request.user, ip_address=ip)
            self.message_user(request, "Reconcile requested; a worker runs it shortly.", messages.SUCCESS)
            return None
        return self._confirmed(
            request,
            queryset,
            action="reconcile",
            title="Run the reconciler now?",
            explanation="The reconciler compares every store with the cluster and repairs what drifted (stuck "
            "states, missing releases). It runs in a worker; the selected stores get a note in their audit trail.",
            run=lambda store, _: None,
            done="Reconcile requested",
        )

    # --- lifecycle: suspend, resume, fleet upgrade (the same services as the API and the pages) ------------------

    @admin.action(description="Suspend selected ready stores")
    def suspend_stores(self, request: HttpRequest, queryset: QuerySet[Store]):
        ip = client_ip(request)
        return self._confirmed(
            request,
            queryset,
            action="suspend_stores",
            title="Suspend these stores?",
            explanation="Each ready store is closed: a worker scales its workloads to zero (volumes kept) and its URL "
            'shows a "store closed" page until it is resumed. Stores that are not ready are refused.',
            run=lambda store, _: services.store_request_suspend(store_id=store.id, actor=request.user, ip_address=ip),
            done="Suspension started",
        )

    @admin.action(description="Resume selected suspended stores")
    def resume_stores(self, request: HttpRequest, queryset: QuerySet[Store]):
        ip = client_ip(request)
        return self._confirmed(
            request,
            queryset,
            action="resume_stores",
            title="Resume these stores?",
            explanation="Each suspended store's workloads start again with the same data; it is ready once served.",
            run=lambda store, _: services.store_request_resume(store_id=store.id, actor=request.user, ip_address=ip),
            done="Resumption started",
        )

    @admin.action(description="Upgrade selected stores to the current chart, in waves")
    def fleet_upgrade(self, request: HttpRequest, queryset: QuerySet[Store]):
        """A worker upgrades the selection oldest first, `wave` stores at a time, each rolled back automatically on
        failure, and stops at the first store that does not upgrade (manage.py upgrade_stores does the same)."""
        if request.POST.get("confirm") == "yes":
            try:
                wave = int(request.POST.get("wave", ""))
                count = services.stores_request_fleet_upgrade(
                    store_ids=list(queryset.values_list("pk", flat=True)),
                    wave=wave,
                    actor=request.user,
                    ip_address=client_ip(request),
                )
            except (ValueError, PlatformError) as exc:
                self.message_user(
                    request, f"Refused — {getattr(exc, 'message', 'the wave size must be a number')}", messages.ERROR
                )
                return None
            self.message_user(
                request,
                f"Fleet upgrade of {count} store(s) in waves of {wave} started; see each store's audit trail.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Upgrade these stores, in waves?",
            "explanation": f"A worker upgrades the ready stores among these to chart "
            f"{', '.join(services.available_chart_versions())}, oldest first, a wave of stores at a time; each one "
            "that does not serve afterwards is rolled back automatically, and the fleet upgrade stops there.",
            "stores": queryset,
            "action": "fleet_upgrade",
            "ask_wave": True,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)
