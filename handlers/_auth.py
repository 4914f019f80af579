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
    """Check `Authorization: Bearer …` and the account behind it before the view runs (401 otherwise).

    Once per request: the token's signature and age, then one primary-key lookup that the account
    exists, is neither disabled nor deleted, and still has the token's generation
    (`accounts.authenticate`). The full account loads only when a handler asks (`current_account()`).
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing_token", "请先登录：缺少 Authorization: Bearer 凭证")
        conf = settings()["app"]
        g.pop("account", None)  # loaded for this token on first use, never carried over from another
        claims = accounts.claims_from_token(token.strip(), secret_key=conf["secret_key"],
                                            ttl_seconds=conf["token_ttl_seconds"])
        accounts.authenticate(claims)
        g.account_id = claims.account_id
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

    For hot paths: `login_required` has already proved the account exists and may act.
    """
    return g.account_id
