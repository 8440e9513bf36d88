"""The client IP the limits and lockouts key on: X-Forwarded-For counts only behind a trusted proxy."""

import pytest
from django.test import RequestFactory, override_settings

from core.security import client_ip


def ip_of(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


def test_without_trusted_proxies_the_header_is_ignored():
    assert ip_of("203.0.113.5", "1.2.3.4") == "203.0.113.5"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_an_untrusted_peer_cannot_choose_its_address():
    assert ip_of("203.0.113.5", "1.2.3.4") == "203.0.113.5"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("198.51.100.7", "198.51.100.7"),
        # the client prepended a forged hop: the right-most untrusted one is the real client
        ("6.6.6.6, 198.51.100.7", "198.51.100.7"),
        # a chain of our own proxies is skipped
        ("6.6.6.6, 198.51.100.7, 10.1.2.3", "198.51.100.7"),
        # garbage stops the walk at the last good hop
        ("198.51.100.7, not-an-ip", "10.0.0.2"),
        ("", "10.0.0.2"),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_counts(forwarded, expected):
    assert ip_of("10.0.0.2", forwarded) == expected


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8", "::1/128"])
def test_an_ipv6_proxy_can_be_trusted():
    assert ip_of("::1", "198.51.100.8") == "198.51.100.8"


@pytest.mark.django_db
def test_audit_rows_behind_a_trusted_proxy_name_the_client_the_limits_count(tenant_api, settings):
    from audit.models import AuditEvent, EventType

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.STORE_CREATION_COOLDOWN_SECONDS = 0
    response = tenant_api.post(
        "/api/v1/stores",
        {"name": "behind-proxy", "engine": "medusa"},
        format="json",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert response.status_code == 202
    created = AuditEvent.objects.get(event_type=EventType.STORE_CREATED)
    assert created.ip_address == "198.51.100.7"
