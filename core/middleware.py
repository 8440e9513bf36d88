"""Middleware that applies to every request: the request id, the body size limit, the API's last-resort error
envelope (so even a crash outside a DRF view answers JSON without a traceback), and the CSP header."""

import logging
import re
import secrets
from functools import cached_property

from csp import middleware as csp_middleware
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from core.api import API_PREFIX, error_body, internal_error, payload_too_large_error
from core.errors import dependency_unavailable
from core.logging import request_id_var, user_id_var

logger = logging.getLogger("storeplane.api")

# An inbound X-Request-ID is kept only if it is this safe (no log injection, bounded length).
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
UNAVAILABLE_PAGE = "storeplane is briefly unavailable (a platform service is restarting). Try again in a few seconds.\n"


def new_request_id() -> str:
    return "req_" + secrets.token_hex(6)


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        inbound = request.headers.get("X-Request-ID", "")
        request.request_id = inbound if REQUEST_ID_RE.fullmatch(inbound) else new_request_id()
        token = request_id_var.set(request.request_id)
        user_token = user_id_var.set(None)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
            user_id_var.reset(user_token)
        response["X-Request-ID"] = request.request_id
        return response


def _json(request: HttpRequest, error: dict, status: int) -> HttpResponse:
    from django.http import JsonResponse

    return JsonResponse(error_body(request, error), status=status)


class BodySizeLimitMiddleware:
    """Refuses a declared body over the limit before anything reads it (413 in the envelope)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.MAX_REQUEST_BODY_BYTES
        if length > limit and request.path.startswith(API_PREFIX):
            return _json(request, payload_too_large_error(limit), 413)
        if length > limit:
            return HttpResponse("Request body too large.", status=413, content_type="text/plain")
        return self.get_response(request)


class ApiErrorMiddleware:
    """Last resort for /api/ paths: an exception that escaped the view becomes a 500 (or 413) envelope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        unavailable = dependency_unavailable(exception)  # the database or Redis is down: 503, not a 500 page
        if unavailable is not None:
            logger.warning("%s %s: %s", request.method, request.path, unavailable.message)
            if request.path.startswith(API_PREFIX):
                response = _json(request, unavailable.to_error(), 503)
            else:
                response = HttpResponse(UNAVAILABLE_PAGE, status=503, content_type="text/plain; charset=utf-8")
            response["Retry-After"] = "5"
            return response
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            return _json(request, payload_too_large_error(settings.MAX_REQUEST_BODY_BYTES), 413)
        logger.exception("Unhandled error in %s %s", request.method, request.path)
        return _json(request, internal_error(), 500)


class CSPMiddleware(csp_middleware.CSPMiddleware):
    """django-csp's middleware with the policy of a plain response (no nonce asked for, no per-view csp decorator)
    built once per process: django-csp builds it again from the settings for every response (a deep copy and a
    dataclass round trip, about a sixth of a health check's CPU in process: bench/api). Any other response goes
    through django-csp as before; the header, its exemptions and excluded prefixes are django-csp's."""

    PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")

    @cached_property
    def _plain(self) -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
        """(header, policy, exemption attribute, excluded prefixes) for the enforced and the report-only policy."""
        found = []
        for header, report_only, exempt, setting in (
            (HEADER, False, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (HEADER_REPORT_ONLY, True, "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            policy = build_policy(report_only=report_only)
            if policy:
                excluded = tuple((getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ())
                found.append((header, policy, exempt, excluded))
        return tuple(found)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if getattr(request, "_csp_nonce", None) is not None or any(hasattr(response, a) for a in self.PER_RESPONSE):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:  # django-csp leaves Django's debug pages alone
            return response
        for header, policy, exempt, excluded in self._plain:
            if (
                header not in response
                and not getattr(response, exempt, False)
                and not request.path_info.startswith(excluded)
            ):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header was written is an error, not a silent no-op.
        request.csp_nonce = csp_middleware.CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore
        return response
