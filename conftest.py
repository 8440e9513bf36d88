"""Fixtures shared by every app's tests: an API client, users of each role, and authenticated clients."""

import pytest
from rest_framework.test import APIClient

from accounts.tests.clients import client_for
from accounts.tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _clean_redis_keys():
    """Each test starts with no rate-limit counters, cooldowns, locks or breakers of earlier tests (this run's
    Redis prefix only: a developer's keys and other runs are never touched)."""
    yield
    from django.conf import settings

    from core.redis import get_redis

    client = get_redis()
    prefix = settings.REDIS_KEY_PREFIX
    for pattern in (f"{prefix}:*", f"*{prefix}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def tenant(db):
    return UserFactory()


@pytest.fixture
def other_tenant(db):
    return UserFactory()


@pytest.fixture
def admin_user(db):
    return UserFactory(admin=True)


@pytest.fixture
def tenant_api(tenant) -> APIClient:
    return client_for(tenant)


@pytest.fixture
def other_api(other_tenant) -> APIClient:
    return client_for(other_tenant)


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    return client_for(admin_user)
