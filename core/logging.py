"""Log context and hygiene: every record carries the request/correlation id (and user id, store id, step) of the work
it belongs to; secrets are scrubbed from every record before any handler writes it; one access line per request."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
user_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("user_id", default=None)
# Set by provisioning code around a store's work, so worker lines say which store and which step they are about.
store_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("store_id", default=None)
step_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("step", default=None)

_CONTEXT = (("request_id", request_id_var), ("user_id", user_id_var), ("store_id", store_id_var), ("step", step_var))


@contextlib.contextmanager
def log_context(*, store_id: str | None = None, step: str | None = None):
    """Every line logged inside carries this store id and step (provisioning wraps each step in it)."""
    tokens = [(var, var.set(value)) for var, value in ((store_id_var, store_id), (step_var, step)) if value]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT:
            if not getattr(record, name, None):
                setattr(record, name, var.get())
        return True


# --- Redaction ---

REDACTED = "[REDACTED]"
# A key is secret when any of these appears in its lower-cased name (passwordHash, x_api_key, refresh_token...).
SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "credential",
    "api_key",
    "apikey",
    "cookie",
    "session",
    "private_key",
    "encryption_key",
    "signing_key",
)
# Attributes every LogRecord has: never treated as user extras.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_CELERY_OPAQUE = frozenset({"args", "kwargs", "return_value"})
_SAFE_KEYS = frozenset({"request_id", "user_id", "store_id", "step", "token_type"})

_PATTERNS = (
    # Authorization header values
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    # JWTs anywhere (header.payload.signature, base64url, header starts with {" -> eyJ)
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    # key=value / "key": "value" pairs whose key looks secret
    (
        re.compile(
            r"(?i)([\"']?[\w-]*(?:password|passwd|secret|token|api[_-]?key|credential)[\w-]*[\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,&;}\]]+)"
        ),
        r"\1" + REDACTED,
    ),
    # URLs with a password (postgres://user:pass@host)
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
)


def is_secret_key(key: Any) -> bool:
    if not isinstance(key, str) or key in _SAFE_KEYS:
        return False
    lowered = key.lower()
    return any(part in lowered for part in SECRET_KEY_PARTS)


# One cheap search decides whether the four substitutions are worth running (most lines contain none of these).
_MAYBE_SECRET = re.compile(r"(?i)bearer|basic|eyJ|passw|secret|token|api[_-]?key|credential|://")


def scrub_text(text: str) -> str:
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(value: Any, _depth: int = 0) -> Any:
    """A copy of value with secret-looking keys masked and secret-looking substrings replaced (bounded depth)."""
    if _depth > 6:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: (REDACTED if is_secret_key(k) else scrub(v, _depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return type(value)(scrub(v, _depth + 1) for v in value) if not isinstance(value, set) else value
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "replace"))
    return value


class RedactingFilter(logging.Filter):
    """Handler filter: renders the message with its args, scrubs it, masks secret extras, and replaces the traceback
    with a scrubbed copy. Runs on every record of every logger that reaches the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if record.args:
                args = record.args
                if isinstance(args, Mapping):
                    record.args = scrub(dict(args))
                else:
                    record.args = tuple(scrub(a) if isinstance(a, str | Mapping | list | tuple) else a for a in args)
            message = record.getMessage()
            record.msg, record.args = scrub_text(message), None
        except Exception:  # a broken format string must not lose the line; the raw text is still scrubbed
            record.msg, record.args = scrub_text(str(record.msg)), None
        for key, value in list(vars(record).items()):
            if key in _RECORD_FIELDS:
                continue
            if is_secret_key(key):
                setattr(record, key, REDACTED)
            elif isinstance(value, str | Mapping | list | tuple | bytes):
                setattr(record, key, scrub(value))
        data = getattr(record, "data", None)
        if record.name.startswith("celery") and isinstance(data, Mapping):
            # Celery logs every task's arguments and return value; which of them is a secret is unknowable here.
            record.data = {k: (REDACTED if k in _CELERY_OPAQUE else v) for k, v in data.items()}
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, scrub_text(text)
        elif record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        return True


# --- One line per request ---

access_logger = logging.getLogger("storeplane.request")


class AccessLogMiddleware:
    """After the response: one `request` line (method, route, status, duration ms, request id, user id) and the
    http_requests_total / http_request_duration_ms samples. Routes are URL patterns, never raw paths."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from core import metrics

        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        route = metrics.observe_request(request, response.status_code, duration_ms)
        if not request.path.startswith(_QUIET_PREFIXES):
            access_logger.info(
                "%s %s %s",
                request.method,
                route,
                response.status_code,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(duration_ms, 2),
                },
            )
        return response


# Probes and scrapes every few seconds would drown the useful lines; they are still counted in the metrics.
_QUIET_PREFIXES = ("/api/v1/health/live", "/api/v1/health/ready", "/metrics", "/static/")


def configure_worker_logging(**_kwargs) -> None:
    """Celery's setup_logging signal: workers use the same JSON handlers and filters as web (settings.LOGGING)."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


class CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted, not the one at configuration time: under pytest
    the lines land in each test's captured output (shown only when it fails) instead of flooding the run."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass
