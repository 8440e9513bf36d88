"""Creation guardrails kept in Redis: the per-user creation cooldown and Idempotency-Key replays."""

import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError

from core.redis import get_redis, key

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
PENDING = "pending"
logger = logging.getLogger(__name__)


def cooldown_remaining(user_id: str) -> int:
    """Seconds left in the user's creation cooldown (0 when none, or when Redis does not answer: the caller's
    check in the database still holds then)."""
    try:
        ttl = get_redis().ttl(key("cooldown", str(user_id)))
    except RedisError:
        logger.warning("creation cooldown unknown: Redis unavailable; the database check applies")
        return 0
    return max(int(ttl), 0)


def start_cooldown(user_id: str) -> None:
    seconds = settings.STORE_CREATION_COOLDOWN_SECONDS
    if seconds > 0:
        try:
            get_redis().set(key("cooldown", str(user_id)), "1", ex=seconds)
        except RedisError:  # after the commit: the store exists, and the database check stands in for the key
            logger.warning("creation cooldown not recorded: Redis unavailable")


def request_fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _idem_key(user_id: str, idem_key: str) -> str:
    return key("idem", str(user_id), hashlib.sha256(idem_key.encode()).hexdigest())


def idempotency_begin(user_id: str, idem_key: str, fingerprint: str) -> dict | None:
    """Claims the key. Returns None when this request is the first; otherwise the stored record
    ({state: pending} or {state: done, fingerprint, status, body})."""
    record = json.dumps({"state": PENDING, "fingerprint": fingerprint})
    if get_redis().set(_idem_key(user_id, idem_key), record, nx=True, ex=IDEMPOTENCY_TTL_SECONDS):
        return None
    raw = get_redis().get(_idem_key(user_id, idem_key))
    return json.loads(raw) if raw else {"state": PENDING, "fingerprint": fingerprint}


def idempotency_finish(user_id: str, idem_key: str, fingerprint: str, status: int, body: dict) -> None:
    record = {"state": "done", "fingerprint": fingerprint, "status": status, "body": body}
    get_redis().set(_idem_key(user_id, idem_key), json.dumps(record), ex=IDEMPOTENCY_TTL_SECONDS)


def idempotency_abandon(user_id: str, idem_key: str) -> None:
    """The first request was refused: the key is free again, so a corrected retry can use it."""
    get_redis().delete(_idem_key(user_id, idem_key))
