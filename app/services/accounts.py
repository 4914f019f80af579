"""Login through WeChat and the bearer tokens of the mini-program API."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import DomainError, Unauthorized
from app.extensions import db
from app.wechat.errors import WeChatAPIError, WeChatError
from app.wechat.gateway import WeChatGateway
from models import Account, Volunteer

logger = logging.getLogger(__name__)

_TOKEN_SALT = "api-login-v1"
# jscode2session answers these when the code itself is bad (invalid, used, or expired).
_BAD_CODE_ERRCODES = {40029, 40163, 40226}
# WeChat allows 100 jscode2session calls a minute per user.
_LOGIN_TOO_FREQUENT = 45011


@dataclass(frozen=True)
class LoginResult:
    account: Account
    token: str
    expires_in: int
    is_registered: bool


def login(gateway: WeChatGateway, code: str, *, secret_key: str, ttl_seconds: int, now: datetime) -> LoginResult:
    """Exchange a wx.login code for an account (created on first login) and a bearer token."""
    try:
        session = gateway.code_to_session(code)
    except WeChatAPIError as exc:
        if exc.errcode in _BAD_CODE_ERRCODES:
            raise DomainError("invalid_login_code", "登录凭证无效或已过期，请重新进入小程序", 401) from None
        if exc.errcode == _LOGIN_TOO_FREQUENT:
            raise DomainError("login_too_frequent", "登录过于频繁，请稍后再试", 429) from None
        logger.warning("jscode2session failed: %s", exc)
        raise DomainError("wechat_unavailable", "微信服务暂时不可用，请稍后再试", 503) from None
    except WeChatError as exc:
        logger.warning("jscode2session failed: %s", exc)
        raise DomainError("wechat_unavailable", "微信服务暂时不可用，请稍后再试", 503) from None

    account = db.session.scalar(select(Account).where(Account.mp_openid == session.openid))
    if account is None:
        account = _create_account(session.openid, session.unionid, now)
    account.last_login_at = now
    if session.unionid and not account.unionid:
        account.unionid = session.unionid
    db.session.flush()
    is_registered = db.session.scalar(select(Volunteer.id).where(Volunteer.account_id == account.id)) is not None
    return LoginResult(account, issue_token(account.id, secret_key), ttl_seconds, is_registered)


def issue_token(account_id: int, secret_key: str) -> str:
    """Sign a bearer token for the account; its age is checked when it comes back."""
    return _serializer(secret_key).dumps({"a": account_id})


def _create_account(openid: str, unionid: str | None, now: datetime) -> Account:
    """Insert the account; a concurrent first login of the same user wins the race harmlessly."""
    try:
        with db.session.begin_nested():
            account = Account(mp_openid=openid, unionid=unionid, created_at=now, last_login_at=now)
            db.session.add(account)
        return account
    except IntegrityError:
        return db.session.scalars(select(Account).where(Account.mp_openid == openid)).one()


def account_id_from_token(token: str, *, secret_key: str, ttl_seconds: int) -> int:
    """The account id a bearer token carries, checked by signature and age only (no database)."""
    try:
        payload = _serializer(secret_key).loads(token, max_age=ttl_seconds)
    except SignatureExpired:
        raise Unauthorized("token_expired", "登录已过期，请重新登录") from None
    except BadSignature:
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录") from None
    account_id = payload.get("a") if isinstance(payload, dict) else None
    if not isinstance(account_id, int) or isinstance(account_id, bool):
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录")
    return account_id


def account_by_id(account_id: int) -> Account:
    """The account with this id; Unauthorized if there is none (a token outlived its account)."""
    account = db.session.get(Account, account_id)
    if account is None:
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录")
    return account


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    # Tokens carry only the account id: no openid, no name, nothing personal.
    return URLSafeTimedSerializer(secret_key, salt=_TOKEN_SALT)
