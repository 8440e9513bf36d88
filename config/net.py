"""The client's address as the platform records it (audit rows, limits)."""

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    inner = getattr(request, "_request", request)
    return inner.META.get("REMOTE_ADDR") or None
