"""The web console's logins: scan to log in, one-time login links, cookie sessions and what a session shows.

Scan to log in: the browser asks for a ticket (`new_ticket`, `ticket_code` through WeChat with no
transaction open, then `open_ticket`) and keeps a random secret in a cookie; the mini-program
confirms the ticket with its bearer token (`confirm`, organisers, captains and admins only); the
browser polls with its secret (`poll`) and, once, receives a new session. Every step that changes
a ticket is a conditional UPDATE on its status, so two polls or two confirms cannot both win.
Anyone may ask for a ticket, and each costs a WeChat call, so the cluster rations them
(`require_ticket_budget`, a token bucket in Redis).

A session id lives only in the browser's cookie; the row holds its SHA-256 digest, so a database
reader cannot log in. `authenticate` is one lookup by digest joined with the account: a disabled or
deleted account, or a token generation bumped since the login (every revocation bumps it), answers
401 exactly as a bearer token would. Sessions end when idle (`idle_expires_at`, moved forward at
most once a minute) and absolutely (`expires_at`); writes must echo the session's CSRF token,
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import bindparam, delete, or_, select, update

from app.db import execute_first
from app.errors import DomainError, Forbidden, NotFound, Unauthorized
from app.extensions import db
from app.services import access, audit, roles
from app.services.rate_limits import TokenBucket
from app.wechat.errors import WeChatError
from app.wechat.gateway import WeChatGateway
from models import (Account, ConsoleLoginLink, ConsoleLoginTicket, ConsoleSession, Organization, Region, Role,
                    Team, TicketStatus, Volunteer, VolunteerStatus)

logger = logging.getLogger(__name__)

# The mini-program page that opens when the code is scanned; it reads the ticket from `scene`.
LOGIN_PAGE = "pages/console-login/index"
# A ticket is a mini-program code's scene: at most 32 characters of WeChat's set; ours are 24 url-safe ones.
_TICKET = re.compile(r"[A-Za-z0-9_-]{24}")
# How often the browser should poll a pending ticket.
POLL_AFTER_MS = 1500
# last_seen_at (and the idle expiry with it) moves at most this often: not a write per request.
SEEN_RESOLUTION = timedelta(minutes=1)
# Tickets the whole cluster hands out per second, and the burst it allows.
TICKETS_PER_SECOND = 5
TICKET_BURST = 20
# Expired tickets are kept this long, so a late poll still hears "expired" rather than "unknown".
_TICKET_KEPT = timedelta(hours=1)
ROLE_NAMES = {Role.ORGANIZER: "组织者", Role.CAPTAIN: "队长", Role.ADMIN: "管理员"}


@dataclass(frozen=True)
class Lifetimes:
    """How long sessions, tickets and links live (the `[console]` settings)."""

    session_idle: timedelta
    session_max: timedelta
    ticket: timedelta
    link: timedelta

    @classmethod
    def from_settings(cls, console: dict) -> Lifetimes:
        return cls(session_idle=timedelta(minutes=console["session_idle_minutes"]),
                   session_max=timedelta(hours=console["session_max_hours"]),
                   ticket=timedelta(seconds=console["login_ticket_seconds"]),
                   link=timedelta(minutes=console["login_link_minutes"]))


@dataclass(frozen=True)
class SessionState:
    """What a request authenticated by the cookie knows about its session."""

    id: int
    account_id: int
    csrf_token: str
    expires_at: datetime  # the earlier of the idle and the absolute expiry


@dataclass(frozen=True)
class OpenedSession:
    """A new session: the id goes into the cookie once and is never stored."""

    session_id: str
    state: SessionState
    max_age_seconds: int


def digest(secret: str) -> str:
    """The stored form of a secret (session id, browser secret, link token): SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


# --- scan to log in -----------------------------------------------------------------------------

def require_ticket_budget(redis_client: redis.Redis, *, rate: float = TICKETS_PER_SECOND,
                          capacity: float = TICKET_BURST) -> None:
    """Anyone may ask for a ticket and each costs a WeChat call: the cluster hands out `rate` a second (429 beyond).

    The limit guards WeChat's quota, not correctness: with Redis unreachable, tickets are not held back.
    """
    try:
        granted = TokenBucket(redis_client, "console-tickets", rate=rate, capacity=capacity).take(1).granted
    except redis.RedisError as exc:
        logger.warning("ticket rate limit unavailable: %s", exc)
        return
    if not granted:
        raise DomainError("too_many_requests", "请求过于频繁，请稍后再试", 429)


def new_ticket() -> tuple[str, str]:
    """A fresh ticket and the browser secret that goes with it."""
    return secrets.token_urlsafe(18), secrets.token_urlsafe(32)


def ticket_code(gateway: WeChatGateway, ticket: str) -> bytes:
    """The mini-program code (PNG) that opens the login page with the ticket; call with no transaction open."""
    try:
        return gateway.get_wxacode_unlimited(ticket, page=LOGIN_PAGE, check_path=False)
    except WeChatError as exc:
        logger.warning("getwxacodeunlimit failed: %s", exc)
        raise DomainError("wechat_unavailable", "微信服务暂时不可用，请稍后再试", 503) from None


def open_ticket(ticket: str, browser_secret: str, *, lifetimes: Lifetimes, now: datetime) -> ConsoleLoginTicket:
    """Store a pending ticket bound to the browser's secret; forget tickets long expired."""
    db.session.execute(delete(ConsoleLoginTicket).where(ConsoleLoginTicket.expires_at < now - _TICKET_KEPT))
    row = ConsoleLoginTicket(ticket=ticket, browser_secret_hash=digest(browser_secret), status=TicketStatus.PENDING,
                             created_at=now, expires_at=now + lifetimes.ticket)
    db.session.add(row)
    db.session.flush()
    return row


def confirm(account_id: int, ticket: str, *, now: datetime) -> None:
    """The scanner (an organiser, captain or admin) confirms the ticket: its browser may now log in as them."""
    access.require_console_user(account_id)
    if not _TICKET.fullmatch(ticket):
        raise _ticket_not_found()
    confirmed = db.session.execute(
        update(ConsoleLoginTicket)
        .where(ConsoleLoginTicket.ticket == ticket, ConsoleLoginTicket.status == TicketStatus.PENDING,
               ConsoleLoginTicket.expires_at > now)
        .values(status=TicketStatus.CONFIRMED, account_id=account_id, confirmed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if confirmed == 1:
        return
    row = db.session.scalar(select(ConsoleLoginTicket).where(ConsoleLoginTicket.ticket == ticket))
    if row is not None and row.status is TicketStatus.PENDING:
        raise _ticket_expired()
    raise _ticket_not_found()  # unknown, or already confirmed by someone: single use


def poll(ticket: str, browser_secret: str | None, *, lifetimes: Lifetimes, now: datetime) -> OpenedSession | None:
    """The creating browser asks: None while pending; once confirmed, a new session (the ticket is spent)."""
    if not _TICKET.fullmatch(ticket) or not browser_secret:
        raise _ticket_not_found()
    row = db.session.scalar(select(ConsoleLoginTicket).where(ConsoleLoginTicket.ticket == ticket))
    # Another browser's poll learns nothing, not even that the ticket exists.
    if row is None or not hmac.compare_digest(row.browser_secret_hash, digest(browser_secret)) \
            or row.status is TicketStatus.CONSUMED:
        raise _ticket_not_found()
    if row.expires_at <= now:
        raise _ticket_expired()
    if row.status is TicketStatus.PENDING:
        return None
    spent = db.session.execute(
        update(ConsoleLoginTicket)
        .where(ConsoleLoginTicket.id == row.id, ConsoleLoginTicket.status == TicketStatus.CONFIRMED)
        .values(status=TicketStatus.CONSUMED)
        .execution_options(synchronize_session=False)).rowcount
    if spent != 1:  # a concurrent poll of the same browser took it
        raise _ticket_not_found()
    return open_session(row.account_id, method="scan", lifetimes=lifetimes, now=now)


def _ticket_not_found() -> NotFound:
    return NotFound("login_ticket_not_found", "登录二维码无效或已使用，请刷新二维码")


def _ticket_expired() -> DomainError:
    return DomainError("login_ticket_expired", "登录二维码已过期，请刷新二维码", 410)


# --- one-time login links -----------------------------------------------------------------------

def create_login_link(openid: str, *, lifetimes: Lifetimes, now: datetime) -> str:
    """A one-time token that logs a browser in as the account with this mini-program openid."""
    account = db.session.scalar(select(Account).where(Account.mp_openid == openid))
    if account is None or account.deleted_at is not None:
        raise NotFound("account_not_found", "找不到该账号")
    if account.disabled_at is not None:
        raise DomainError("account_disabled", "该账号已被停用，如有疑问请联系所在社区", 403)
    access.require_console_user(account.id)
    token = secrets.token_urlsafe(32)
    db.session.add(ConsoleLoginLink(token_hash=digest(token), account_id=account.id, created_at=now,
                                    expires_at=now + lifetimes.link))
    db.session.flush()
    return token


def redeem_login_link(token: str, *, lifetimes: Lifetimes, now: datetime) -> OpenedSession:
    """Spend a login link (once, within its lifetime) for a new session of its account."""
    token_hash = digest(token)
    used = db.session.execute(
        update(ConsoleLoginLink)
        .where(ConsoleLoginLink.token_hash == token_hash, ConsoleLoginLink.used_at.is_(None),
               ConsoleLoginLink.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if used != 1:
        raise NotFound("login_link_invalid", "登录链接无效、已使用或已过期，请重新生成")
    account_id = db.session.scalar(select(ConsoleLoginLink.account_id).where(ConsoleLoginLink.token_hash == token_hash))
    access.require_console_user(account_id)
    return open_session(account_id, method="link", lifetimes=lifetimes, now=now)


# --- sessions -----------------------------------------------------------------------------------

def open_session(account_id: int, *, method: str, lifetimes: Lifetimes, now: datetime) -> OpenedSession:
    """A new session (always a new id) for a live account; sessions that ended anywhere are swept."""
    account = db.session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录")
    if account.disabled_at is not None:
        raise Unauthorized("account_disabled", "该账号已被停用，如有疑问请联系所在社区")
    db.session.execute(delete(ConsoleSession).where(or_(ConsoleSession.expires_at <= now,
                                                        ConsoleSession.idle_expires_at <= now)))
    session_id = secrets.token_urlsafe(32)
    expires_at = now + lifetimes.session_max
    row = ConsoleSession(session_hash=digest(session_id), account_id=account.id,
                         token_generation=account.token_generation, csrf_token=secrets.token_urlsafe(32),
                         created_at=now, last_seen_at=now, idle_expires_at=min(now + lifetimes.session_idle, expires_at),
                         expires_at=expires_at)
    db.session.add(row)
    db.session.flush()
    audit.record(account.id, "console.login", "account", account.id, now=now, method=method, session_id=row.id)
    return OpenedSession(session_id, _state(row.id, account.id, row.csrf_token, row.idle_expires_at, expires_at),
                         int(lifetimes.session_max.total_seconds()))


# Built once: it runs on every request the console makes.
_SESSION_STATE = (
    select(ConsoleSession.id, ConsoleSession.account_id, ConsoleSession.csrf_token, ConsoleSession.last_seen_at,
           ConsoleSession.idle_expires_at, ConsoleSession.expires_at,
           ConsoleSession.token_generation == Account.token_generation,
           Account.disabled_at.is_not(None), Account.deleted_at.is_not(None))
    .join(Account, Account.id == ConsoleSession.account_id)
    .where(ConsoleSession.session_hash == bindparam("session_hash"))
)
_SEEN = (update(ConsoleSession).where(ConsoleSession.id == bindparam("session_id"))
         .values(last_seen_at=bindparam("now"), idle_expires_at=bindparam("idle_until")))


def authenticate(session_id: str, *, csrf_token: str | None, is_write: bool, session_idle: timedelta,
                 now: datetime) -> SessionState:
    """The session behind a cookie, or 401; a write without the session's CSRF token is 403 `csrf_failed`."""
    row = execute_first(_SESSION_STATE, {"session_hash": digest(session_id)}).first()
    if row is None:
        raise _session_expired()
    ident, account_id, csrf, last_seen_at, idle_expires_at, expires_at, same_generation, disabled, deleted = row
    if deleted:
        raise Unauthorized("invalid_token", "登录凭证无效，请重新登录")
    if disabled:
        raise Unauthorized("account_disabled", "该账号已被停用，如有疑问请联系所在社区")
    if not same_generation:
        raise Unauthorized("token_revoked", "登录已失效，请重新登录")
    if idle_expires_at <= now or expires_at <= now:
        raise _session_expired()
    if is_write and not hmac.compare_digest(csrf.encode(), (csrf_token or "").encode("utf-8", "surrogatepass")):
        raise Forbidden("csrf_failed", "页面已过期或请求来源不明，请刷新页面后重试")
    if now - last_seen_at >= SEEN_RESOLUTION:
        idle_expires_at = min(now + session_idle, expires_at)
        db.session.connection().execute(_SEEN, {"session_id": ident, "now": now, "idle_until": idle_expires_at})
    return _state(ident, account_id, csrf, idle_expires_at, expires_at)


def end(session_id: int) -> None:
    """Log out: the session row goes."""
    db.session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))


def end_all(account_id: int) -> int:
    """End every console session of the account (its deletion); return how many ended."""
    return db.session.execute(delete(ConsoleSession).where(ConsoleSession.account_id == account_id)).rowcount


def _state(ident: int, account_id: int, csrf: str, idle_expires_at: datetime, expires_at: datetime) -> SessionState:
    return SessionState(ident, account_id, csrf, min(idle_expires_at, expires_at))


def _session_expired() -> Unauthorized:
    return Unauthorized("session_expired", "登录已过期，请重新扫码登录")


# --- what the console shows about its user ----------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """One role grant as the console's scope switcher shows it."""

    key: str
    role: Role
    label: str
    organization: Organization | None
    team: Team | None
    region: Region | None


@dataclass(frozen=True)
class ConsoleUser:
    account_id: int
    display_name: str
    scopes: list[Scope]


def console_user(account_id: int) -> ConsoleUser:
    """The account's own name (unmasked: it is their own) and every role grant as a scope with a label."""
    name = db.session.scalar(select(Volunteer.real_name).where(Volunteer.account_id == account_id,
                                                               Volunteer.status != VolunteerStatus.DELETED))
    scopes = []
    for grant in roles.roles_of(account_id):
        team = db.session.get(Team, grant.team_id) if grant.team_id else None
        organization = db.session.get(Organization, team.organization_id if team else grant.organization_id) \
            if team or grant.organization_id else None
        region = db.session.get(Region, grant.region_id) if grant.region_id else None
        where = [part.name for part in (organization, team, region) if part is not None]
        scopes.append(Scope(key=f"{grant.role.value}:{grant.team_id or grant.organization_id or grant.region_id}",
                            role=grant.role, label=" · ".join([*where, ROLE_NAMES[grant.role]]),
                            organization=organization, team=team, region=region))
    return ConsoleUser(account_id, name or f"账号 {account_id}", scopes)
