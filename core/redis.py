"""The platform's Redis connection and key naming (every key under settings.REDIS_KEY_PREFIX)."""

import threading

import redis
from django.conf import settings

_client: redis.Redis | None = None
_creating = threading.Lock()


def get_redis() -> redis.Redis:
    """One client per process. Built under a lock: functools.cache let two threads of a gunicorn worker each build
    one, and the loser, dropped at once, closed its pool under the command it was running ("I/O operation on
    closed file" from the rate limiter at start-up)."""
    global _client
    client = _client
    if client is None:
        with _creating:
            if _client is None:
                _client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
                )
            client = _client
    return client


def reset_redis_client() -> None:
    """Tests point the platform at another Redis: the next get_redis() builds a new client."""
    global _client
    with _creating:
        _client = None


def key(*parts: str) -> str:
    return ":".join((settings.REDIS_KEY_PREFIX, *parts))
