"""The store page's "Back up now" action: one POST, the same service as the API and the console."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backups import selectors, services
from core.errors import PlatformError
from core.net import client_ip
from stores.api.serializers import STORE_ID_RE
from stores.exceptions import StoreAccessDenied, StoreNotFound


@login_required
@require_POST
def store_backup(request: HttpRequest, store_id: str) -> HttpResponse:
    if not STORE_ID_RE.fullmatch(store_id):
        raise Http404("No store has this id.")
    try:
        store = selectors.store_for_backups(request.user, store_id)  # type: ignore[arg-type]
    except StoreNotFound:
        raise Http404("No store has this id.") from None
    except StoreAccessDenied:
        raise PermissionDenied("This store belongs to another account.") from None
    try:
        backup = services.backup_request(store_id=store.id, actor=request.user, ip_address=client_ip(request))  # type: ignore[arg-type]
    except PlatformError as exc:
        messages.error(request, " ".join(filter(None, [exc.message, exc.suggestion])))
    else:
        messages.success(request, f"Backup {backup.id} started.")
    return redirect("store-detail", store_id=store.id)
