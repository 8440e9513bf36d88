"""Shared helpers for the stores API tests."""

import json

from django.conf import settings
from django.db import connection

from core.redis import get_redis


def create(client, **overrides):
    body = {"name": "my-shop", "engine": "woocommerce"}
    body.update(overrides)
    return client.post("/api/v1/stores", body, format="json")


def queued_tasks() -> list[tuple[str, list, str | None]]:
    """(task name, args, request id) of every message waiting in this run's Celery queue in Redis."""
    out = []
    for raw in get_redis().lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1):
        message = json.loads(raw)
        headers = message["headers"]
        args = json.loads(__import__("base64").b64decode(message["body"]))[0]
        out.append((headers["task"], args, headers.get("request_id")))
    return list(reversed(out))


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["requestId"] == response["X-Request-ID"]
    assert body["error"]["code"] == code
    return body["error"]


# A Fernet-looking token no configured key opens: what a row looks like after CREDENTIALS_ENCRYPTION_KEY changed.
UNREADABLE_TOKEN = "gAAAAABencrypted-under-a-key-that-is-gone"  # noqa: S105  (not a secret)


def make_unreadable(store, *columns: str) -> None:
    """Overwrite encrypted columns of the store's row with UNREADABLE_TOKEN, behind the ORM's back."""
    with connection.cursor() as cursor:
        for column in columns:
            cursor.execute(f"UPDATE stores_store SET {column} = %s WHERE id = %s", [UNREADABLE_TOKEN, store.pk])  # noqa: S608


def stored(store) -> tuple:
    """(status, admin_credentials, secrets) exactly as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, admin_credentials, secrets FROM stores_store WHERE id = %s", [store.pk])
        return cursor.fetchone()
