"""What every console page of history has in common: the operator reads it, nobody adds, edits or deletes a row."""

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """A model admin with no add, change or delete: its rows are history (audit events, provisioning runs) or move
    only through services (stores, by the admin's actions)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
