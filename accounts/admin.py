"""The console's users: role and active flag editable, the rest read-only; lockout state (django-axes) with an
unlock action (accounts.lockout does the work)."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import lockout
from accounts.models import User
from core.net import client_ip

# Access is by role (admin | tenant), not by Django groups: an empty Groups page would only mislead operators.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "username", "role", "is_active", "lockout", "store_count", "created_at", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("email", "username")
    ordering = ("-created_at",)
    fields = ("email", "username", "role", "is_active", "created_at", "last_login", "lockout")
    readonly_fields = ("email", "username", "created_at", "last_login", "lockout")
    actions = ["unlock"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # operators come from createsuperuser / ensure_admin; tenants sign up

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # users own stores and audit rows: deactivate instead

    @admin.display(description="Lockout")
    def lockout(self, obj: User) -> str:
        failures = lockout.failed_logins(obj.email)
        if failures is None:
            return "unknown"
        if failures >= settings.ACCOUNT_LOCKOUT_ATTEMPTS:
            return f"locked ({failures} failures)"
        return f"{failures} failures" if failures else "—"

    @admin.display(description="Stores")
    def store_count(self, obj: User) -> int:
        return obj.stores.exclude(status="deleted").count()

    @admin.action(description="Unlock selected users (clear failed logins)")
    def unlock(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        removed = sum(lockout.user_unlock(user=u, actor=request.user, ip_address=client_ip(request)) for u in queryset)
        self.message_user(request, f"Unlocked {queryset.count()} user(s); {removed} failure record(s) cleared.")
