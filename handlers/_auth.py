"""Bearer-token authentication for the mini-program API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from app.errors import Unauthorized
from app.extensions import settings
from app.services import accounts
from models import Account

F = TypeVar("F", bound=Callable[..., Any])
BEARER_SECURITY = {"bearer": []}


def login_required(view: F) -> F:
    """Check `Authorization: Bearer …` before the view runs (401 otherwise); the account loads on first use."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing_token", "请先登录：缺少 Authorization: Bearer 凭证")
        conf = settings()["app"]
        g.pop("account", None)  # loaded for this token on first use, never carried over from another
        g.account_id = accounts.account_id_from_token(token.strip(), secret_key=conf["secret_key"],
                                                      ttl_seconds=conf["token_ttl_seconds"])
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_account() -> Account:
    """Return the account of the authenticated request (401 if it no longer exists)."""
    account = g.get("account")
    if account is None:
        account = g.account = accounts.account_by_id(g.account_id)
    return account


def current_account_id() -> int:
    """The id the request's token was issued to, without loading the account.

    For hot paths whose own query already proves the account's right to act (a captain's scan
    checks the caller's role grant on the activity), so an unknown id is refused there.
    """
    return g.account_id
