"""The API's envelope: request ids in every JSON body, one exception handler that turns every error into
{requestId, error:{code, message, suggestion?, retryable, details?}}, and the contract's timestamp format."""

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.renderers import JSONRenderer
from rest_framework.utils import encoders

from core.errors import PlatformError, dependency_unavailable

logger = logging.getLogger("storeplane.api")

API_PREFIX = "/api/"
VALIDATION_SUGGESTION = "Check the request parameters and try again."
INTERNAL_MESSAGE = "An unexpected error occurred."
INTERNAL_SUGGESTION = "Try again later. If the problem persists, contact support."

# DRF error codes -> the Joi error types the contract's `details[].type` uses.
_DETAIL_TYPES = {
    "required": "any.required",
    "null": "any.required",
    "invalid": "string.base",
    "blank": "string.empty",
    "min_length": "string.min",
    "max_length": "string.max",
    "invalid_choice": "any.only",
    "pattern": "string.pattern.base",
    "reserved": "any.invalid",
    "profanity": "any.custom",
    "forbidden": "any.unknown",
    "not_a_string": "string.base",
    "email": "string.email",
    "max_value": "number.max",
    "min_value": "number.min",
    "integer": "number.base",
}


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with milliseconds and a Z, e.g. 2025-01-31T12:34:56.789Z."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def request_id_of(request: Any) -> str | None:
    inner = getattr(request, "_request", request)
    return getattr(inner, "request_id", None)


class EnvelopeJSONRenderer(JSONRenderer):
    """Puts the request id first in every JSON object the API returns, and encodes with orjson: the standard
    encoder was a tenth of a store list's CPU (bench/api). What orjson does not encode natively (datetimes, which
    DRF writes in its own format, Decimals, lazy strings) goes to DRF's encoder, so the bytes stay what DRF wrote:
    compact, UTF-8, U+2028/U+2029 escaped for JavaScript."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        request = (renderer_context or {}).get("request")
        if isinstance(data, dict) and "requestId" not in data and request is not None:
            data = {"requestId": request_id_of(request), **data}
        if self.get_indent(accepted_media_type or "", renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)  # a human asked for indentation
        body = orjson.dumps(data, default=_drf_default, option=_ORJSON_OPTIONS)
        return body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")


_drf_default = encoders.JSONEncoder().default
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def error_body(request: Any, error: dict[str, Any]) -> dict[str, Any]:
    return {"requestId": request_id_of(request), "error": error}


def error_response(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    *,
    suggestion: str | None = None,
    retryable: bool = False,
    **extra: Any,
) -> JsonResponse:
    """An envelope response for code outside DRF views (middleware, the API's 404 route)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if suggestion:
        error["suggestion"] = suggestion
    error["retryable"] = retryable
    error.update(extra)
    return JsonResponse(error_body(request, error), status=status)


def _flatten(detail: Any, path: list[str]) -> list[tuple[list[str], str, str]]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            sub = path if key in ("non_field_errors", "__all__") else [*path, str(key)]
            out.extend(_flatten(value, sub))
        return out
    if isinstance(detail, list):
        out = []
        for item in detail:
            out.extend(_flatten(item, path))
        return out
    return [(path, str(detail), getattr(detail, "code", "invalid"))]


def validation_details(detail: Any) -> tuple[str, list[dict[str, Any]]]:
    """DRF's error tree -> (message joined with '. ', Joi-style details list)."""
    items = _flatten(detail, [])
    details = []
    messages = []
    for path, message, code in items:
        key = path[-1] if path else None
        details.append(
            {
                "message": message,
                "path": path,
                "type": _DETAIL_TYPES.get(code, code),
                "context": {"label": ".".join(path) or None, "key": key},
            }
        )
        messages.append(message.rstrip("."))
    return ". ".join(messages) + ("." if messages else ""), details


def _drf_error(exc: drf.APIException, request: Any) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, drf.ValidationError):
        message, details = validation_details(exc.detail)
        return 400, {
            "code": "VALIDATION_ERROR",
            "message": message,
            "suggestion": VALIDATION_SUGGESTION,
            "retryable": False,
            "details": details,
        }
    if isinstance(exc, drf.ParseError):
        return 400, {
            "code": "VALIDATION_ERROR",
            "message": "Malformed request body: " + str(exc.detail).split(" - ")[-1].strip(),
            "suggestion": "Send a valid JSON object.",
            "retryable": False,
            "details": [],
        }
    if isinstance(exc, drf.NotAuthenticated):
        return 401, {
            "code": "UNAUTHORIZED",
            "message": "Authentication required. Please provide a valid Bearer token.",
            "retryable": False,
        }
    if isinstance(exc, drf.AuthenticationFailed):
        return 401, {"code": "UNAUTHORIZED", "message": "Invalid or expired token.", "retryable": False}
    if isinstance(exc, drf.PermissionDenied):
        message = str(exc.detail) if exc.detail != drf.PermissionDenied.default_detail else "Access denied."
        return 403, {"code": "FORBIDDEN", "message": message, "retryable": False}
    if isinstance(exc, drf.NotFound):
        return 404, not_found_error(request)
    if isinstance(exc, drf.MethodNotAllowed):
        return 405, {
            "code": "METHOD_NOT_ALLOWED",
            "message": f"Method {request.method} is not allowed on {request.path}.",
            "suggestion": "Check the API documentation for the methods this endpoint accepts.",
            "retryable": False,
        }
    if isinstance(exc, drf.UnsupportedMediaType):
        return 415, {
            "code": "UNSUPPORTED_MEDIA_TYPE",
            "message": "Send the request body as application/json.",
            "retryable": False,
        }
    if isinstance(exc, drf.NotAcceptable):
        return 406, {"code": "NOT_ACCEPTABLE", "message": "This endpoint answers application/json.", "retryable": False}
    if isinstance(exc, drf.Throttled):
        wait = int(exc.wait or 1)
        return 429, {
            "code": "RATE_LIMIT_EXCEEDED",
            "message": "Too many requests. Please slow down.",
            "suggestion": "Wait a moment before retrying.",
            "retryable": True,
            "retryAfterSeconds": wait,
        }
    return exc.status_code, {"code": "ERROR", "message": str(exc.detail), "retryable": False}


def not_found_error(request: Any) -> dict[str, Any]:
    return {
        "code": "NOT_FOUND",
        "message": f"Route {request.method} {request.path} not found.",
        "suggestion": "Check the API documentation for valid endpoints.",
        "retryable": False,
    }


def payload_too_large_error(limit: int) -> dict[str, Any]:
    return {
        "code": "PAYLOAD_TOO_LARGE",
        "message": f"Request body exceeds the {limit // 1024} KB limit.",
        "suggestion": "Send a smaller request body.",
        "retryable": False,
    }


def internal_error() -> dict[str, Any]:
    return {"code": "INTERNAL_ERROR", "message": INTERNAL_MESSAGE, "suggestion": INTERNAL_SUGGESTION, "retryable": True}


def exception_handler(exc: Exception, context: dict[str, Any]):
    """DRF's exception hook: every error leaves as the contract's envelope; unknown ones are logged, not leaked."""
    from django.conf import settings
    from rest_framework.response import Response
    from rest_framework.views import set_rollback  # here: rest_framework.views reads this module at import

    request = context.get("request")
    headers: dict[str, str] = {}
    if isinstance(exc, PlatformError):
        status, error = exc.status_code, exc.to_error()
        if "retryAfterSeconds" in error:
            headers["Retry-After"] = str(error["retryAfterSeconds"])
    elif isinstance(exc, Http404):
        status, error = 404, not_found_error(request)
    elif isinstance(exc, DjangoPermissionDenied):
        status, error = 403, {"code": "FORBIDDEN", "message": "Access denied.", "retryable": False}
    elif isinstance(exc, RequestDataTooBig):
        status, error = 413, payload_too_large_error(settings.MAX_REQUEST_BODY_BYTES)
    elif isinstance(exc, drf.APIException):
        status, error = _drf_error(exc, request)
        if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
        if isinstance(exc, drf.Throttled):
            headers["Retry-After"] = str(error["retryAfterSeconds"])
    elif (unavailable := dependency_unavailable(exc)) is not None:
        logger.warning(
            "%s %s: %s (%s)",
            getattr(request, "method", "?"),
            getattr(request, "path", "?"),
            unavailable.message,
            type(exc).__name__,
        )
        status, error = 503, unavailable.to_error()
        headers["Retry-After"] = str(error["retryAfterSeconds"])
    else:
        logger.exception("Unhandled error in %s %s", getattr(request, "method", "?"), getattr(request, "path", "?"))
        status, error = 500, internal_error()
    set_rollback()
    return Response(error_body(request, error), status=status, headers=headers)
