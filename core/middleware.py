"""Middleware that applies to every request: the request id, the body size limit, and the API's last-resort
error envelope (so even a crash outside a DRF view answers JSON without a traceback)."""

import logging
import re
import secrets

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
