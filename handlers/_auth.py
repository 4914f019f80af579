"""Authentication: bearer tokens (the mini-program) or the console's session cookie (the browser)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from app.db import unit_of_work
from app.errors import Forbidden, Unauthorized
from app.extensions import settings
from app.services import accounts, console_sessions
from app.timeutil import current_time
from models import Account

F = TypeVar("F", bound=Callable[..., Any])
BEARER_SECURITY = {"bearer": []}
CONSOLE_SECURITY = {"console": []}
# The console's session cookie and the header that must echo its CSRF token on every write.
SESSION_COOKIE = "vs_console"
CSRF_HEADER = "X-CSRF-Token"
_WRITES = frozenset(("POST", "PUT", "PATCH", "DELETE"))


def login_required(view: F) -> F:
    """Check `Authorization: Bearer …` or the console's session cookie before the view runs (401 otherwise).

    A bearer token, once per request: its signature and age, then one primary-key lookup that the
    account exists, is neither disabled nor deleted, and still has the token's generation
    (`accounts.authenticate`). Without an Authorization header, the `vs_console` cookie: one lookup
    of the session by its digest joined with the same account checks, and on a write the
    `X-CSRF-Token` header must equal the session's token (403 `csrf_failed`). The full account
    loads only when a handler asks (`current_account()`).
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.pop("console_session", None)
        header = request.headers.get("Authorization")
        if header is None and request.cookies.get(SESSION_COOKIE):
            _authenticate_console_session(request.cookies[SESSION_COOKIE])
            return view(*args, **kwargs)
        token = bearer_token(header)
        if token is None:
            raise Unauthorized("missing_token", "请先登录：缺少 Authorization: Bearer 凭证")
        g.pop("account", None)  # loaded for this token on first use, never carried over from another
        claims = token_claims(token)
        accounts.authenticate(claims)
        g.account_id = claims.account_id
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None if the header is missing or not one."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_claims(token: str) -> accounts.TokenClaims:
    """What a bearer token carries, checked by signature and age (401 otherwise), not yet against its account."""
    conf = settings()["app"]
    return accounts.claims_from_token(token, secret_key=conf["secret_key"], ttl_seconds=conf["token_ttl_seconds"])


def _authenticate_console_session(session_id: str) -> None:
    conf = settings()["console"]
    g.pop("account", None)
    # Its own unit: the lookup, and the once-a-minute refresh of last_seen_at, are committed here.
    with unit_of_work():
        state = console_sessions.authenticate(
            session_id, csrf_token=request.headers.get(CSRF_HEADER), is_write=request.method in _WRITES,
            session_idle=console_sessions.Lifetimes.from_settings(conf).session_idle, now=current_time())
    g.account_id = state.account_id
    g.console_session = state


def refuse_cross_site_login() -> None:
    """Refuse a login another site started (login CSRF: it would log this browser in as the other site's account).

    Browsers say where a request came from in `Sec-Fetch-Site`; clients that do not send it (curl,
    the tests, old browsers) are let through, as they cannot be driven by another site's page.
    """
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise Forbidden("cross_site_login", "请在管理后台页面内登录")


def console_session_required(view: F) -> F:
    """For the console's own routes: `login_required`, and the request must come with the session cookie.

    A bearer token alone is refused with 401 `console_session_required` (it has no session to show or end).
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("console_session") is None:
            raise Unauthorized("console_session_required", "请先登录管理后台")
        return view(*args, **kwargs)

    return login_required(wrapper)  # type: ignore[return-value]


def current_console_session() -> console_sessions.SessionState:
    """The session of a request that `console_session_required` let through."""
    return g.console_session


def current_account() -> Account:
    """Return the account of the authenticated request (401 if it no longer exists)."""
    account = g.get("account")
    if account is None:
        account = g.account = accounts.account_by_id(g.account_id)
    return account


def current_account_id() -> int:
    """The id the request's token was issued to, without loading the account.

    For hot paths: `login_required` has already proved the account exists and may act.
    """
    return g.account_id
