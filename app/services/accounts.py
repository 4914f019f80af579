"""Login through WeChat, the bearer tokens of the mini-program API, disabling and deleting accounts.

A token is only as good as its account: it carries the account id and the account's
`token_generation` at issue, and `authenticate` (run once by every authenticated request) answers
401 unless the account still exists, is neither disabled nor deleted, and has that generation.
It is one primary-key lookup of three small columns, on the connection the request uses anyway
(the captain's scan reads them in its first query instead, `token_state_columns`): no cache, so
nothing can go stale (Redis losing a write in a failover cannot revive a token, and Redis being
down changes nothing). Bumping the generation revokes every token at once. Only the signature
check of a token is remembered (`_signed_claims`): it depends on nothing but the token itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from app.db import execute_first
from app.errors import Conflict, DomainError, NotFound, Unauthorized
from app.extensions import db
from app.services import audit, console_sessions, notifications, roles, signups, subscriptions, teams, volunteers
from app.wechat.errors import WeChatAPIError, WeChatError
from app.wechat.gateway import WeChatGateway
from models import Account, Activity, Checkin, Volunteer

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
    if account.disabled_at is not None:
        raise DomainError("account_disabled", "该账号已被停用，如有疑问请联系所在社区", 403)
    account.last_login_at = now
    if session.unionid and not account.unionid:
        account.unionid = session.unionid
    db.session.flush()
    is_registered = db.session.scalar(select(Volunteer.id).where(Volunteer.account_id == account.id)) is not None
    return LoginResult(account, issue_token(account.id, secret_key, generation=account.token_generation),
                       ttl_seconds, is_registered)


def issue_token(account_id: int, secret_key: str, *, generation: int = 0) -> str:
    """Sign a bearer token for the account at its current token generation; age is checked on return."""
    return _serializer(secret_key).dumps({"a": account_id, "g": generation})


def _create_account(openid: str, unionid: str | None, now: datetime) -> Account:
    """Insert the account; a concurrent first login of the same user wins the race harmlessly."""
    try:
        with db.session.begin_nested():
            account = Account(mp_openid=openid, unionid=unionid, created_at=now, last_login_at=now)
            db.session.add(account)
        return account
    except IntegrityError:
        return db.session.scalars(select(Account).where(Account.mp_openid == openid)).one()


@dataclass(frozen=True)
class TokenClaims:
    account_id: int
    generation: int


def claims_from_token(token: str, *, secret_key: str, ttl_seconds: int) -> TokenClaims:
    """What a bearer token carries, checked by signature and age only (no database)."""
    try:
        claims, signed_at = _signed_claims(secret_key, token)
    except BadSignature:
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录") from None
    # itsdangerous's own test of age (`loads(max_age=…)`), on its clock
    age = _signer(secret_key).get_timestamp() - signed_at
    if age > ttl_seconds or age < 0:
        raise Unauthorized("token_expired", "登录已过期，请重新登录")
    if claims is None:
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录")
    return claims


@lru_cache(maxsize=8192)
def _signed_claims(secret_key: str, token: str) -> tuple[TokenClaims | None, int]:
    """What a token with a good signature carries (None if not an account and a generation) and when
    it was signed. Checking the signature costs more than the rest of the request's authentication, and
    a phone sends the same token all day, so it is checked once per worker; a bad signature raises
    BadSignature and is never kept, so only tokens this service signed are."""
    payload, signed_at = _serializer(secret_key).loads(token, return_timestamp=True)
    account_id = payload.get("a") if isinstance(payload, dict) else None
    # Tokens issued before generations existed carry none: they belong to generation 0.
    generation = payload.get("g", 0) if isinstance(payload, dict) else None
    claims = TokenClaims(account_id, generation) if _is_int(account_id) and _is_int(generation) else None
    return claims, int(signed_at.timestamp())


def account_id_from_token(token: str, *, secret_key: str, ttl_seconds: int) -> int:
    """The account id a bearer token carries, checked by signature and age only (no database)."""
    return claims_from_token(token, secret_key=secret_key, ttl_seconds=ttl_seconds).account_id


def token_state_columns(account: Any = Account) -> tuple[Any, ...]:
    """What decides whether a token of `account` (the model, or an alias of it) still counts, for
    `require_token_counts`; a query that reads other rows can read these beside them."""
    return (account.token_generation, account.disabled_at.is_not(None).label("account_disabled"),
            account.deleted_at.is_not(None).label("account_deleted"))


# Built once: it runs on every authenticated request.
_ACCOUNT_STATE = select(*token_state_columns()).where(Account.id == bindparam("account_id"))


def authenticate(claims: TokenClaims) -> None:
    """Refuse (401) a token whose account is gone, disabled or deleted, or was revoked since it was issued."""
    # The first statement of every request with a bearer token: on a dropped connection it runs again.
    require_token_counts(claims, execute_first(_ACCOUNT_STATE, {"account_id": claims.account_id}).first())


def require_token_counts(claims: TokenClaims, state: Any) -> None:
    """Refuse (401) the token unless its account's `token_state_columns` (None: no such account) let it count."""
    if state is None or state.account_deleted:
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录")
    if state.account_disabled:
        raise Unauthorized("account_disabled", "该账号已被停用，如有疑问请联系所在社区")
    if state.token_generation != claims.generation:
        raise Unauthorized("token_revoked", "登录已失效，请重新登录")


def account_by_id(account_id: int) -> Account:
    """The account with this id; Unauthorized if there is none or it was deleted (a token outlived it)."""
    account = db.session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录")
    return account


def revoke_tokens(account_id: int) -> None:
    """Make every token issued to the account so far useless (the next login gets a new one).

    Console sessions remember the generation they were opened at, so this ends them too.
    """
    db.session.execute(update(Account).where(Account.id == account_id)
                       .values(token_generation=Account.token_generation + 1)
                       .execution_options(synchronize_session="fetch"))


def disable(account_id: int, *, actor_account_id: int | None, reason: str, now: datetime) -> Account:
    """Stop the account: every token answers 401 at once and login is refused until it is enabled."""
    account = _live_account(account_id)
    if account.disabled_at is None:
        account.disabled_at = now
        revoke_tokens(account.id)
        audit.record(actor_account_id, "account.disabled", "account", account.id, now=now, reason=reason)
    db.session.flush()
    return account


def enable(account_id: int, *, actor_account_id: int | None, now: datetime) -> Account:
    """Let a disabled account log in again; tokens from before it was disabled stay revoked."""
    account = _live_account(account_id)
    if account.disabled_at is not None:
        account.disabled_at = None
        audit.record(actor_account_id, "account.enabled", "account", account.id, now=now)
    db.session.flush()
    return account


@dataclass(frozen=True)
class Deletion:
    signups_cancelled: int
    memberships_ended: int
    roles_revoked: int
    messages_withdrawn: int


# What the person must send to confirm the deletion: explicit, in their words, never a default.
DELETE_CONFIRMATION = "注销"


def delete(account: Account, *, confirmation: str | None, now: datetime) -> Deletion:
    """注销: erase the person's data and revoke every token, in the caller's one transaction.

    The volunteer row stays (service records, check-ins and sign-ups point at it), anonymised:
    name replaced by 已注销志愿者, mobile, ID number and digest, birth date, guardian, skills and
    the check-in secret erased, status `deleted`; totals stay, so statistics do not move. The
    account keeps its id with a placeholder openid (`deleted:<id>`) and no unionid or official
    openid, so the same WeChat user logging in again gets a new account and may register again
    with the same ID number. Sign-ups for activities not yet started are cancelled (seats go to
    the waitlist), team memberships end, role grants go, pending messages are withdrawn and every
    inbox text erased, subscribe credits removed. A volunteer checked in at an activity that has
    not ended must check out first (`checked_in_now`): the open check-in is service in progress.
    """
    if confirmation != DELETE_CONFIRMATION:
        raise DomainError("confirmation_required", f"请确认注销：注销后个人信息将被删除且无法恢复（请输入“{DELETE_CONFIRMATION}”）",
                          422, fields={"confirm": f"请输入“{DELETE_CONFIRMATION}”"})
    # The account row first, locked (PostgreSQL): two deletions, or a deletion and the same
    # person's sign-up, run one after another.
    account = db.session.scalars(select(Account).where(Account.id == account.id).with_for_update()
                                 .execution_options(populate_existing=True)).one()
    if account.deleted_at is not None:
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录")
    volunteer = db.session.scalars(select(Volunteer).where(Volunteer.account_id == account.id)
                                   .with_for_update()).one_or_none()
    cancelled = ended = 0
    if volunteer is not None:
        in_progress = db.session.scalar(select(Checkin.id).join(Activity, Activity.id == Checkin.activity_id).where(
            Checkin.volunteer_id == volunteer.id, Checkin.checked_out_at.is_(None), Activity.ends_at > now).limit(1))
        if in_progress is not None:
            raise Conflict("checked_in_now", "您正在参加的活动尚未签退，请签退后再注销")
        cancelled = signups.withdraw_all(volunteer.id, now=now)
        ended = teams.end_memberships(volunteer.id, now=now)
        volunteers.erase(volunteer, now=now)
    revoked = roles.revoke_all(account.id)
    withdrawn = notifications.erase_for_account(account.id)
    subscriptions.remove_all(account.id)
    account.mp_openid = f"deleted:{account.id}"
    account.oa_openid = None
    account.unionid = None
    account.disabled_at = None
    account.deleted_at = now
    db.session.flush()
    revoke_tokens(account.id)
    console_sessions.end_all(account.id)
    result = Deletion(cancelled, ended, revoked, withdrawn)
    # Who asked and when, and what it changed: ids and counts, nothing personal.
    audit.record(account.id, "account.deleted", "account", account.id, now=now,
                 volunteer_id=volunteer.id if volunteer else None, **result.__dict__)
    return result


def _live_account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        raise NotFound("account_not_found", "找不到该账号")
    return account


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@lru_cache(maxsize=8)
def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    # Tokens carry only the account id: no openid, no name, nothing personal.
    return URLSafeTimedSerializer(secret_key, salt=_TOKEN_SALT)


@lru_cache(maxsize=8)
def _signer(secret_key: str) -> TimestampSigner:
    return _serializer(secret_key).make_signer(_TOKEN_SALT)  # type: ignore[return-value]
