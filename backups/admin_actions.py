"""The store console's "Back up selected stores" action, added to stores' StoreAdmin from here (stores sits below
backups and cannot import it): the same confirmation page as its other actions, then one service call per store."""

from django.contrib import admin
from django.http import HttpRequest

from backups import services
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


if backup_stores not in StoreAdmin.actions:
    StoreAdmin.actions = [*StoreAdmin.actions, backup_stores]
