"""Circuit breakers per dependency (`helm`, `kubernetes`) whose state lives in Redis, so every worker process and
host shares it: CLOSED -> OPEN after CB_FAILURE_THRESHOLD consecutive infrastructure failures -> HALF_OPEN after
CB_RESET_TIMEOUT_SECONDS, admitting CB_HALF_OPEN_MAX trial calls -> CLOSED on a success, OPEN again on a failure.
Only infrastructure failures count (timeouts, cluster unreachable); a chart or resource the tool refused means the
dependency answered, which counts as a success. Clocks are Redis's own (TIME), so hosts need not agree. A breaker
protects the cluster, it is not a lock: while Redis itself does not answer, calls go through uncounted, and after
Redis restarts empty every breaker is CLOSED."""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError

from core.redis import get_redis, key
from provisioning.errors import CircuitOpen, ProvisioningError

logger = logging.getLogger(__name__)

NAMES = ("helm", "kubernetes")
CLOSED, OPEN, HALF_OPEN, UNKNOWN = "CLOSED", "OPEN", "HALF_OPEN", "UNKNOWN"
# The circuit_breaker_state gauge's values (the same as core.metrics.BREAKER_STATE_VALUES).
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
# A half-open trial whose worker died frees its place after this long (longer than any single command).
TRIAL_TTL_SECONDS = 900

_NOW = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

# KEYS: state hash, trials zset. ARGV: reset_ms, half_open_max, token, trial_ttl_ms.
# Returns {admitted (1 closed, 2 half-open trial, 0 rejected), ms until a trial may run}.
_BEFORE = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'CLOSED'
if state == 'OPEN' then
  local left = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0') + tonumber(ARGV[1]) - now
  if left > 0 then return {0, left} end
  state = 'HALF_OPEN'
  redis.call('HSET', KEYS[1], 'state', state)
  redis.call('DEL', KEYS[2])
end
if state == 'HALF_OPEN' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {0, tonumber(ARGV[1])} end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
  return {2, 0}
end
return {1, 0}
"""
)

# KEYS: state hash, trials zset. ARGV: token, outcome (success|failure|neutral), threshold.
_AFTER = (
    _NOW
    + """
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == 'neutral' then return 0 end
local state = redis.call('HGET', KEYS[1], 'state') or 'CLOSED'
if ARGV[2] == 'success' then
  redis.call('HINCRBY', KEYS[1], 'successes', 1)
  if state == 'HALF_OPEN' then
    redis.call('HSET', KEYS[1], 'state', 'CLOSED', 'failures', 0)
    redis.call('DEL', KEYS[2])
  elseif state == 'CLOSED' then
    redis.call('HSET', KEYS[1], 'failures', 0)
  end
  return 0
end
redis.call('HSET', KEYS[1], 'last_failure', now)
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'HALF_OPEN' or (state == 'CLOSED' and failures >= tonumber(ARGV[3])) then
  redis.call('HSET', KEYS[1], 'state', 'OPEN', 'opened_at', now)
  redis.call('DEL', KEYS[2])
end
return failures
"""
)

# KEYS: state hash. ARGV: reset_ms. Returns {state as a caller would now see it, failures, successes, last_failure}.
_READ = (
    _NOW
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'successes', 'last_failure', 'opened_at')
local state = h[1] or 'CLOSED'
if state == 'OPEN' and tonumber(h[5] or '0') + tonumber(ARGV[1]) <= now then state = 'HALF_OPEN' end
return {state, h[2] or '0', h[3] or '0', h[4] or ''}
"""
)


def _keys(name: str) -> list[str]:
    return [key("breaker", name), key("breaker", name, "trials")]


def _reset_ms() -> int:
    return int(settings.CB_RESET_TIMEOUT_SECONDS * 1000)


def _script(source: str):
    return get_redis().register_script(source)


def before_call(name: str) -> str:
    """Admit a call or raise CircuitOpen; returns the token to pass to after_call."""
    token = uuid.uuid4().hex
    admitted, wait_ms = _script(_BEFORE)(
        keys=_keys(name),
        args=[_reset_ms(), settings.CB_HALF_OPEN_MAX, token, TRIAL_TTL_SECONDS * 1000],
    )
    if int(admitted) == 0:
        raise CircuitOpen(name, int(wait_ms) / 1000)
    return token


def after_call(name: str, token: str, outcome: str) -> None:
    """outcome: success (the dependency answered), failure (it did not) or neutral (our own error)."""
    _script(_AFTER)(keys=_keys(name), args=[token, outcome, settings.CB_FAILURE_THRESHOLD])


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "success"
    if isinstance(error, ProvisioningError):
        if error.infrastructure:
            return "failure"
        if error.code == "COMMAND_FAILED":
            return "success"
    return "neutral"


def _record(name: str, token: str | None, outcome: str) -> None:
    if token is None:
        return
    try:
        after_call(name, token, outcome)
    except RedisError:
        logger.warning("breaker %s: Redis unavailable, outcome not counted", name, extra={"breaker": name})


@contextmanager
def guard(name: str) -> Iterator[None]:
    """Run the block as one call through breaker `name`: rejected with CircuitOpen while it is open; admitted
    uncounted while Redis does not answer (the command's own failure still reaches the caller)."""
    try:
        token: str | None = before_call(name)
    except RedisError:
        logger.warning("breaker %s: Redis unavailable, call admitted", name, extra={"breaker": name})
        token = None
    try:
        yield
    except BaseException as error:
        _record(name, token, outcome_of(error))
        raise
    _record(name, token, "success")


def stats(name: str) -> dict[str, Any]:
    state, failures, successes, last_failure = _script(_READ)(keys=_keys(name)[:1], args=[_reset_ms()])
    state = state.decode() if isinstance(state, bytes) else state
    last = last_failure.decode() if isinstance(last_failure, bytes) else last_failure
    return {
        "name": name,
        "state": state,
        "failureCount": int(failures),
        "successCount": int(successes),
        "failureThreshold": settings.CB_FAILURE_THRESHOLD,
        "resetTimeoutMs": _reset_ms(),
        "lastFailureTime": int(last) if last else None,
    }


def all_stats() -> list[dict[str, Any]]:
    """Every breaker, for /api/v1/health, /api/v1/metrics/json and the circuit_breaker_state metric. Never
    raises: with Redis down each breaker reports state UNKNOWN."""
    out = []
    for name in NAMES:
        try:
            out.append(stats(name))
        except RedisError:
            logger.warning("breaker stats unavailable", extra={"breaker": name}, exc_info=True)
            out.append({**_unknown(name), "state": UNKNOWN})
    return out


def _unknown(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "failureCount": None,
        "successCount": None,
        "failureThreshold": settings.CB_FAILURE_THRESHOLD,
        "resetTimeoutMs": _reset_ms(),
        "lastFailureTime": None,
    }


def state_value(name: str) -> int:
    """0 CLOSED, 1 HALF_OPEN, 2 OPEN, -1 unknown (Redis unavailable): the circuit_breaker_state{name} gauge."""
    try:
        return STATE_VALUES[stats(name)["state"]]
    except RedisError:
        return -1


def reset(name: str) -> None:
    """Back to CLOSED with no counts (an operator action)."""
    get_redis().delete(*_keys(name))
