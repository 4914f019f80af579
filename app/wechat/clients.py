"""wechatpy clients whose access token comes from stable_token, shared through Redis."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
import requests
from wechatpy import WeChatClient

from app.wechat.errors import WeChatAPIError, WeChatBadResponse
from app.wechat.transport import make_http_session

logger = logging.getLogger(__name__)

STABLE_TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/stable_token"
# Refresh a little before WeChat's own expiry so no call carries a token that dies in flight.
EXPIRY_MARGIN_SECONDS = 60

_DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class StableTokenClient(WeChatClient):
    """A wechatpy client for one app id.

    The token comes from `stable_token` in normal mode, which hands every caller the same token
    while it is valid, so processes cannot invalidate each other's token. It is cached in Redis
    for all processes and fetched under a Redis lock so a cold cache costs one call, not one per
    process. wechatpy's own `auto_retry` is off: it recurses without bound on 40001 (#629).
    """

    def __init__(self, appid: str, secret: str, *, redis_client: redis.Redis, api_base: str, timeout: float):
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self._http = make_http_session(api_base, timeout)
        self._redis = redis_client
        self._token_key = f"wechat:access_token:{appid}"
        self._lock_key = f"wechat:access_token_lock:{appid}"
        # Used only while Redis is unreachable: stable_token is idempotent, so a per-process copy is safe.
        self._local_token: tuple[str, float] | None = None
        self.tokens_fetched = 0

    @property
    def access_token(self) -> str:  # type: ignore[override]
        token = self._cached_token()
        return token if token else self._refresh()

    def fetch_access_token(self) -> dict[str, Any]:  # type: ignore[override]
        """Fetch a token through stable_token (wechatpy's hook; normal mode, never forced)."""
        return {"access_token": self._refresh()}

    def drop_token(self, rejected: str) -> None:
        """Forget the cached token if it is still the one WeChat just rejected."""
        self._local_token = None
        try:
            self._redis.eval(_DELETE_IF_EQUAL, 1, self._token_key, rejected)
        except redis.RedisError:
            logger.warning("redis unavailable while dropping a rejected access token of %s", self.appid)

    def _cached_token(self) -> str | None:
        try:
            value = self._redis.get(self._token_key)
            return value.decode() if isinstance(value, bytes) else value
        except redis.RedisError:
            if self._local_token and self._local_token[1] > time.monotonic():
                return self._local_token[0]
            return None

    def _refresh(self) -> str:
        try:
            lock = self._redis.lock(self._lock_key, timeout=self.timeout * 2 + 1, blocking_timeout=self.timeout + 1)
            acquired = lock.acquire()
        except redis.RedisError:
            logger.warning("redis unavailable; fetching the access token of %s without the shared cache", self.appid)
            return self._fetch_and_store()
        try:
            # Another process may have refreshed while this one waited for the lock.
            token = self._cached_token()
            return token if token else self._fetch_and_store()
        finally:
            if acquired:
                try:
                    lock.release()
                except redis.RedisError:
                    pass

    def _fetch_and_store(self) -> str:
        response = self._http.post(
            STABLE_TOKEN_URL,
            json={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret, "force_refresh": False},
        )
        try:
            result = response.json()
        except ValueError:
            raise WeChatBadResponse(f"stable_token answered HTTP {response.status_code} without JSON") from None
        if result.get("errcode"):
            raise WeChatAPIError(int(result["errcode"]), result.get("errmsg", ""))
        token = result["access_token"]
        ttl = max(int(result.get("expires_in", 7200)) - EXPIRY_MARGIN_SECONDS, 30)
        self.tokens_fetched += 1
        self._local_token = (token, time.monotonic() + ttl)
        try:
            self._redis.set(self._token_key, token, ex=ttl)
        except redis.RedisError:
            logger.warning("redis unavailable; access token of %s cached in this process only", self.appid)
        return token


def is_connection_not_established(exc: requests.RequestException) -> bool:
    """Tell whether a request failed before any byte reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc)
        return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text
    return False
