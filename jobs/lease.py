"""A Redis lease: one holder at a time, which must renew it before it lapses.

SET NX PX takes a free lease with the holder's random token as its value. Renewing and releasing
compare the token first, in one Lua script, so a holder that stalled past its lease can neither
extend nor delete the lease someone else has taken since.
"""

from __future__ import annotations

import os
import secrets
import socket

import redis

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def new_owner_token() -> str:
    """A token naming this process to people (host, pid) and unique to it (random part)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(8)}"


class RedisLease:
    """A lease on `key` held under `owner`; every method may raise redis.RedisError."""

    def __init__(self, client: redis.Redis, key: str, *, ttl_seconds: float, owner: str | None = None) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl_seconds * 1000)
        self.owner = owner or new_owner_token()
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        return bool(self.client.set(self.key, self.owner, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        """Extend the lease to a full term if this owner still holds it; False if it was lost."""
        return bool(self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]))

    def release(self) -> bool:
        """Give the lease up if this owner still holds it."""
        return bool(self._release(keys=[self.key], args=[self.owner]))

    def holder(self) -> str | None:
        """The token of the current holder, if any."""
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value
