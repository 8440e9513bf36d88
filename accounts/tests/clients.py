"""API clients authenticated as a given user (shared by every app's tests)."""

from rest_framework.test import APIClient


def client_for(user) -> APIClient:
    from accounts.services import tokens_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user).access}")
    return client
