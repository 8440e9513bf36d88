"""Brute-force protection shared by the API and the pages: the login rate limit (failures only), the django-axes
lockout keyed by email + client IP, the registration rate limit, and the security events they produce (an audit
row and security_events_total), and axes' own lockout answer (AXES_LOCKOUT_CALLABLE). accounts.services calls
these; views never need to."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from core import metrics
from core.api import API_PREFIX
from core.security import (
    AccountLocked,
    LoginRateLimited,
    RegistrationRateLimited,
    client_ip,
    login_usage,
    platform_error_response,
    register_usage,
    remember_headers,
)

logger = logging.getLogger(__name__)


def _django_request(request: HttpRequest | None) -> HttpRequest | None:
    return getattr(request, "_request", request)


def record_security_event(
    action: str, *, request: HttpRequest | None, email: str | None, actor=None, **metadata
) -> None:
    """One audit row and one increment of security_events_total{event_type=action}. The audit write never breaks
    the login it describes: a failure is logged and the request goes on."""
    from audit.services import security_event

    metrics.security_event_counted(action)
    ip = client_ip(request) if request is not None else None
    try:
        security_event(action=action, email=email, ip_address=ip, actor=actor, **metadata)
    except Exception:
        logger.exception("Could not write the %s security event", action)


# --- lockout (django-axes) ---


def _credentials(email: str) -> dict[str, str]:
    return {"username": (email or "").strip().lower()}


def lockout_remaining_seconds(request: HttpRequest, email: str) -> int:
    """Seconds until the lockout of this email + client IP ends (0 when not locked): the last recorded failure
    plus ACCOUNT_LOCKOUT_MINUTES, minus now."""
    from axes.handlers.proxy import AxesProxyHandler
    from axes.models import AccessAttempt

    request = _django_request(request)
    credentials = _credentials(email)
    if AxesProxyHandler.is_allowed(request, credentials):
        return 0
    last = (
        AccessAttempt.objects.filter(username=credentials["username"], ip_address=client_ip(request))
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    if last is None:
        return 0
    ends = last + timedelta(minutes=int(settings.ACCOUNT_LOCKOUT_MINUTES))
    return max(1, int((ends - timezone.now()).total_seconds() + 0.999))


def axes_lockout_response(request: HttpRequest, response: HttpResponse | None = None, credentials=None, *a, **kw):
    """AXES_LOCKOUT_CALLABLE: a lockout noticed by axes itself (the admin's login form, any authenticate() call)
    answers like the API's: 423 with the time actually remaining."""
    username = (credentials or {}).get("username") if isinstance(credentials, dict) else None
    remaining = lockout_remaining_seconds(request, username or "")
    exc = AccountLocked(retry_after=remaining or int(settings.ACCOUNT_LOCKOUT_MINUTES) * 60)
    if request.path.startswith(API_PREFIX):
        return platform_error_response(request, exc)
    return HttpResponse(exc.message, status=423, content_type="text/plain; charset=utf-8")


def login_guard(request: HttpRequest | None, email: str) -> None:
    """Before checking a password: refuse when this IP + email is over LOGIN_RATE_LIMIT (429) or locked (423)."""
    if request is None:
        return
    request = _django_request(request)
    usage = login_usage(request, email)
    remember_headers(request, usage)
    if usage is not None and usage.count >= usage.limit:
        record_security_event("login_rate_limited", request=request, email=email)
        raise LoginRateLimited(retry_after=usage.reset_seconds, window_seconds=usage.window_seconds)
    remaining = lockout_remaining_seconds(request, email)
    if remaining:
        raise AccountLocked(retry_after=remaining)


def login_failed(request: HttpRequest | None, email: str) -> None:
    """After a wrong password (axes has already recorded it through the user_login_failed signal): count it against
    the rate limit, audit it, and answer 423 at once if it was the failure that locked the account."""
    if request is None:
        return
    request = _django_request(request)
    remember_headers(request, login_usage(request, email, increment=True))
    record_security_event("login_failed", request=request, email=email)
    if getattr(request, "axes_locked_out", False):
        # axes' middleware would answer for us; the service speaks for both API and pages instead.
        request.axes_locked_out = False  # type: ignore[attr-defined]
        record_security_event("account_locked", request=request, email=email)
        raise AccountLocked(retry_after=lockout_remaining_seconds(request, email))


def login_succeeded(request: HttpRequest | None, user) -> None:
    """A correct password clears this IP + email's failures (AXES_RESET_ON_SUCCESS) and is audited."""
    if request is None:
        return
    from axes.handlers.proxy import AxesProxyHandler

    request = _django_request(request)
    AxesProxyHandler.user_logged_in(sender=type(user), request=request, user=user)
    record_security_event("login_success", request=request, email=user.email, actor=user)


# --- registration ---


def registration_guard(request: HttpRequest | None) -> None:
    """Every registration attempt from a client IP counts (valid or not, as the original); over
    REGISTER_RATE_LIMIT it is refused with 429 before anything else is looked at. accounts.services.user_register
    calls it, so every entry point has it; an entry point may call it earlier too (the API does, before parsing,
    so malformed attempts count): one request is counted once."""
    if request is None:
        return
    request = _django_request(request)
    if getattr(request, "_registration_counted", False):
        return
    request._registration_counted = True  # type: ignore[attr-defined]
    usage = register_usage(request)
    remember_headers(request, usage)
    if usage is not None and usage.exceeded:
        record_security_event("registration_rate_limited", request=request, email=None)
        raise RegistrationRateLimited(retry_after=usage.reset_seconds)


def registered(request: HttpRequest | None, user) -> None:
    record_security_event("registration", request=request, email=user.email, actor=user)


# --- the operator's view (the console) ---


def failed_logins(email: str) -> int | None:
    """Failed logins axes holds against this email (its database handler), or None when the table cannot be read."""
    from axes.models import AccessAttempt

    try:
        with transaction.atomic():  # a savepoint: a failed read must not break the rest of the page's queries
            found = AccessAttempt.objects.filter(username=_credentials(email)["username"]).aggregate(
                n=Max("failures_since_start")
            )["n"]
    except DatabaseError:
        return None
    return found or 0


def user_unlock(*, user, actor, ip_address: str | None = None) -> int:
    """Clears axes' failed attempts for this user's email (from every address); returns how many records were
    removed. Audited as a security event with the operator as actor."""
    from axes.utils import reset

    from audit.services import security_event

    removed = reset(username=_credentials(user.email)["username"])
    security_event(
        action="account_unlocked",
        email=actor.email,
        ip_address=ip_address,
        actor=actor,
        unlockedEmail=user.email,
        removedAttempts=removed,
    )
    return removed
