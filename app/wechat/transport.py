"""HTTP transport for wechatpy: every call goes to the configured API base, with a timeout."""

from __future__ import annotations

from typing import Any

from requests import PreparedRequest, Session
from requests.adapters import HTTPAdapter

# wechatpy hard-codes these hosts in class attributes and inside methods; rewriting at the
# transport is the one place that catches them all.
WECHAT_HOSTS = ("https://api.weixin.qq.com", "https://mp.weixin.qq.com")


class WeChatTransport(HTTPAdapter):
    """Send requests to `api_base` instead of WeChat's hosts and never wait without a limit."""

    def __init__(self, api_base: str, timeout: float, **kwargs: Any):
        super().__init__(pool_connections=4, pool_maxsize=16, max_retries=0, **kwargs)
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout

    def send(self, request: PreparedRequest, **kwargs: Any):  # type: ignore[override]
        url = request.url or ""
        for host in WECHAT_HOSTS:
            if url.startswith(host + "/") and self.api_base != host:
                request.url = self.api_base + url[len(host):]
                break
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def make_http_session(api_base: str, timeout: float) -> Session:
    """Return a requests session whose every request goes through WeChatTransport."""
    session = Session()
    transport = WeChatTransport(api_base, timeout)
    session.mount("http://", transport)
    session.mount("https://", transport)
    return session
