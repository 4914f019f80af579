"""`flask jobs worker` with two client-side changes patched in at start-up, to measure what they would save.

bench/broadcast.py --worker-variant what-if runs the workers through this file instead of
`python -m flask jobs worker`. The application's files are not changed; the patches are:

1. the WeChat HTTP sessions (app/wechat/transport.make_http_session) read the proxy settings once,
   when they are made, and set `trust_env = False`; requests otherwise re-reads the environment's
   proxy variables and looks for a ~/.netrc on every request;
2. the access token (app/wechat/clients.StableTokenClient._cached_token) is kept in the process for
   TOKEN_SECONDS after it was read from Redis; a rejected token is forgotten at once (drop_token).
   As shipped, every send reads the token from Redis twice (once in WeChatGateway._call, once more in
   wechatpy's _request, which asks the client again because the call passes no access_token).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TOKEN_SECONDS = 5.0


def patch() -> None:
    import requests

    from app.wechat import clients, transport

    shipped_session = transport.make_http_session

    def make_http_session(api_base: str, timeout: float) -> requests.Session:
        session = shipped_session(api_base, timeout)
        session.proxies = requests.utils.get_environ_proxies(api_base)
        session.trust_env = False
        return session

    transport.make_http_session = make_http_session
    clients.make_http_session = make_http_session

    shipped_cached, shipped_drop = clients.StableTokenClient._cached_token, clients.StableTokenClient.drop_token

    def _cached_token(self) -> str | None:
        held = getattr(self, "_whatif_token", None)
        now = time.monotonic()
        if held is not None and held[1] > now:
            return held[0]
        token = shipped_cached(self)
        self._whatif_token = (token, now + TOKEN_SECONDS) if token else None
        return token

    def drop_token(self, rejected: str) -> None:
        self._whatif_token = None
        shipped_drop(self, rejected)

    clients.StableTokenClient._cached_token = _cached_token
    clients.StableTokenClient.drop_token = drop_token


if __name__ == "__main__":
    patch()
    from flask.cli import main

    sys.argv = ["flask", *sys.argv[1:]]
    main()
