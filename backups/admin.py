"""Backups in the operator console: read-only (they change only through backups.services); a failed backup shows
its reason, and the store console has the "back up" action (backups.admin_actions)."""

from django.contrib import admin

from backups.models import Backup, Restore
from core.admin import ReadOnlyModelAdmin


@admin.register(Backup)
class BackupAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "store", "engine", "status", "trigger", "size_bytes", "requested_at", "finished_at")
    list_filter = ("status", "engine", "trigger")
    search_fields = ("id", "store__id", "store__name")
    list_select_related = ("store",)
    readonly_fields = [field.name for field in Backup._meta.fields]


@admin.register(Restore)
class RestoreAdmin(ReadOnlyModelAdmin):
    list_display = ("store", "backup", "verified_at", "loaded_at", "created_at")
    list_select_related = ("store", "backup")
    readonly_fields = [field.name for field in Restore._meta.fields]
