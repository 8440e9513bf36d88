"""The store page's backup actions: "Back up now" (one POST), the backup schedule's form, and "Restore…" a backup
into the store (a confirmation page, then a POST), each the same service as the API and the console."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from backups import restore_in_place, selectors, services
from core.errors import PlatformError
from core.net import client_ip
from stores.api.serializers import STORE_ID_RE
from stores.exceptions import StoreAccessDenied, StoreNotFound


def _store_for(request: HttpRequest, store_id: str):
    if not STORE_ID_RE.fullmatch(store_id):
        raise Http404("No store has this id.")
    try:
        return selectors.store_for_backups(request.user, store_id)  # type: ignore[arg-type]
    except StoreNotFound:
        raise Http404("No store has this id.") from None
    except StoreAccessDenied:
        raise PermissionDenied("This store belongs to another account.") from None


@login_required
@require_POST
def store_backup(request: HttpRequest, store_id: str) -> HttpResponse:
    store = _store_for(request, store_id)
    try:
        backup = services.backup_request(store_id=store.id, actor=request.user, ip_address=client_ip(request))  # type: ignore[arg-type]
    except PlatformError as exc:
        messages.error(request, " ".join(filter(None, [exc.message, exc.suggestion])))
    else:
        messages.success(request, f"Backup {backup.id} started.")
    return redirect("store-detail", store_id=store.id)


@login_required
@require_http_methods(["GET", "POST"])
def store_restore(request: HttpRequest, store_id: str, backup_id: str) -> HttpResponse:
    """GET: what a restore replaces, and a confirm button; POST: the restore is requested (confirmed)."""
    store = _store_for(request, store_id)
    context = {
        "store": store,
        "title": f"Restore {store.name} from backup {backup_id}?",
        "question": "The store's current data (orders, products, pages, uploads) is replaced by this backup's. "
        "A backup of the store as it is now is taken first. The store keeps its URL, secrets and admin password, "
        "and is unavailable for a minute or two.",
        "button": "Restore this backup",
        "button_class": "danger",
    }
    if request.method == "POST":
        try:
            restore_in_place.store_restore_request(
                store_id=store.id,
                backup_id=backup_id,
                confirm=True,
                actor=request.user,  # type: ignore[arg-type]
                ip_address=client_ip(request),
            )
        except PlatformError as exc:
            context["error"] = " ".join(filter(None, [exc.message, exc.suggestion]))
            return render(request, "stores/confirm.html", context, status=exc.status_code)
        messages.success(request, f"Restore from backup {backup_id} started; a backup of the store is taken first.")
        return redirect("store-detail", store_id=store.id)
    return render(request, "stores/confirm.html", context)


# The same bounds as the API's schedule (backups.api.serializers.ScheduleSerializer).
SCHEDULE_BOUNDS = {"every_hours": (1, 720, "Every (hours)"), "keep": (1, 100, "Keep")}


@login_required
@require_POST
def store_backup_schedule(request: HttpRequest, store_id: str) -> HttpResponse:
    """The schedule form of the store page: on or off, every N hours, keeping the newest K (as PUT .../schedule)."""
    store = _store_for(request, store_id)
    values: dict[str, int] = {}
    for name, (low, high, label) in SCHEDULE_BOUNDS.items():
        raw = request.POST.get(name, "").strip()
        if not raw.isdigit() or not low <= int(raw) <= high:
            messages.error(request, f"{label} must be a whole number from {low} to {high}; the schedule is unchanged.")
            return redirect("store-detail", store_id=store.id)
        values[name] = int(raw)
    enabled = request.POST.get("enabled") == "on"
    try:
        services.backup_schedule_set(
            store_id=store.id,
            actor=request.user,  # type: ignore[arg-type]
            enabled=enabled,
            ip_address=client_ip(request),
            **values,
        )
    except PlatformError as exc:
        messages.error(request, " ".join(filter(None, [exc.message, exc.suggestion])))
    else:
        what = f"every {values['every_hours']} h, keeping {values['keep']}" if enabled else "off"
        messages.success(request, f"Backup schedule saved: {what}.")
    return redirect("store-detail", store_id=store.id)
