"""The tenant's store pages: dashboard, create, a store's page (with its live part for polling), credentials on
demand, delete and retry with a confirmation step. Reads go through stores.selectors, writes through
stores.services, exactly as the API does."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_fsm import can_proceed

from accounts.models import User
from audit.models import AuditEvent, EventType
from core.errors import PlatformError
from core.net import client_ip
from stores import selectors, services
from stores.api.serializers import STORE_ID_RE, admin_credentials_for, credentials_unreadable
from stores.exceptions import StoreAccessDenied, StoreNotFound
from stores.forms import StoreCreateForm
from stores.models import IN_PROGRESS_STATES, LifecycleStatus, Store, StoreStatus

S = StoreStatus
DASHBOARD_LIMIT = 100


class AuthedRequest(HttpRequest):
    """What login_required guarantees: a signed-in platform user."""

    user: User


# --- the step timeline --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineStep:
    at: datetime
    label: str
    detail: str
    state: str  # done | current | failed


_STEP_EVENTS = {
    EventType.STORE_CREATED,
    EventType.STATUS_CHANGE,
    EventType.INFO,
    EventType.HELM_INSTALL,
    EventType.HELM_UNINSTALL,
    EventType.WARNING,
    EventType.ERROR,
    EventType.RECOVERY,
}


_RUN_STATES = {"running": "current", "succeeded": "done", "failed": "failed", "errored": "failed"}


def store_timeline(store: Store, *, limit: int = 200) -> list[TimelineStep]:
    """A store's steps, oldest first: one per provisioning run (step attempt) with its duration and error, read
    through the runs' reverse relation (stores never imports provisioning); before any run exists, from the audit
    events (requested, status changes)."""
    runs = list(store.runs.order_by("started_at", "id")[:limit]) if hasattr(store, "runs") else []
    if runs:
        steps = []
        for run in runs:
            label = f"{run.operation.capitalize()}: {run.step.replace('_', ' ')}"
            if run.attempt:
                label += f" (retry {run.attempt})"
            detail = run.error or (f"{run.duration_ms} ms" if run.duration_ms is not None else "in progress")
            steps.append(TimelineStep(at=run.started_at, label=label, detail=detail, state=_RUN_STATES[run.status]))
        return steps
    events = list(
        AuditEvent.objects.filter(store_id=store.pk, event_type__in=_STEP_EVENTS).order_by("created_at", "id")[:limit]
    )
    steps = []
    for event in events:
        if event.event_type == EventType.STORE_CREATED:
            label = "Requested"
        elif event.event_type == EventType.STATUS_CHANGE and event.new_status:
            label = event.new_status.capitalize()
        elif event.event_type == EventType.ERROR:
            label = "Failed" if event.new_status == S.FAILED else "Error"
        else:
            label = event.event_type.replace("_", " ").capitalize()
        failed = event.event_type == EventType.ERROR or event.new_status == S.FAILED
        steps.append(
            TimelineStep(at=event.created_at, label=label, detail=event.message, state="failed" if failed else "done")
        )
    if steps and store.status in IN_PROGRESS_STATES and steps[-1].state == "done":
        last = steps[-1]
        steps[-1] = TimelineStep(at=last.at, label=last.label, detail=last.detail, state="current")
    return steps


# --- helpers ------------------------------------------------------------------------------------------------------


def _store_for(request: AuthedRequest, store_id: str) -> Store:
    """The store if this user may see it; otherwise the 404 or 403 page (selectors decide, as for the API)."""
    if not STORE_ID_RE.fullmatch(store_id):
        raise Http404("No store has this id.")
    try:
        return selectors.store_get_for_user(request.user, store_id)
    except StoreNotFound:
        raise Http404("No store has this id.") from None
    except StoreAccessDenied:
        raise PermissionDenied("This store belongs to another account.") from None


def _store_context(request: AuthedRequest, store: Store, *, reveal: bool = False) -> dict:
    is_owner = store.owner_id == request.user.pk
    credentials = admin_credentials_for(store, request.user)
    # The owner sees the values only after asking for them (POST); anyone else sees them masked or not at all.
    shown = credentials if (credentials and (reveal or not is_owner)) else None
    events, _ = selectors.store_audit(store, limit=50)
    return {
        "store": store,
        "is_owner": is_owner,
        "credentials": shown,
        "can_reveal": is_owner and credentials is not None and not reveal,
        "credentials_unreadable": credentials_unreadable(store),
        # The state machine answers (no copy of it here): the buttons the services would accept.
        "can_delete": can_proceed(store.request_deletion),
        "can_retry": can_proceed(store.retry),
        "can_suspend": can_proceed(store.request_suspend),
        "can_resume": can_proceed(store.request_resume),
        "can_upgrade": can_proceed(store.request_upgrade),
        "polling": store.status in IN_PROGRESS_STATES,
        "timeline": store_timeline(store),
        "events": events,
        "duration_s": round((store.provisioning_duration_ms or 0) / 1000, 1),
    }


# --- pages --------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request: AuthedRequest) -> HttpResponse:
    stores, total = selectors.store_list(request.user, limit=DASHBOARD_LIMIT)
    counts = selectors.store_counts_by_status(request.user)
    context = {
        "stores": stores,
        "total": total,
        # The page shows each store's precise state, so a lifecycle state (suspended, upgrading...) has its own
        # count when a store is in it: every store is counted once, under the badge its row shows.
        "counts": [(status, counts.get(status, 0)) for status in S.values]
        + [(status, counts[status]) for status in LifecycleStatus.values if counts.get(status)],
        "nav": "dashboard",
    }
    return render(request, "stores/dashboard.html", context)


@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def store_create(request: AuthedRequest) -> HttpResponse:
    form = StoreCreateForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            store = services.store_create(owner=request.user, ip_address=client_ip(request), **form.validated)
        except PlatformError as exc:
            form.add_error(None, " ".join(filter(None, [exc.message, exc.suggestion])))
            status = exc.status_code
        else:
            messages.success(request, f"Store '{store.name}' requested. Provisioning starts in a moment.")
            return redirect("store-detail", store_id=store.id)
    return render(request, "stores/create.html", {"form": form, "nav": "create"}, status=status)


@never_cache
@login_required
@require_GET
def store_detail(request: AuthedRequest, store_id: str) -> HttpResponse:
    store = _store_for(request, store_id)
    return render(request, "stores/detail.html", _store_context(request, store))


@never_cache
@login_required
@require_GET
def store_live(request: AuthedRequest, store_id: str) -> HttpResponse:
    """The live part of the store's page alone, fetched by static/js/store.js every few seconds."""
    store = _store_for(request, store_id)
    return render(request, "stores/_store_body.html", _store_context(request, store))


@never_cache
@login_required
@require_POST
def store_credentials(request: AuthedRequest, store_id: str) -> HttpResponse:
    """The store page with the admin credentials shown: the owner's, on demand (a POST, so never cached or
    prefetched). Anyone else gets the 403 page."""
    store = _store_for(request, store_id)
    if store.owner_id != request.user.pk:
        raise PermissionDenied("Only the store's owner can see its admin credentials.")
    response = render(request, "stores/detail.html", _store_context(request, store, reveal=True))
    response["Cache-Control"] = "no-store"
    return response


def _confirm(request: AuthedRequest, store: Store, *, action, context: dict, done: str) -> HttpResponse:
    if request.method == "POST":
        try:
            action(store_id=store.id, actor=request.user, ip_address=client_ip(request))
        except PlatformError as exc:
            context["error"] = " ".join(filter(None, [exc.message, exc.suggestion]))
            return render(request, "stores/confirm.html", {"store": store, **context}, status=exc.status_code)
        messages.success(request, done)
        return redirect("store-detail", store_id=store.id)
    return render(request, "stores/confirm.html", {"store": store, **context})


@login_required
@require_http_methods(["GET", "POST"])
def store_delete(request: AuthedRequest, store_id: str) -> HttpResponse:
    store = _store_for(request, store_id)
    context = {
        "title": f"Delete {store.name}?",
        "question": "This removes the store's release, namespace and data from the cluster. It cannot be undone.",
        "button": "Yes, delete this store",
        "button_class": "danger",
    }
    return _confirm(request, store, action=services.store_request_deletion, context=context, done="Deletion started.")


@login_required
@require_http_methods(["GET", "POST"])
def store_retry(request: AuthedRequest, store_id: str) -> HttpResponse:
    store = _store_for(request, store_id)
    context = {
        "title": f"Retry {store.name}?",
        "question": "Provisioning starts again with the same settings and admin credentials.",
        "button": "Yes, retry provisioning",
        "button_class": "primary",
    }
    return _confirm(request, store, action=services.store_retry, context=context, done="Retry started.")


# --- lifecycle: suspend, resume, upgrade (each confirmed, each one service call, as the API does) ----------------


@login_required
@require_http_methods(["GET", "POST"])
def store_suspend(request: AuthedRequest, store_id: str) -> HttpResponse:
    store = _store_for(request, store_id)
    context = {
        "title": f"Suspend {store.name}?",
        "question": "The store closes: its pods stop (its data and volumes are kept) and its URL shows a "
        '"store closed" page until you resume it.',
        "button": "Yes, suspend this store",
        "button_class": "primary",
    }
    return _confirm(request, store, action=services.store_request_suspend, context=context, done="Suspension started.")


@login_required
@require_http_methods(["GET", "POST"])
def store_resume(request: AuthedRequest, store_id: str) -> HttpResponse:
    store = _store_for(request, store_id)
    context = {
        "title": f"Resume {store.name}?",
        "question": "The store's pods start again with the same data; it is ready once its URL serves the shop.",
        "button": "Yes, resume this store",
        "button_class": "primary",
    }
    return _confirm(request, store, action=services.store_request_resume, context=context, done="Resumption started.")


@login_required
@require_http_methods(["GET", "POST"])
def store_upgrade(request: AuthedRequest, store_id: str) -> HttpResponse:
    """The upgrade form: the chart version (those the platform ships) and, optionally, an image tag per workload of
    the store's engine; the service validates, and a failed upgrade is rolled back automatically."""
    store = _store_for(request, store_id)
    components = services.UPGRADABLE_COMPONENTS.get(store.engine, ())
    context = {
        "store": store,
        "versions": services.available_chart_versions(),
        "components": [(c, _current_tag(store, c)) for c in components],
    }
    if request.method == "POST":
        values = {
            c: {"image": {"tag": tag}}
            for c in components
            if (tag := request.POST.get(f"tag-{c}", "").strip()) and tag != _current_tag(store, c)
        }
        try:
            services.store_request_upgrade(
                store_id=store.id,
                actor=request.user,
                chart_version=request.POST.get("chart_version") or None,
                values=values,
                ip_address=client_ip(request),
            )
        except PlatformError as exc:
            context["error"] = " ".join(filter(None, [exc.message, exc.suggestion]))
            return render(request, "stores/upgrade.html", context, status=exc.status_code)
        messages.success(request, "Upgrade started. If the store does not serve afterwards, it is rolled back.")
        return redirect("store-detail", store_id=store.id)
    return render(request, "stores/upgrade.html", context)


def _current_tag(store: Store, component: str) -> str:
    """The image tag the tenant set for `component` in an earlier upgrade ("" when it runs the platform's)."""
    return str((((store.chart_values or {}).get(component) or {}).get("image") or {}).get("tag") or "")
