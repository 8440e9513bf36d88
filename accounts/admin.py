"""The console's users: role and active flag editable, the rest read-only; lockout state (django-axes) with an
unlock action. Without axes installed, the lockout column says so and the action refuses politely."""

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.db import DatabaseError, transaction
from django.db.models import Max, QuerySet
from django.http import HttpRequest

from accounts.models import User
from audit.services import security_event
from config.net import client_ip


def axes_enabled() -> bool:
    return apps.is_installed("axes")


def failure_limit() -> int | None:
    limit = getattr(settings, "AXES_FAILURE_LIMIT", 3)
    return limit if isinstance(limit, int) else None  # a callable limit depends on the request: not shown


def lockout_failures(email: str) -> int | None:
    """Failed logins axes holds against this email (database handler), or None when that cannot be known."""
    if not axes_enabled():
        return None
    from axes.models import AccessAttempt

    try:
        with transaction.atomic():  # a savepoint: a missing table must not break the rest of the page's queries
            found = AccessAttempt.objects.filter(username=email).aggregate(n=Max("failures_since_start"))["n"]
    except DatabaseError:
        return None
    return found or 0


def axes_reset(*, username: str) -> int:
    from axes.utils import reset  # imported late: axes may not be installed

    return reset(username=username)


def user_unlock(*, user: User, actor: User, ip_address: str | None = None) -> int:
    """Clears axes' failed attempts for this user's email; returns how many records were removed."""
    removed = axes_reset(username=user.email)
    security_event(
        action="account_unlocked",
        email=actor.email,
        ip_address=ip_address,
        actor=actor,
        unlockedEmail=user.email,
        removedAttempts=removed,
    )
    return removed


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
        if not axes_enabled():
            return "n/a (axes not installed)"
        failures = lockout_failures(obj.email)
        if failures is None:
            return "unknown"
        limit = failure_limit()
        if limit is not None and failures >= limit:
            return f"locked ({failures} failures)"
        return f"{failures} failures" if failures else "—"

    @admin.display(description="Stores")
    def store_count(self, obj: User) -> int:
        return obj.stores.exclude(status="deleted").count()

    @admin.action(description="Unlock selected users (clear failed logins)")
    def unlock(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if not axes_enabled():
            self.message_user(request, "Lockout is not enabled (django-axes is not installed).", messages.WARNING)
            return
        removed = sum(user_unlock(user=u, actor=request.user, ip_address=client_ip(request)) for u in queryset)
        self.message_user(request, f"Unlocked {queryset.count()} user(s); {removed} failure record(s) cleared.")
