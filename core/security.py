"""Who is calling and how often: the client IP (core.net) for axes, the Redis-backed rate limits (global API,
login, register) with their RateLimit-* headers, and the errors the envelope renders when a limit or lockout bites.
axes' lockout answer reads the lockout's remaining time, so it lives with the lockout in accounts.lockout."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

from core.api import API_PREFIX, error_response
from core.errors import PlatformError
from core.net import client_ip

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------------
# Client IP
# ---------------------------------------------------------------------------------------------------------------


def axes_client_ip(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE: lockouts are keyed by the same client IP as the rate limits."""
    return client_ip(request)


# ---------------------------------------------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """One limiter's state after a check: what the RateLimit-* headers and retryAfterSeconds report."""

    limit: int
    count: int
    window_seconds: int
    reset_seconds: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f"{self.limit};w={self.window_seconds}",
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


def window_seconds(rate: str) -> int:
    from django_ratelimit.core import _split_rate

    return _split_rate(rate)[1]


def _usage(request: HttpRequest, *, group: str, key: str, rate: str | None, increment: bool) -> Usage | None:
    if not rate:
        return None
    try:
        raw = get_usage(request, group=group, key=lambda _g, _r: key, rate=rate, increment=increment)
    except Exception as exc:  # noqa: BLE001  (fail open, as the global limit: the lockout in the database holds)
        logger.warning("%s rate limit skipped: Redis unavailable (%s)", group, type(exc).__name__)
        return None
    if raw is None:
        return None
    window = window_seconds(rate)
    reset = raw["time_left"] if raw["time_left"] > 0 else window
    return Usage(limit=raw["limit"], count=raw["count"], window_seconds=window, reset_seconds=reset)


def remember_headers(request: HttpRequest, usage: Usage | None) -> None:
    """The most specific limiter checked last wins the RateLimit-* headers of the response (as the original's
    login/register limiters overwrite the global one's)."""
    if usage is not None:
        inner = getattr(request, "_request", request)
        inner.rate_limit_headers = usage.headers()  # type: ignore[attr-defined]


def _login_key(request: HttpRequest, email: str) -> str:
    return f"{client_ip(request)}:{(email or '').strip().lower()}"


def login_usage(request: HttpRequest, email: str, *, increment: bool = False) -> Usage | None:
    """LOGIN_RATE_LIMIT per client IP + email. Only failures are counted (increment=True after a failure)."""
    return _usage(
        request, group="login", key=_login_key(request, email), rate=settings.LOGIN_RATE_LIMIT, increment=increment
    )


def register_usage(request: HttpRequest) -> Usage | None:
    """REGISTER_RATE_LIMIT per client IP; every attempt counts, valid or not (as the original)."""
    return _usage(request, group="register", key=client_ip(request), rate=settings.REGISTER_RATE_LIMIT, increment=True)


def api_usage(request: HttpRequest) -> Usage | None:
    """The global limit runs on every API request, so it costs one pipelined Redis round trip (INCR + EXPIRE NX)
    instead of django-ratelimit's three (ADD, EXISTS, INCR); same fixed windows, same per-key jitter."""
    rate = settings.API_RATE_LIMIT
    if not rate:
        return None
    from django_ratelimit.core import _get_window, _split_rate

    from core.redis import get_redis, key

    limit, period = _split_rate(rate)
    value = client_ip(request)
    window_end = _get_window(value, period)
    digest = hashlib.sha256(f"{rate}|{value}|{window_end}".encode()).hexdigest()[:32]
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(key("rl", "api", digest))
    pipe.expire(key("rl", "api", digest), period + 1, nx=True)
    try:
        count, _ = pipe.execute()
    except Exception:  # noqa: BLE001
        # Fail open: a limiter must never turn an API call into a 500 (the login and registration limits and the
        # lockout in the database still hold). Seen as redis-py errors of every kind (RedisError, ValueError,
        # AttributeError on a torn-down connection) while gunicorn recycles a worker with requests in flight.
        logger.warning("API rate limit skipped: Redis unavailable", exc_info=True)
        return None
    reset = window_end - int(time.time())
    return Usage(limit=limit, count=int(count), window_seconds=period, reset_seconds=reset if reset > 0 else period)


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


# ---------------------------------------------------------------------------------------------------------------
# Errors the envelope renders
# ---------------------------------------------------------------------------------------------------------------


class RateLimited(PlatformError):
    status_code = 429
    code = "RATE_LIMIT_EXCEEDED"
    default_message = "Too many requests. Please slow down."
    suggestion = "Wait a moment before retrying."
    retryable = True

    def __init__(self, message: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, extra={"retryAfterSeconds": max(1, int(retry_after))}, **kwargs)


class LoginRateLimited(RateLimited):
    code = "LOGIN_RATE_LIMITED"
    suggestion = "Wait before retrying. If you forgot your password, use the reset flow."

    def __init__(self, *, retry_after: int, window_seconds: int) -> None:
        super().__init__(
            f"Too many login attempts. Try again in {minutes(window_seconds)} minutes.", retry_after=retry_after
        )


class RegistrationRateLimited(RateLimited):
    code = "REGISTRATION_RATE_LIMITED"
    default_message = "Too many registration attempts. Try again later."
    suggestion = "Wait an hour before creating another account from this network."


class AccountLocked(PlatformError):
    status_code = 423
    code = "ACCOUNT_LOCKED"
    suggestion = "Wait for the lockout to expire, or reset your password."
    retryable = True

    def __init__(self, *, retry_after: int) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            f"Account temporarily locked due to too many failed attempts. Try again in {minutes(retry_after)} minutes.",
            extra={"retryAfterSeconds": retry_after},
        )


def platform_error_response(request: HttpRequest, exc: PlatformError) -> HttpResponse:
    """A PlatformError rendered outside DRF (middleware, axes' lockout hook), same envelope as the API's."""
    error = exc.to_error()
    extra = {k: v for k, v in error.items() if k not in ("code", "message", "suggestion", "retryable")}
    response = error_response(
        request,
        exc.status_code,
        error["code"],
        error["message"],
        suggestion=error.get("suggestion"),
        retryable=error["retryable"],
        **extra,
    )
    if "retryAfterSeconds" in error:
        response["Retry-After"] = str(error["retryAfterSeconds"])
    return response


# ---------------------------------------------------------------------------------------------------------------
# Middleware
# ---------------------------------------------------------------------------------------------------------------


def _exempt(path: str) -> bool:
    return any(path.startswith(p) for p in settings.API_RATE_LIMIT_EXEMPT_PATHS)


class ApiRateLimitMiddleware:
    """API_RATE_LIMIT per client IP on /api/ (health probes and metrics scrapes exempt, see settings); answers 429
    RATE_LIMIT_EXCEEDED in the envelope, and writes the RateLimit-* headers of whichever limiter spoke last."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX) and not _exempt(request.path):
            usage = api_usage(request)
            remember_headers(request, usage)
            if usage is not None and usage.exceeded:
                response = platform_error_response(request, RateLimited(retry_after=usage.reset_seconds))
                for name, value in usage.headers().items():
                    response[name] = value
                return response
        response = self.get_response(request)
        for name, value in (getattr(request, "rate_limit_headers", None) or {}).items():
            response[name] = value
        return response


def axes_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: the lower-cased email the login was tried with (authenticate() gets it as
    `username`; a page form may post it as `email`)."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email")
    if value is None and request is not None:
        value = request.POST.get("email") or request.POST.get("username")
    return str(value).strip().lower() if value else None


def openapi_rate_limit_responses(result: dict, generator=None, request=None, public=None) -> dict:
    """drf-spectacular postprocessing hook: every /api/ operation the global limit covers documents its 429 (in the
    envelope) and the RateLimit-* headers, so generated clients and the fuzzer expect them."""
    exempt = tuple(settings.API_RATE_LIMIT_EXEMPT_PATHS)
    headers = {
        name: {"schema": {"type": "integer"}, "description": text}
        for name, text in (
            ("RateLimit-Limit", "Requests allowed in the window."),
            ("RateLimit-Remaining", "Requests left in the window."),
            ("RateLimit-Reset", "Seconds until the window resets."),
        )
    }
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith(API_PREFIX) or path.startswith(exempt):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].setdefault(
                "429", {"description": "Too many requests (RATE_LIMIT_EXCEEDED).", "content": envelope}
            )
            operation["responses"]["429"].setdefault("headers", {}).update(headers)
    return result
