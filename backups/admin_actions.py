"""The store console's "Back up selected stores" and "Restore selected stores from their newest backup" actions,
added to stores' StoreAdmin from here (stores sits below backups and cannot import it): the same confirmation page
as its other actions, then one service call per store."""

from django.contrib import admin
from django.http import HttpRequest

from backups import restore_in_place, services
from backups.models import Backup, BackupStatus
from core.errors import ValidationFailed
from core.net import client_ip
from stores.admin import StoreAdmin


@admin.action(description="Back up selected ready stores")
def backup_stores(modeladmin: StoreAdmin, request: HttpRequest, queryset):
    ip = client_ip(request)
    return modeladmin._confirmed(
        request,
        queryset,
        action="backup_stores",
        title="Back up these stores?",
        explanation="A worker dumps each ready store's database and uploads into the backup storage, with a "
        "manifest written last. Stores that are not ready, or are being backed up already, are refused.",
        run=lambda store, _: services.backup_request(store_id=store.id, actor=request.user, ip_address=ip),  # type: ignore[arg-type]
        done="Backup started",
    )


def _restore_newest(store, request: HttpRequest, ip: str | None):
    """The store's newest backup that can be restored, through the same service as the API and the page (which
    refuses, with its reason, what cannot be restored)."""
    newest = (
        Backup.objects.filter(store=store, status=BackupStatus.SUCCEEDED, removed_at__isnull=True)
        .order_by("-requested_at", "-id")
        .first()
    )
    if newest is None:
        raise ValidationFailed("The store has no succeeded backup still in storage.")
    return restore_in_place.store_restore_request(
        store_id=store.id,
        backup_id=newest.id,
        confirm=True,
        actor=request.user,  # type: ignore[arg-type]
        ip_address=ip,
    )


@admin.action(description="Restore selected ready stores from their newest backup")
def restore_stores(modeladmin: StoreAdmin, request: HttpRequest, queryset):
    ip = client_ip(request)
    return modeladmin._confirmed(
        request,
        queryset,
        action="restore_stores",
        title="Restore these stores from their newest backup?",
        explanation="Each ready store's current data (orders, products, pages, uploads) is replaced by its newest "
        "succeeded backup's, after a backup of the store as it is now; shoppers see a 'briefly closed' page while it "
        "loads. URLs, secrets and admin passwords stay. Stores that are not ready or have no restorable backup are "
        "refused.",
        run=lambda store, _: _restore_newest(store, request, ip),
        done="Restore started",
    )


for _action in (backup_stores, restore_stores):
    if _action not in StoreAdmin.actions:
        StoreAdmin.actions = [*StoreAdmin.actions, _action]
