"""Admission control in Redis, shared by every worker process and host: a global FIFO counting semaphore with a
bounded queue and expiring leases (PROVISIONING_MAX_CONCURRENT / _MAX_QUEUE / _QUEUE_TIMEOUT_SECONDS / _LEASE_SECONDS),
and a per-store lock, so two operations never run on one store. A holder renews its lease while it works; a
worker that dies stops renewing and its slot (or lock) frees itself. Clocks are Redis's own (TIME)."""

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from redis.exceptions import LockError, RedisError

from core.redis import get_redis, key
from provisioning.errors import LeaseLost, QueueFull, QueueTimeout, StoreBusy, Superseded

logger = logging.getLogger(__name__)

# A waiter blocks on its wake-up list this long at most between checks (slots also free by lease expiry, which
# sends no wake-up); a waiter that stops polling for WAITER_TTL is presumed dead and leaves the queue.
POLL_SECONDS = 0.5
WAITER_TTL_SECONDS = 10

# Shared Lua: KEYS = holders (zset token -> lease expiry ms), queue (zset token -> ticket), waiters (zset token ->
# heartbeat expiry ms), ops (hash token -> label), stats (hash), seq (counter). ARGV[1] = wake-up key prefix.
_PRELUDE = """
local H, Q, W, OPS, ST, SEQ = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local WAKE = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function wake(max)
  local free = max - redis.call('ZCARD', H)
  if free > 0 then
    for _, tok in ipairs(redis.call('ZRANGE', Q, 0, free - 1)) do
      redis.call('RPUSH', WAKE .. tok, 1)
      redis.call('PEXPIRE', WAKE .. tok, 10000)
    end
  end
end
local function purge(max)
  local dead = redis.call('ZRANGEBYSCORE', H, '-inf', now)
  if #dead > 0 then
    redis.call('ZREM', H, unpack(dead))
    redis.call('HDEL', OPS, unpack(dead))
    redis.call('HINCRBY', ST, 'totalExpired', #dead)
  end
  local gone = redis.call('ZRANGEBYSCORE', W, '-inf', now)
  if #gone > 0 then
    redis.call('ZREM', W, unpack(gone))
    redis.call('ZREM', Q, unpack(gone))
  end
  if #dead > 0 or #gone > 0 then wake(max) end
end
local function take(token, label, lease)
  redis.call('ZADD', H, now + lease, token)
  redis.call('HSET', OPS, token, label)
  redis.call('HINCRBY', ST, 'totalAcquired', 1)
  return 1
end
"""

# ARGV: wake prefix, token, label, lease_ms, max, max_queue, waiter_ttl_ms. Returns 1 acquired, 0 queued, -1 full.
_ACQUIRE = (
    _PRELUDE
    + """
local token, label, lease = ARGV[2], ARGV[3], tonumber(ARGV[4])
local max, max_queue, waiter_ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
purge(max)
if redis.call('ZSCORE', H, token) then
  redis.call('ZADD', H, now + lease, token)
  return 1
end
local active = redis.call('ZCARD', H)
if not redis.call('ZSCORE', Q, token) then
  if active < max and redis.call('ZCARD', Q) == 0 then return take(token, label, lease) end
  if redis.call('ZCARD', Q) >= max_queue then
    redis.call('HINCRBY', ST, 'totalRejected', 1)
    return -1
  end
  redis.call('ZADD', Q, redis.call('INCR', SEQ), token)
  redis.call('ZADD', W, now + waiter_ttl, token)
  return 0
end
redis.call('ZADD', W, now + waiter_ttl, token)
if redis.call('ZRANK', Q, token) < max - active then
  redis.call('ZREM', Q, token)
  redis.call('ZREM', W, token)
  return take(token, label, lease)
end
return 0
"""
)

# ARGV: wake prefix, token, max. Frees the slot (or the queue place); idempotent. Returns 1 if a slot was held.
_RELEASE = (
    _PRELUDE
    + """
local held = redis.call('ZREM', H, ARGV[2])
redis.call('HDEL', OPS, ARGV[2])
redis.call('ZREM', Q, ARGV[2])
redis.call('ZREM', W, ARGV[2])
purge(tonumber(ARGV[3]))
wake(tonumber(ARGV[3]))
return held
"""
)

# ARGV: wake prefix, token, max. A waiter gives up: 1 if it had in fact been granted a slot meanwhile.
_ABANDON = (
    _PRELUDE
    + """
if redis.call('ZSCORE', H, ARGV[2]) then return 1 end
if redis.call('ZREM', Q, ARGV[2]) == 1 then redis.call('HINCRBY', ST, 'totalTimedOut', 1) end
redis.call('ZREM', W, ARGV[2])
wake(tonumber(ARGV[3]))
return 0
"""
)

# ARGV: wake prefix, token, lease_ms. 1 if the lease was still held (and is extended), 0 if it was lost.
_RENEW = (
    _PRELUDE
    + """
local score = redis.call('ZSCORE', H, ARGV[2])
if score and tonumber(score) > now then
  redis.call('ZADD', H, now + tonumber(ARGV[3]), ARGV[2])
  return 1
end
return 0
"""
)

# ARGV: wake prefix, max. Returns {active, queued, stats hash as a flat list, labels of holders}.
_STATS = (
    _PRELUDE
    + """
purge(tonumber(ARGV[2]))
return {redis.call('ZCARD', H), redis.call('ZCARD', Q), redis.call('HGETALL', ST), redis.call('HVALS', OPS)}
"""
)


class _Renewer(threading.Thread):
    """Calls `renew` every `interval` seconds until stopped; sets `lost` when renewal says the lease is gone."""

    def __init__(self, renew: Callable[[], bool], interval: float, what: str) -> None:
        super().__init__(daemon=True, name=f"renew-{what}")
        self._renew, self._interval, self._what = renew, interval, what
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self._interval):
            try:
                if not self._renew():
                    self.lost.set()
                    logger.error("lease lost", extra={"lease": self._what})
                    return
            except Exception:  # Redis briefly unavailable: try again next interval; the lease may still hold
                logger.warning("lease renewal failed", extra={"lease": self._what}, exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=5)


@dataclass
class Lease:
    """A held semaphore slot."""

    semaphore: "Semaphore"
    token: str
    label: str
    waited: float  # seconds spent queued
    _renewer: _Renewer | None = field(default=None, repr=False)

    def renew(self) -> bool:
        return self.semaphore.renew(self.token)

    released: bool = False

    def release(self) -> bool:
        if self._renewer:
            self._renewer.stop()
        self.released = True
        return self.semaphore.release(self.token)

    @property
    def lost(self) -> bool:
        return bool(self._renewer and self._renewer.lost.is_set())

    def check(self) -> None:
        """Raise LeaseLost if the slot expired under us (call between steps of long work). Asks Redis, not only
        the renewer: a lease that expired since the last renewal is lost now, not at the next one. A slot that is
        free again (Redis restarted empty) is taken back, within the limit, like any other acquire."""
        if (self.lost or not self.renew()) and not self._retake():
            raise LeaseLost("The provisioning slot lease expired while the operation ran.")

    def _retake(self) -> bool:
        s = self.semaphore
        lease_ms = int(s.lease_seconds * 1000)
        args = [self.token, self.label, lease_ms, s.max_concurrent, s.max_queue, WAITER_TTL_SECONDS * 1000]
        outcome = int(s._call(_ACQUIRE, *args))
        if outcome == 0:  # queued behind others: give the place back, the slot is theirs
            outcome = int(s._call(_ABANDON, self.token, s.max_concurrent))
        if outcome != 1:
            return False
        logger.warning("provisioning slot taken back after Redis lost it", extra={"lease": self.label})
        if self._renewer is not None:
            self._renewer.stop()
        self._renewer = _Renewer(self.renew, s.lease_seconds / 3, f"sem:{s.name}:{self.label}")
        self._renewer.start()
        return True


class Semaphore:
    """A counting semaphore named `name` in Redis. Numbers default to settings, read at each call."""

    def __init__(
        self,
        name: str = "provisioning",
        *,
        max_concurrent: int | None = None,
        max_queue: int | None = None,
        queue_timeout: float | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        self.name = name
        self._max_concurrent = max_concurrent
        self._max_queue = max_queue
        self._queue_timeout = queue_timeout
        self._lease_seconds = lease_seconds

    @property
    def max_concurrent(self) -> int:
        return self._max_concurrent or settings.PROVISIONING_MAX_CONCURRENT

    @property
    def max_queue(self) -> int:
        return self._max_queue if self._max_queue is not None else settings.PROVISIONING_MAX_QUEUE

    @property
    def queue_timeout(self) -> float:
        return self._queue_timeout if self._queue_timeout is not None else settings.PROVISIONING_QUEUE_TIMEOUT_SECONDS

    @property
    def lease_seconds(self) -> float:
        return self._lease_seconds or settings.PROVISIONING_LEASE_SECONDS

    def _keys(self) -> list[str]:
        return [key("sem", self.name, part) for part in ("holders", "queue", "waiters", "ops", "stats", "seq")]

    def _wake_prefix(self) -> str:
        return key("sem", self.name, "wake") + ":"

    def _call(self, source: str, *args: Any) -> Any:
        return get_redis().register_script(source)(keys=self._keys(), args=[self._wake_prefix(), *args])

    def acquire(self, label: str = "", timeout: float | None = None) -> Lease:
        """Take a slot, waiting in FIFO order; QueueFull at once if the queue is full, QueueTimeout after
        `timeout` (default PROVISIONING_QUEUE_TIMEOUT_SECONDS). The lease expires unless renewed."""
        token = uuid.uuid4().hex
        timeout = self.queue_timeout if timeout is None else timeout
        lease_ms = int(self.lease_seconds * 1000)
        started = time.monotonic()
        deadline = started + timeout
        client = get_redis()
        wake_key = self._wake_prefix() + token
        args = [token, label, lease_ms, self.max_concurrent, self.max_queue, WAITER_TTL_SECONDS * 1000]
        while True:
            outcome = int(self._call(_ACQUIRE, *args))
            if outcome == 1:
                client.delete(wake_key)
                return Lease(self, token, label, waited=time.monotonic() - started)
            if outcome == -1:
                raise QueueFull(
                    f"The provisioning queue is full ({self.max_queue} waiting, {self.max_concurrent} running)."
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if int(self._call(_ABANDON, token, self.max_concurrent)) == 1:
                    client.delete(wake_key)
                    return Lease(self, token, label, waited=time.monotonic() - started)
                client.delete(wake_key)
                raise QueueTimeout(f"Timed out after {timeout:g}s waiting for a provisioning slot.")
            # BLPOP's timeout is whole-ish seconds in old servers; Redis >= 6 takes a float.
            client.blpop([wake_key], timeout=max(0.01, min(POLL_SECONDS, remaining)))

    def release(self, token: str) -> bool:
        """Free the slot (idempotent); True if it was still held."""
        return int(self._call(_RELEASE, token, self.max_concurrent)) == 1

    def renew(self, token: str) -> bool:
        """Extend the lease by lease_seconds; False if it had already expired (the slot may be someone else's)."""
        return int(self._call(_RENEW, token, int(self.lease_seconds * 1000))) == 1

    @contextmanager
    def slot(self, label: str = "", timeout: float | None = None) -> Iterator[Lease]:
        """Hold a slot for the block, renewing its lease in the background; released on exit, whatever happens."""
        lease = self.acquire(label, timeout)
        lease._renewer = _Renewer(lease.renew, self.lease_seconds / 3, f"sem:{self.name}:{label}")
        lease._renewer.start()
        try:
            yield lease
        finally:
            lease.release()

    def stats(self) -> dict[str, Any]:
        active, queued, counters, labels = self._call(_STATS, self.max_concurrent)
        totals = {counters[i].decode(): int(counters[i + 1]) for i in range(0, len(counters), 2)}
        return {
            "active": int(active),
            "queued": int(queued),
            "maxConcurrent": self.max_concurrent,
            "maxQueueSize": self.max_queue,
            "totalAcquired": totals.get("totalAcquired", 0),
            "totalRejected": totals.get("totalRejected", 0),
            "totalTimedOut": totals.get("totalTimedOut", 0),
            # Operations holding a slot or waiting for one (the original's per-process guard counted both).
            "activeOperations": int(active) + int(queued),
        }


def provisioning_semaphore() -> Semaphore:
    return Semaphore("provisioning")


def stats() -> dict[str, Any]:
    """The `concurrency` block of /api/v1/health and the console's semaphore table (read by config.readings).
    Never raises: with Redis down the health report must still render (and says so in its redis check)."""
    semaphore = provisioning_semaphore()
    try:
        return semaphore.stats()
    except RedisError:
        logger.warning("semaphore stats unavailable", exc_info=True)
        return {
            "active": None,
            "queued": None,
            "maxConcurrent": semaphore.max_concurrent,
            "maxQueueSize": semaphore.max_queue,
            "totalAcquired": None,
            "totalRejected": None,
            "totalTimedOut": None,
            "activeOperations": None,
            "error": "Redis unavailable",
        }


# --- per-store lock -----------------------------------------------------------------------------------------


@dataclass
class StoreLock:
    """A held per-store lock (redis-py's Lock: a random token, checked by Lua on extend and release)."""

    store_id: str
    _lock: Any
    _renewer: _Renewer | None = field(default=None, repr=False)

    def renew(self) -> bool:
        try:
            return bool(self._lock.reacquire())
        except LockError:
            return False

    def release(self) -> bool:
        """Release if still ours; False (and nothing deleted) if it expired and maybe belongs to someone else."""
        if self._renewer:
            self._renewer.stop()
        try:
            self._lock.release()
            return True
        except LockError:
            logger.warning("store lock was no longer held at release", extra={"store_id": self.store_id})
            return False

    @property
    def lost(self) -> bool:
        return bool(self._renewer and self._renewer.lost.is_set())

    def check(self) -> None:
        """Raise LeaseLost unless Redis still holds our token for the store's lock, or the lock is free and ours
        again (Redis restarted empty and nobody took it since: SET NX with our token). The chain's status check in
        the database still decides whether the store is its own."""
        if (self.lost or not self._lock.owned()) and not self._retake():
            raise LeaseLost(f"The lock on store {self.store_id} expired while the operation ran.")

    def _retake(self) -> bool:
        token = self._lock.local.token
        if token is None or not self._lock.do_acquire(token):
            return False
        logger.warning("store lock taken back after Redis lost it", extra={"store_id": self.store_id})
        if self._renewer is not None:
            self._renewer.stop()
            self._renewer = _Renewer(self.renew, float(self._lock.timeout) / 3, f"store:{self.store_id}")
            self._renewer.start()
        return True


def store_lock_key(store_id: str) -> str:
    return key("lock", "store", str(store_id))


def acquire_store_lock(store_id: str, ttl: float | None = None, wait: float = 0) -> StoreLock:
    """Take the store's lock or raise StoreBusy: at once by default, or after waiting up to `wait` seconds (a
    deletion waits for a create chain it superseded to let go, which it does within a poll of the runner)."""
    ttl = ttl or settings.STORE_LOCK_TTL_SECONDS
    lock = get_redis().lock(
        store_lock_key(store_id), timeout=ttl, blocking=wait > 0, blocking_timeout=wait or None, thread_local=False
    )
    if not lock.acquire():
        raise StoreBusy(f"Another operation is already running on store {store_id}.")
    return StoreLock(str(store_id), lock)


def is_store_locked(store_id: str) -> bool:
    return bool(get_redis().exists(store_lock_key(store_id)))


@contextmanager
def store_lock(store_id: str, ttl: float | None = None, renew: bool = True, wait: float = 0) -> Iterator[StoreLock]:
    """Hold the store's lock for the block, renewed every ttl/3 while it runs, released (token-checked) on exit."""
    held = acquire_store_lock(store_id, ttl, wait)
    if renew:
        held._renewer = _Renewer(held.renew, (ttl or settings.STORE_LOCK_TTL_SECONDS) / 3, f"store:{store_id}")
        held._renewer.start()
    try:
        yield held
    finally:
        held.release()


# --- ownership of a running chain ---------------------------------------------------------------------------


@dataclass
class Ownership:
    """What a running chain holds on its store (STYLE habit 16): the status it expects the store to have, the
    store's lock, and (once it has one) its slot lease. `check()` runs before each step and while a command runs;
    when the store moved on (an operator force-deleted it) or the lock or lease is no longer ours, it raises
    Superseded, and the chain stops without touching the store."""

    store_id: str
    expected: str
    lock: StoreLock
    lease: Lease | None = None

    def check(self) -> None:
        from stores.models import Store

        try:
            self.lock.check()
            if self.lease is not None and not self.lease.released:  # after the slot, only the lock is needed
                self.lease.check()
        except LeaseLost as lost:
            raise Superseded(lost.message) from lost
        status = Store.objects.filter(pk=self.store_id).values_list("status", flat=True).first()
        if status != self.expected:
            raise Superseded(f"The store is now {status or 'gone'}; this {self.expected} chain no longer owns it.")
