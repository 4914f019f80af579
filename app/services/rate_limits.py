"""A cluster-wide token bucket in Redis: every worker on every host draws from the same bucket.

One script call takes up to `wanted` tokens atomically and tells how long until the next one, so
a worker asks once per batch, not once per message. The script reads Redis's own clock, so hosts
whose clocks disagree still share one rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

# KEYS[1]: the bucket. ARGV: rate per second, capacity, tokens wanted. Returns {granted, wait_ms}.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate / 1000)
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 60000)
local wait_ms = 0
if granted < wanted then
  wait_ms = math.ceil((1 - (tokens - math.floor(tokens))) * 1000 / rate)
end
return {granted, wait_ms}
"""


@dataclass(frozen=True)
class Grant:
    granted: int
    # How long until the bucket has another token, when fewer than wanted were granted.
    wait_seconds: float


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up (the largest burst)."""

    def __init__(self, redis_client: redis.Redis, name: str, *, rate: float, capacity: float | None = None):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis_client
        self.key = f"ratelimit:{name}"
        self.rate = float(rate)
        # A tenth of a second's worth by default: bursts stay small, so a receiver that enforces
        # the same rate per second never sees more than it allows.
        self.capacity = float(capacity if capacity is not None else max(1.0, rate / 10))
        self._script = redis_client.register_script(_TAKE)

    def take(self, wanted: int) -> Grant:
        """Take up to `wanted` tokens now; raises redis.RedisError when Redis is unreachable."""
        granted, wait_ms = self._script(keys=[self.key], args=[self.rate, self.capacity, int(wanted)])
        return Grant(int(granted), int(wait_ms) / 1000)
