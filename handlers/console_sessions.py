"""The web console's login: scan to log in, one-time login links, who is logged in, logout.

The session lives in the HttpOnly cookie `vs_console` (SameSite=Strict, Path=/, Secure unless the
request's host is localhost or 127.0.0.1); writes it authenticates need `X-CSRF-Token` (see
handlers/_auth.py). A scan-to-login ticket is bound to its browser by the HttpOnly cookie
`vs_console_ticket`, which only the polls send.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from flask import Blueprint, Response, after_this_request, request
from pydantic import BaseModel, Field, model_serializer
from spectree import Response as Answers

from app.db import unit_of_work
from app.errors import ErrorBody
from app.extensions import api_spec, get_gateway, get_redis, settings
from app.services import console_sessions
from app.services.stars import flow as star_flow
from app.timeutil import current_time
from handlers._auth import (BEARER_SECURITY, CONSOLE_SECURITY, SESSION_COOKIE, console_session_required,
                            current_account_id, current_console_session, login_required, refuse_cross_site_login)
from handlers._schemas import answers

blueprint = Blueprint("console_sessions", __name__, url_prefix="/api/v1/console")

TICKET_COOKIE = "vs_console_ticket"
_TICKET_COOKIE_PATH = "/api/v1/console/sessions"
_LOCAL_HOSTS = frozenset(("localhost", "127.0.0.1", "::1"))


class TicketView(BaseModel):
    ticket: str = Field(description="登录票据，即小程序码的 scene")
    qr_png_base64: str = Field(description="小程序码（PNG，base64）：用小程序扫码确认登录")
    expires_at: datetime
    poll_after_ms: int = Field(description="轮询 GET /api/v1/console/sessions/{ticket} 的间隔（毫秒）")


class NamedOrganization(BaseModel):
    id: int
    name: str


class NamedTeam(BaseModel):
    id: int
    name: str
    organization_id: int


class NamedRegion(BaseModel):
    id: int
    name: str
    level: str


class ScopeView(BaseModel):
    key: str = Field(description="角色与范围，如 organizer:3、captain:7、admin:2")
    role: Literal["organizer", "captain", "admin"]
    label: str = Field(description="如「甲区志愿者协会 · 组织者」")
    organization: NamedOrganization | None = Field(description="组织者的组织；队长所在队伍的组织")
    team: NamedTeam | None
    region: NamedRegion | None


class ConsoleMe(BaseModel):
    account_id: int
    display_name: str = Field(description="本人姓名（注册志愿者时的真实姓名，不打码）")
    csrf_token: str = Field(description="凭会话 Cookie 写操作时放在 X-CSRF-Token 请求头中")
    session_expires_at: datetime = Field(description="不再操作时会话到期的时间（不晚于绝对到期时间）")
    scopes: list[ScopeView]
    star_reviews_pending: int = Field(description="待本人审核的星级评定申请数（所辖地区及下级；非管理员为 0）")


class PollView(BaseModel):
    status: Literal["pending", "confirmed"]
    me: ConsoleMe | None = Field(default=None, description="确认后给出，同时设置会话 Cookie")

    @model_serializer(mode="wrap")
    def _without_me_while_pending(self, handler):
        """`{"status": "pending"}` while pending: `me` appears only once there is someone logged in."""
        dumped = handler(self)
        if dumped.get("me") is None:
            dumped.pop("me", None)
        return dumped


class ConfirmedView(BaseModel):
    confirmed: Literal[True]


def _lifetimes() -> console_sessions.Lifetimes:
    return console_sessions.Lifetimes.from_settings(settings()["console"])


def _is_local_request() -> bool:
    return urlsplit("//" + request.host).hostname in _LOCAL_HOSTS


def _set_cookie_after(name: str, value: str, *, max_age: int, path: str) -> None:
    secure = not _is_local_request()

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(name, value, max_age=max_age, path=path, secure=secure, httponly=True, samesite="Strict")
        return response


def _clear_cookie_after(name: str, *, path: str) -> None:
    secure = not _is_local_request()

    @after_this_request
    def clear_cookie(response: Response) -> Response:
        response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="Strict")
        return response


def _me(state: console_sessions.SessionState) -> ConsoleMe:
    user = console_sessions.console_user(state.account_id)
    scopes = [ScopeView(
        key=scope.key, role=scope.role.value, label=scope.label,
        organization=NamedOrganization(id=scope.organization.id, name=scope.organization.name)
        if scope.organization else None,
        team=NamedTeam(id=scope.team.id, name=scope.team.name, organization_id=scope.team.organization_id)
        if scope.team else None,
        region=NamedRegion(id=scope.region.id, name=scope.region.name, level=scope.region.level.value)
        if scope.region else None,
    ) for scope in user.scopes]
    return ConsoleMe(account_id=user.account_id, display_name=user.display_name, csrf_token=state.csrf_token,
                     session_expires_at=state.expires_at, scopes=scopes,
                     star_reviews_pending=star_flow.pending_review_count(user.account_id))


def _set_session_cookie(opened: console_sessions.OpenedSession) -> None:
    """After a login has been committed: the session cookie, with a new id every time."""
    _set_cookie_after(SESSION_COOKIE, opened.session_id, max_age=opened.max_age_seconds, path="/")


@blueprint.post("/sessions")
@api_spec.validate(resp=answers(201, TicketView, 403, 429, 503), tags=["console"])
def create_ticket():
    """Start a scan-to-login: a ticket and its mini-program code, bound to this browser by a cookie.

    Show the code; the organiser scans it with the mini-program, which confirms the ticket; poll
    `GET /api/v1/console/sessions/{ticket}` until it answers `confirmed` (or 410 when it expired).
    """
    refuse_cross_site_login()
    lifetimes = _lifetimes()
    console_sessions.require_ticket_budget(get_redis())
    ticket, browser_secret = console_sessions.new_ticket()
    # WeChat first, with no transaction open; the ticket is stored only once its code exists.
    png = console_sessions.ticket_code(get_gateway(), ticket)
    with unit_of_work():
        row = console_sessions.open_ticket(ticket, browser_secret, lifetimes=lifetimes, now=current_time())
        view = TicketView(ticket=row.ticket, qr_png_base64=base64.b64encode(png).decode(), expires_at=row.expires_at,
                          poll_after_ms=console_sessions.POLL_AFTER_MS)
    _set_cookie_after(TICKET_COOKIE, browser_secret, max_age=int(lifetimes.ticket.total_seconds()),
                      path=_TICKET_COOKIE_PATH)
    return view, 201


@blueprint.get("/sessions/<ticket>")
@api_spec.validate(resp=answers(200, PollView, 401, 404, 410), tags=["console"])
def poll_ticket(ticket: str):
    """The browser that created the ticket asks whether it was confirmed; once it was, it is logged in (once)."""
    with unit_of_work():
        opened = console_sessions.poll(ticket, request.cookies.get(TICKET_COOKIE), lifetimes=_lifetimes(),
                                       now=current_time())
        if opened is None:
            return PollView(status="pending")
        view = PollView(status="confirmed", me=_me(opened.state))
    _set_session_cookie(opened)
    _clear_cookie_after(TICKET_COOKIE, path=_TICKET_COOKIE_PATH)
    return view


@blueprint.post("/sessions/<ticket>/confirm")
@login_required
@api_spec.validate(resp=answers(200, ConfirmedView, 401, 403, 404, 410), tags=["console"], security=BEARER_SECURITY)
def confirm_ticket(ticket: str):
    """The mini-program confirms a scanned ticket with its bearer token (organisers, captains, admins only)."""
    with unit_of_work():
        console_sessions.confirm(current_account_id(), ticket, now=current_time())
    return ConfirmedView(confirmed=True)


@blueprint.post("/login-links/<token>")
@api_spec.validate(resp=answers(200, ConsoleMe, 401, 403, 404), tags=["console"])
def redeem_login_link(token: str):
    """Log this browser in with a one-time link from `flask console login-link` (valid 10 minutes)."""
    refuse_cross_site_login()
    with unit_of_work():
        opened = console_sessions.redeem_login_link(token, lifetimes=_lifetimes(), now=current_time())
        view = _me(opened.state)
    _set_session_cookie(opened)
    return view


@blueprint.get("/me")
@console_session_required
@api_spec.validate(resp=answers(200, ConsoleMe, 401), tags=["console"], security=CONSOLE_SECURITY)
def me():
    """Who is logged in to the console: name, every role as a scope, the CSRF token, when the session ends."""
    with unit_of_work():
        view = _me(current_console_session())
    return view


@blueprint.delete("/session")
@console_session_required
@api_spec.validate(resp=Answers("HTTP_204", HTTP_401=ErrorBody, HTTP_403=ErrorBody), tags=["console"],
                   security=CONSOLE_SECURITY)
def logout():
    """Log out: the session ends on the server and its cookie is cleared."""
    with unit_of_work():
        console_sessions.end(current_console_session().id)
    _clear_cookie_after(SESSION_COOKIE, path="/")
    return "", 204
