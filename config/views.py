"""Project-level views: the API root (`GET /`, which sends browsers to the tenant pages), the API's 404 for unknown
routes, and the error pages (403, 404, 500) in the pages' look."""

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, HttpResponseRedirect, JsonResponse
from django.template import loader
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import API_PREFIX, error_body, internal_error, not_found_error

ROOT_BODY = {
    "name": "Multi-Tenant Ecommerce Control Plane",
    "version": "1.0.0",
    "docs": "/api/v1/health",
    "endpoints": {"stores": "/api/v1/stores", "health": "/api/v1/health"},
}


def wants_html(request: HttpRequest) -> bool:
    """A browser (Accept ranks text/html above JSON); curl's */* and API clients keep getting JSON."""
    return request.get_preferred_type(["application/json", "text/html"]) == "text/html"


class RootView(APIView):
    """The contract's `GET /` (CI uses it as a readiness check). A browser lands on the tenant pages instead: the
    dashboard when signed in, otherwise the login page."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def dispatch(self, request, *args, **kwargs):
        if request.method in ("GET", "HEAD") and wants_html(request):
            user = getattr(request, "user", None)
            target = "dashboard" if user is not None and user.is_authenticated else "login"
            response = HttpResponseRedirect(reverse(target))
            patch_vary_headers(response, ["Accept", "Cookie"])
            return response
        response = super().dispatch(request, *args, **kwargs)
        patch_vary_headers(response, ["Accept"])
        return response

    @extend_schema(
        responses={
            200: inline_serializer(
                "Root",
                {
                    "requestId": serializers.CharField(),
                    "name": serializers.CharField(),
                    "version": serializers.CharField(),
                    "docs": serializers.CharField(),
                    "endpoints": serializers.DictField(child=serializers.CharField()),
                },
            )
        },
        tags=["health"],
    )
    def get(self, request: Request) -> Response:
        return Response(dict(ROOT_BODY))


def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    return JsonResponse(error_body(request, not_found_error(request)), status=404)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _page(request: HttpRequest, template: str, status: int, reason: str = "") -> HttpResponse:
    body = loader.render_to_string(template, {"reason": reason}, request=request)
    return HttpResponse(body, status=status)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        error = {"code": "FORBIDDEN", "message": "Access denied.", "retryable": False}
        return JsonResponse(error_body(request, error), status=403)
    reason = str(exception) if exception and str(exception) else ""
    return _page(request, "403.html", 403, reason)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    # Only our own Http404 messages are shown (Django's default ones mention URL patterns).
    reason = exception.args[0] if exception and exception.args and isinstance(exception.args[0], str) else ""
    return _page(request, "404.html", 404, reason if reason.startswith("No ") else "")


def server_error(request: HttpRequest) -> HttpResponse:
    """No request context: the database or the session may be what broke."""
    if _is_api(request):
        return JsonResponse(error_body(request, internal_error()), status=500)
    body = loader.render_to_string("500.html", {"request_id": getattr(request, "request_id", None)})
    return HttpResponse(body, status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """For CSRF_FAILURE_VIEW: Django's own page has inline styles the CSP blocks, and not our look."""
    message = "Your session expired or the form was sent from elsewhere. Go back, reload the page and try again."
    return _page(request, "403.html", 403, message)


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (the admin's). Resolved per request: the hashed
    static name exists only after collectstatic."""
    from django.templatetags.static import static

    return HttpResponsePermanentRedirect(static("favicon.svg"))
