"""The client's address as the platform records and limits it: one function for audit rows, rate limits and the
lockout, so a row behind a proxy names the same client the limits counted."""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def is_trusted_proxy(value: str) -> bool:
    address = _ip(value)
    if address is None:
        return False
    return any(address in net for net in _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()))))


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, unless the peer is a trusted proxy (TRUSTED_PROXIES): then the right-most X-Forwarded-For hop
    that is not itself a trusted proxy (hops left of it were written by the client and can be forged). Takes a
    Django request or DRF's wrapper of one; cached on the Django request."""
    request = getattr(request, "_request", request)
    cached = getattr(request, "_client_ip", None)
    if cached:
        return cached
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104  (a value, not a bind address)
    ip = remote
    if is_trusted_proxy(remote):
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if _ip(hop) is None:
                break  # garbage in the chain: stop trusting it and keep the last good address
            ip = hop
            if not is_trusted_proxy(hop):
                break
    request._client_ip = ip  # type: ignore[attr-defined]
    return ip
