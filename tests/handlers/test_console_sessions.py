"""The console's login over HTTP: scan to log in with the simulator, login links, the cookie session and CSRF."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.services import accounts
from models import ConsoleLoginTicket, ConsoleSession, Team, TicketStatus
from tests import factories as f

SESSIONS = "/api/v1/console/sessions"
ME = "/api/v1/console/me"


class Clock:
    """The app's clock, pinned and moved by hand: no test sleeps."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(app, now):
    pinned = Clock(now)
    app.extensions["clock"] = pinned
    return pinned


@pytest.fixture
def world(world):
    world.build("org", "organizer", "captain", "alice")
    db.session.commit()
    return world


def set_cookies(answer) -> dict[str, str]:
    """Each Set-Cookie header of an answer, by cookie name."""
    return {header.split("=", 1)[0]: header for header in answer.headers.getlist("Set-Cookie")}


def scan_ticket(client) -> dict:
    # Requests share the test's session (one app context): end its reads, as WeChat is called with no transaction open.
    db.session.commit()
    created = client.post(SESSIONS)
    assert created.status_code == 201, created.json
    return created.json


def confirm(client, ticket: str, headers: dict) -> object:
    # The mini-program is another client: it carries no cookie of the browser.
    return client.application.test_client().post(f"{SESSIONS}/{ticket}/confirm", headers=headers)


def log_in(client, bearer: dict) -> dict:
    """The whole scan-to-login; the answer's ConsoleMe."""
    ticket = scan_ticket(client)["ticket"]
    assert confirm(client, ticket, bearer).status_code == 200
    answer = client.get(f"{SESSIONS}/{ticket}")
    assert answer.status_code == 200 and answer.json["status"] == "confirmed", answer.json
    return answer.json["me"]


# --- scan to log in ----------------------------------------------------------------------------------

def test_scan_to_log_in_end_to_end(app, client, world, simulator, clock):
    db.session.commit()
    created = client.post(SESSIONS)
    assert created.status_code == 201
    body = created.json
    assert set(body) == {"ticket", "qr_png_base64", "expires_at", "poll_after_ms"}
    assert base64.b64decode(body["qr_png_base64"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert body["expires_at"].startswith("2026-11-23T02:02:00")
    ticket_cookie = set_cookies(created)["vs_console_ticket"]
    assert "HttpOnly" in ticket_cookie and "SameSite=Strict" in ticket_cookie and "Secure" not in ticket_cookie
    assert "Path=/api/v1/console/sessions" in ticket_cookie
    # The browser secret is stored only as a digest.
    row = db.session.scalar(select(ConsoleLoginTicket))
    assert row.ticket == body["ticket"] and len(row.browser_secret_hash) == 64
    assert client.get_cookie("vs_console_ticket", path=SESSIONS).value not in row.browser_secret_hash

    ticket = body["ticket"]
    assert client.get(f"{SESSIONS}/{ticket}").json == {"status": "pending"}
    assert client.get(ME).json["error"]["code"] == "missing_token"

    clock.advance(seconds=30)
    confirmed = confirm(client, ticket, f.bearer(world.organizer))
    assert (confirmed.status_code, confirmed.json) == (200, {"confirmed": True})

    clock.advance(seconds=2)
    answer = client.get(f"{SESSIONS}/{ticket}")
    assert answer.status_code == 200 and answer.json["status"] == "confirmed"
    me = answer.json["me"]
    assert me["account_id"] == world.organizer.id
    assert [s["label"] for s in me["scopes"]] == ["甲区志愿者协会 · 组织者"]
    session_cookie = set_cookies(answer)["vs_console"]
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie and "Path=/" in session_cookie
    assert "Secure" not in session_cookie
    assert "vs_console_ticket=;" in set_cookies(answer)["vs_console_ticket"]  # the ticket cookie is cleared

    # The session works; the ticket is spent, for polls and confirms alike.
    assert client.get(ME).json == me
    assert client.get(f"{SESSIONS}/{ticket}").json["error"]["code"] == "login_ticket_not_found"
    assert confirm(client, ticket, f.bearer(world.organizer)).json["error"]["code"] == "login_ticket_not_found"
    db.session.expire_all()
    assert db.session.scalar(select(ConsoleLoginTicket.status)) is TicketStatus.CONSUMED
    stored = db.session.scalar(select(ConsoleSession))
    assert stored.account_id == world.organizer.id
    assert client.get_cookie("vs_console").value != stored.session_hash and len(stored.session_hash) == 64


def test_a_ticket_expires_after_two_minutes(client, world, simulator, clock):
    ticket = scan_ticket(client)["ticket"]
    clock.advance(seconds=120)
    assert client.get(f"{SESSIONS}/{ticket}").status_code == 410
    expired = confirm(client, ticket, f.bearer(world.organizer))
    assert (expired.status_code, expired.json["error"]["code"]) == (410, "login_ticket_expired")

    # Confirmed in time, but collected too late: no session.
    other = scan_ticket(client)["ticket"]
    assert confirm(client, other, f.bearer(world.organizer)).status_code == 200
    clock.advance(seconds=121)
    late = client.get(f"{SESSIONS}/{other}")
    assert (late.status_code, late.json["error"]["code"]) == (410, "login_ticket_expired")
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_only_the_browser_that_made_the_ticket_gets_the_session(app, client, world, simulator, clock):
    ticket = scan_ticket(client)["ticket"]
    assert confirm(client, ticket, f.bearer(world.organizer)).status_code == 200
    stranger = app.test_client()
    refused = stranger.get(f"{SESSIONS}/{ticket}")
    assert (refused.status_code, refused.json["error"]["code"]) == (404, "login_ticket_not_found")
    stranger.set_cookie("vs_console_ticket", "a-guessed-secret", path=SESSIONS)
    assert stranger.get(f"{SESSIONS}/{ticket}").status_code == 404
    assert "vs_console" not in set_cookies(refused)
    # The right browser still gets it.
    assert client.get(f"{SESSIONS}/{ticket}").json["status"] == "confirmed"


def test_only_volunteers_and_role_holders_may_confirm(client, world, simulator, clock):
    stranger = f.account("sim_stranger", clock.now)  # logged in once, never registered, no role
    db.session.commit()
    ticket = scan_ticket(client)["ticket"]
    refused = confirm(client, ticket, f.bearer(stranger))
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "no_console_role")
    assert "小程序" in refused.json["error"]["message"]
    assert client.get(f"{SESSIONS}/{ticket}").json["status"] == "pending"  # the ticket is not spent
    me = log_in(client, f.bearer(world.captain))
    assert me["scopes"][0]["role"] == "captain"
    assert confirm(client, ticket, {}).json["error"]["code"] == "missing_token"


def test_an_approved_volunteer_without_a_role_logs_in_with_no_scopes(app, world, simulator, clock):
    browser = app.test_client()
    me = log_in(browser, f.bearer(world.alice.account))
    assert me["account_id"] == world.alice.account_id and me["scopes"] == []
    assert browser.get("/api/v1/console/me").json["scopes"] == []
    # ...and the console can show them their (empty) list of organisations to apply for one.
    listed = browser.get("/api/v1/organizations")
    assert listed.status_code == 200 and listed.json["items"] == []


@pytest.mark.parametrize("ticket", ["unknown", "A" * 24, "x" * 200, "%00"])
def test_unknown_tickets_are_not_found(client, world, ticket):
    assert client.get(f"{SESSIONS}/{ticket}").json["error"]["code"] == "login_ticket_not_found"
    assert confirm(client, ticket, f.bearer(world.organizer)).json["error"]["code"] == "login_ticket_not_found"


def test_wechat_down_is_503_and_stores_no_ticket(client, world, simulator):
    simulator.fault(api="wxacode", errcode=-1, count=1)
    db.session.commit()
    answer = client.post(SESSIONS)
    assert (answer.status_code, answer.json["error"]["code"]) == (503, "wechat_unavailable")
    assert "vs_console_ticket" not in set_cookies(answer)
    assert db.session.scalar(select(func.count()).select_from(ConsoleLoginTicket)) == 0


def test_every_login_is_a_new_session(client, world, simulator, clock):
    first = log_in(client, f.bearer(world.organizer))
    first_cookie = client.get_cookie("vs_console").value
    second = log_in(client, f.bearer(world.organizer))
    assert client.get_cookie("vs_console").value != first_cookie
    assert first["csrf_token"] != second["csrf_token"]
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 2


# --- the cookie session ------------------------------------------------------------------------------

@pytest.fixture
def browser(app, client, world, clock):
    """A browser logged in as the organiser by a login link; `me` is its ConsoleMe."""
    token = _login_link("sim_org")
    answer = client.post(f"/api/v1/console/login-links/{token}")
    assert answer.status_code == 200, answer.json
    client.me = answer.json
    return client


def _login_link(openid: str) -> str:
    from flask import current_app

    result = current_app.test_cli_runner().invoke(args=["console", "login-link", "--openid", openid])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith("http://127.0.0.1:5000/console/login?link=")
    return url.split("link=", 1)[1]


def _team_name(team_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Team, team_id).name


def test_writes_by_cookie_need_the_csrf_header(browser, world):
    url = f"/api/v1/teams/{world.team.id}"
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": browser.me["csrf_token"] + "x"}):
        refused = browser.patch(url, json={"name": "改名队"}, headers=headers)
        assert (refused.status_code, refused.json["error"]["code"]) == (403, "csrf_failed"), headers
    assert _team_name(world.team.id) == "医疗队"
    accepted = browser.patch(url, json={"name": "改名队"}, headers={"X-CSRF-Token": browser.me["csrf_token"]})
    assert accepted.status_code == 200, accepted.json
    assert _team_name(world.team.id) == "改名队"
    # Reads need no header.
    assert browser.get("/api/v1/me/messages").status_code == 200


def _session_of(app, openid: str):
    client = app.test_client()
    me = client.post(f"/api/v1/console/login-links/{_login_link(openid)}").json
    return client, {"X-CSRF-Token": me["csrf_token"]}


def test_an_organiser_session_cannot_touch_the_other_organisations_team(app, world, clock):
    """A session has its account's rights and no more."""
    other = world.other_team
    db.session.commit()
    client, csrf = _session_of(app, "sim_org")
    refused = client.patch(f"/api/v1/teams/{other.id}", json={"name": "改名队"}, headers=csrf)
    assert refused.status_code == 403
    assert _team_name(other.id) == "乙队"
    assert client.patch(f"/api/v1/teams/{world.team.id}", json={"name": "改名队"}, headers=csrf).status_code == 200


def test_a_captain_session_sees_only_its_teams_activities(app, world, clock):
    own = world.activity
    other = f.activity(world.other_org, world.tree["other_community"], clock.now, team_row=world.other_team)
    world.other_captain
    db.session.commit()
    client, _ = _session_of(app, "sim_captain")
    assert client.get(f"/api/v1/activities/{own.id}/signups").status_code == 200
    assert client.get(f"/api/v1/activities/{other.id}/signups").status_code in (403, 404)


def test_an_admin_session_stays_in_its_region(app, world, clock):
    from models import Organization, OrganizationStatus

    pending = f.organization("乙区新协会", world.tree["other_district"], clock.now, status=OrganizationStatus.PENDING)
    world.admin
    db.session.commit()
    client = app.test_client()
    me = client.post(f"/api/v1/console/login-links/{_login_link('sim_admin')}").json
    refused = client.post(f"/api/v1/organizations/{pending.id}/review", json={"decision": "approve"},
                          headers={"X-CSRF-Token": me["csrf_token"]})
    assert refused.status_code == 403, refused.json
    db.session.expire_all()
    assert db.session.get(Organization, pending.id).status is OrganizationStatus.PENDING


def test_bearer_requests_are_unaffected_and_never_look_at_sessions(app, browser, world):
    statements: list[str] = []

    def remember(conn, cursor, statement, *args):
        statements.append(statement)

    headers = f.bearer(world.organizer)
    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        # A bearer token wins over any cookie, and its writes need no CSRF header.
        assert browser.get("/api/v1/me/messages", headers=headers).status_code == 200
        written = browser.patch(f"/api/v1/teams/{world.team.id}", json={"name": "改名队"}, headers=headers)
        assert written.status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert statements and not [s for s in statements if "console_sessions" in s]
    # A broken Authorization header is refused as before, cookie or not.
    assert browser.get(ME, headers={"Authorization": "Basic x"}).json["error"]["code"] == "missing_token"


def test_console_routes_need_the_cookie_not_a_token(client, world):
    answer = client.get(ME, headers=f.bearer(world.organizer))
    assert (answer.status_code, answer.json["error"]["code"]) == (401, "console_session_required")
    assert client.delete("/api/v1/console/session", headers=f.bearer(world.organizer)).status_code == 401


def test_me_lists_every_role_with_its_scope_and_the_own_name_unmasked(browser, world, clock):
    from app.services import roles
    from models import Role

    roles.grant(world.organizer.id, Role.CAPTAIN, team_id=world.team.id, now=clock.now)
    roles.grant(world.organizer.id, Role.ADMIN, region_id=world.tree["street"].id, now=clock.now)
    f.volunteer(world.organizer, world.tree["community"], clock.now, real_name="王组织")
    db.session.commit()
    me = browser.get(ME).json
    assert me["display_name"] == "王组织"
    assert me["account_id"] == world.organizer.id and me["csrf_token"] == browser.me["csrf_token"]
    org, team, street = world.org, world.team, world.tree["street"]
    assert me["scopes"] == [
        {"key": f"organizer:{org.id}", "role": "organizer", "label": "甲区志愿者协会 · 组织者",
         "organization": {"id": org.id, "name": "甲区志愿者协会"}, "team": None, "region": None},
        {"key": f"captain:{team.id}", "role": "captain", "label": "甲区志愿者协会 · 医疗队 · 队长",
         "organization": {"id": org.id, "name": "甲区志愿者协会"},
         "team": {"id": team.id, "name": "医疗队", "organization_id": org.id}, "region": None},
        {"key": f"admin:{street.id}", "role": "admin", "label": f"{street.name} · 管理员", "organization": None,
         "team": None, "region": {"id": street.id, "name": street.name, "level": "street"}},
    ]


def test_idle_sessions_expire_and_use_keeps_them_alive(browser, clock):
    assert browser.me["session_expires_at"].startswith("2026-11-23T04:00:00")  # 120 minutes idle
    clock.advance(minutes=119)
    kept = browser.get(ME).json
    assert kept["session_expires_at"].startswith("2026-11-23T05:59:00")
    clock.advance(minutes=119)
    assert browser.get(ME).status_code == 200
    clock.advance(minutes=120)
    expired = browser.get(ME)
    assert (expired.status_code, expired.json["error"]["code"]) == (401, "session_expired")


def test_last_seen_moves_at_most_once_a_minute(browser, clock):
    def last_seen():
        db.session.expire_all()
        return db.session.scalar(select(ConsoleSession.last_seen_at))

    start = last_seen()
    clock.advance(seconds=59)
    assert browser.get(ME).status_code == 200 and last_seen() == start
    clock.advance(seconds=1)
    assert browser.get(ME).status_code == 200 and last_seen() == clock.now


def test_sessions_end_after_twelve_hours_whatever_happens(browser, clock):
    for _ in range(7):
        clock.advance(minutes=100)
        assert browser.get(ME).status_code == 200
    me = browser.get(ME).json
    assert me["session_expires_at"].startswith("2026-11-23T14:00:00")  # the absolute limit is nearer than idle
    clock.advance(minutes=20)
    assert browser.get(ME).json["error"]["code"] == "session_expired"


def test_logout_ends_the_session_and_clears_the_cookie(browser):
    refused = browser.delete("/api/v1/console/session")
    assert refused.json["error"]["code"] == "csrf_failed"
    answer = browser.delete("/api/v1/console/session", headers={"X-CSRF-Token": browser.me["csrf_token"]})
    assert answer.status_code == 204 and answer.get_data() == b""
    cleared = set_cookies(answer)["vs_console"]
    assert cleared.startswith("vs_console=;") and "Max-Age=0" in cleared
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 0
    assert browser.get(ME).json["error"]["code"] == "missing_token"  # the browser dropped the cookie


def test_a_logged_out_cookie_replayed_is_refused(app, browser):
    stolen = browser.get_cookie("vs_console").value
    browser.delete("/api/v1/console/session", headers={"X-CSRF-Token": browser.me["csrf_token"]})
    replay = app.test_client()
    replay.set_cookie("vs_console", stolen)
    assert replay.get(ME).json["error"]["code"] == "session_expired"


@pytest.mark.parametrize("how, code", [("disable", "account_disabled"), ("revoke", "token_revoked"),
                                       ("delete", "session_expired")])
def test_revoking_the_account_ends_its_console_sessions(browser, world, clock, how, code):
    if how == "disable":
        accounts.disable(world.organizer.id, actor_account_id=None, reason="测试", now=clock.now)
    elif how == "revoke":
        accounts.revoke_tokens(world.organizer.id)
    else:
        accounts.delete(world.organizer, confirmation="注销", now=clock.now)
    db.session.commit()
    answer = browser.get(ME)
    assert (answer.status_code, answer.json["error"]["code"]) == (401, code)
    if how == "disable":
        accounts.enable(world.organizer.id, actor_account_id=None, now=clock.now)
        db.session.commit()
        assert browser.get(ME).json["error"]["code"] == "token_revoked"  # enabling does not revive it
    if how == "delete":
        assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_cookies_are_secure_outside_localhost(app, world, clock):
    for base_url, secure in (("http://localhost", False), ("http://127.0.0.1:5000", False),
                             ("https://volunteer.example.org", True)):
        client = app.test_client()
        answer = client.post(f"/api/v1/console/login-links/{_login_link('sim_org')}", base_url=base_url)
        cookie = set_cookies(answer)["vs_console"]
        assert ("Secure" in cookie) is secure, (base_url, cookie)
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


# --- login links -------------------------------------------------------------------------------------

def test_a_login_link_works_once(app, client, world, clock):
    token = _login_link("sim_org")
    first = client.post(f"/api/v1/console/login-links/{token}")
    assert first.status_code == 200 and first.json["account_id"] == world.organizer.id
    assert "vs_console" in set_cookies(first)
    again = app.test_client().post(f"/api/v1/console/login-links/{token}")
    assert (again.status_code, again.json["error"]["code"]) == (404, "login_link_invalid")


def test_a_login_link_lasts_ten_minutes(app, world, clock):
    token, late = _login_link("sim_org"), _login_link("sim_org")
    clock.advance(minutes=9, seconds=59)
    assert app.test_client().post(f"/api/v1/console/login-links/{token}").status_code == 200
    clock.advance(seconds=1)
    expired = app.test_client().post(f"/api/v1/console/login-links/{late}")
    assert (expired.status_code, expired.json["error"]["code"]) == (404, "login_link_invalid")


def test_the_login_link_command_refuses_unknown_accounts_and_accounts_without_a_console_role(app, world):
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["console", "login-link", "--openid", "sim_nobody"])
    assert unknown.exit_code != 0 and "account_not_found" in unknown.output
    f.account("sim_stranger", world.now)
    db.session.commit()
    stranger = runner.invoke(args=["console", "login-link", "--openid", "sim_stranger"])
    assert stranger.exit_code != 0 and "no_console_role" in stranger.output
    assert runner.invoke(args=["console", "login-link", "--openid", "sim_alice"]).exit_code == 0
    custom = runner.invoke(args=["console", "login-link", "--openid", "sim_captain",
                                 "--base-url", "https://volunteer.example.org/"])
    assert custom.exit_code == 0 and custom.output.startswith("https://volunteer.example.org/console/login?link=")


def test_a_login_link_of_an_account_that_lost_its_roles_logs_nobody_in(client, world):
    from app.services import roles

    token = _login_link("sim_captain")
    roles.revoke_captain(world.captain.id, world.team.id)
    db.session.commit()
    refused = client.post(f"/api/v1/console/login-links/{token}")
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "no_console_role")
    assert "vs_console" not in set_cookies(refused)


def test_another_site_cannot_start_a_login(app, world, clock):
    """Login CSRF: a page elsewhere must not log this browser in as the page owner's account."""
    token = _login_link("sim_org")
    client = app.test_client()
    for url in (f"/api/v1/console/login-links/{token}", SESSIONS):
        refused = client.post(url, headers={"Sec-Fetch-Site": "cross-site"})
        assert (refused.status_code, refused.json["error"]["code"]) == (403, "cross_site_login")
        assert not set_cookies(refused)
    answer = client.post(f"/api/v1/console/login-links/{token}", headers={"Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 200  # the link was not spent by the refused attempt


def test_an_empty_session_cookie_is_no_session(client, world):
    client.set_cookie("vs_console", "")
    assert client.get(ME).json["error"]["code"] == "missing_token"
    client.set_cookie("vs_console", "forged")
    assert client.get(ME).json["error"]["code"] == "session_expired"


# --- at once -----------------------------------------------------------------------------------------

def test_a_ticket_and_a_link_are_spent_once_whatever_arrives_at_once(app, client, world, simulator, clock):
    """The conditional UPDATEs on status and used_at, not an if, make them single-use (10 requests at once)."""
    from tests.fakes import fire, serve

    ticket = scan_ticket(client)["ticket"]
    token = _login_link("sim_org")
    headers = f.bearer(world.organizer)
    db.session.commit()
    with serve(app) as base_url:
        confirms = fire(base_url, f"{SESSIONS}/{ticket}/confirm", [({}, headers)] * 10)
        redeems = fire(base_url, f"/api/v1/console/login-links/{token}", [({}, {})] * 10)
    assert sorted(status for status, _ in confirms) == [200] + [404] * 9
    assert sorted(status for status, _ in redeems) == [200] + [404] * 9
    assert client.get(f"{SESSIONS}/{ticket}").json["status"] == "confirmed"
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 2
