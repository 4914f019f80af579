"""The console's logins as services, with explicit `now`: tickets, links, sessions and what a session shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db, settings
from app.services import accounts, console_sessions as cs
from models import AuditLog, ConsoleLoginLink, ConsoleLoginTicket, ConsoleSession, TicketStatus, VolunteerStatus
from tests import factories as f


@pytest.fixture
def lifetimes(app_context) -> cs.Lifetimes:
    return cs.Lifetimes.from_settings(settings()["console"])


@pytest.fixture
def world(world):
    return world.build("org", "organizer", "alice")


def code_of(call) -> str:
    with pytest.raises(DomainError) as refused:
        call()
    return refused.value.code


def ticket(lifetimes, now) -> tuple[str, str]:
    made, secret = cs.new_ticket()
    cs.open_ticket(made, secret, lifetimes=lifetimes, now=now)
    return made, secret


def test_the_defaults_are_the_issues(lifetimes):
    assert lifetimes == cs.Lifetimes(session_idle=timedelta(minutes=120), session_max=timedelta(hours=12),
                                     ticket=timedelta(minutes=2), link=timedelta(minutes=10))


def test_a_ticket_fits_a_mini_program_code_scene_and_its_secret_is_stored_as_a_digest(world, lifetimes, now):
    made, secret = ticket(lifetimes, now)
    assert len(made) == 24 and cs._TICKET.fullmatch(made)
    row = db.session.scalar(select(ConsoleLoginTicket))
    assert row.browser_secret_hash == cs.digest(secret) and secret not in row.browser_secret_hash
    assert (row.status, row.expires_at) == (TicketStatus.PENDING, now + timedelta(minutes=2))


def test_pending_confirmed_consumed(world, lifetimes, now):
    made, secret = ticket(lifetimes, now)
    assert cs.poll(made, secret, lifetimes=lifetimes, now=now) is None
    cs.confirm(world.organizer.id, made, now=now + timedelta(seconds=10))
    opened = cs.poll(made, secret, lifetimes=lifetimes, now=now + timedelta(seconds=11))
    assert opened.state.account_id == world.organizer.id
    assert code_of(lambda: cs.poll(made, secret, lifetimes=lifetimes, now=now + timedelta(seconds=12))) \
        == "login_ticket_not_found"
    row = db.session.scalar(select(ConsoleSession))
    assert row.session_hash == cs.digest(opened.session_id) and opened.session_id not in row.session_hash
    assert row.idle_expires_at == now + timedelta(seconds=11, minutes=120)
    assert row.expires_at == now + timedelta(seconds=11, hours=12)
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "console.login"))
    assert audit.actor_account_id == world.organizer.id and audit.detail["method"] == "scan"


def test_a_ticket_is_confirmed_once(world, lifetimes, now):
    made, _ = ticket(lifetimes, now)
    cs.confirm(world.organizer.id, made, now=now)
    other = f.organizer("sim_second", world.org, now)
    assert code_of(lambda: cs.confirm(other.id, made, now=now)) == "login_ticket_not_found"
    assert db.session.scalar(select(ConsoleLoginTicket.account_id)) == world.organizer.id


def test_expired_tickets_are_gone_for_confirm_and_poll(world, lifetimes, now):
    made, secret = ticket(lifetimes, now)
    later = now + timedelta(minutes=2)
    assert code_of(lambda: cs.confirm(world.organizer.id, made, now=later)) == "login_ticket_expired"
    assert code_of(lambda: cs.poll(made, secret, lifetimes=lifetimes, now=later)) == "login_ticket_expired"


def test_an_account_without_a_role_or_an_approved_registration_cannot_confirm_and_the_ticket_stays(
        world, lifetimes, now):
    stranger = f.account("sim_stranger", now)
    pending = f.volunteer(f.account("sim_pending", now), world.tree["community"], now, status=VolunteerStatus.PENDING)
    suspended = f.approved_volunteer("sim_suspended", world.tree["community"], now)
    suspended.status = VolunteerStatus.SUSPENDED
    db.session.flush()
    made, secret = ticket(lifetimes, now)
    for account_id in (stranger.id, pending.account_id, suspended.account_id):
        assert code_of(lambda: cs.confirm(account_id, made, now=now)) == "no_console_role"
    assert cs.poll(made, secret, lifetimes=lifetimes, now=now) is None


def test_an_approved_volunteer_without_a_role_may_log_in_with_no_scopes(world, lifetimes, now):
    made, secret = ticket(lifetimes, now)
    cs.confirm(world.alice.account_id, made, now=now)
    opened = cs.poll(made, secret, lifetimes=lifetimes, now=now)
    assert opened is not None and opened.state.account_id == world.alice.account_id
    assert cs.console_user(world.alice.account_id).scopes == []


@pytest.mark.parametrize("secret", [None, "", "guess"])
def test_another_browser_learns_nothing(world, lifetimes, now, secret):
    made, _ = ticket(lifetimes, now)
    cs.confirm(world.organizer.id, made, now=now)
    assert code_of(lambda: cs.poll(made, secret, lifetimes=lifetimes, now=now)) == "login_ticket_not_found"


def test_long_expired_tickets_are_swept_when_a_new_one_is_made(world, lifetimes, now):
    ticket(lifetimes, now)
    ticket(lifetimes, now + timedelta(hours=2))
    assert db.session.scalar(select(func.count()).select_from(ConsoleLoginTicket)) == 1


def _session(world, lifetimes, now) -> cs.OpenedSession:
    return cs.open_session(world.organizer.id, method="link", lifetimes=lifetimes, now=now)


def _auth(opened, now, *, csrf=None, is_write=False):
    return cs.authenticate(opened.session_id, csrf_token=csrf, is_write=is_write,
                           session_idle=timedelta(minutes=120), now=now)


def test_authenticate_checks_csrf_on_writes_only(world, lifetimes, now):
    opened = _session(world, lifetimes, now)
    assert _auth(opened, now).account_id == world.organizer.id
    for wrong in (None, "", "x", opened.state.csrf_token.upper()):
        assert code_of(lambda: _auth(opened, now, csrf=wrong, is_write=True)) == "csrf_failed"
    assert _auth(opened, now, csrf=opened.state.csrf_token, is_write=True).id == opened.state.id


def test_unknown_sessions_are_expired(world, lifetimes, now):
    opened = _session(world, lifetimes, now)
    forged = cs.OpenedSession("not-a-session", opened.state, 0)
    assert code_of(lambda: _auth(forged, now)) == "session_expired"


def test_idle_expiry_moves_with_use_but_never_past_the_absolute_one(world, lifetimes, now):
    opened = _session(world, lifetimes, now)
    at = now + timedelta(minutes=119)
    assert _auth(opened, at).expires_at == at + timedelta(minutes=120)
    last = now + timedelta(hours=11, minutes=30)
    for step in range(1, 8):  # used every 100 minutes up to 11 h 40 min
        _auth(opened, now + timedelta(minutes=100 * step))
    assert _auth(opened, last).expires_at == now + timedelta(hours=12)
    assert code_of(lambda: _auth(opened, now + timedelta(hours=12))) == "session_expired"


def test_an_idle_session_expires(world, lifetimes, now):
    opened = _session(world, lifetimes, now)
    assert code_of(lambda: _auth(opened, now + timedelta(minutes=120))) == "session_expired"


def test_a_generation_bump_ends_the_session_and_deletion_removes_it(world, lifetimes, now):
    opened = _session(world, lifetimes, now)
    accounts.revoke_tokens(world.organizer.id)
    assert code_of(lambda: _auth(opened, now)) == "token_revoked"
    fresh = _session(world, lifetimes, now)
    assert _auth(fresh, now).account_id == world.organizer.id
    accounts.delete(world.organizer, confirmation="注销", now=now)
    assert code_of(lambda: _auth(fresh, now)) == "session_expired"
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_a_disabled_account_opens_no_session(world, lifetimes, now):
    accounts.disable(world.organizer.id, actor_account_id=None, reason="测试", now=now)
    assert code_of(lambda: _session(world, lifetimes, now)) == "account_disabled"


def test_ended_sessions_are_swept_at_the_next_login(world, lifetimes, now):
    _session(world, lifetimes, now)
    _session(world, lifetimes, now + timedelta(minutes=121))
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 1


def test_logout_ends_only_that_session(world, lifetimes, now):
    first, second = _session(world, lifetimes, now), _session(world, lifetimes, now)
    cs.end(first.state.id)
    assert code_of(lambda: _auth(first, now)) == "session_expired"
    assert _auth(second, now).id == second.state.id


def test_login_links_once_within_their_lifetime(world, lifetimes, now):
    token = cs.create_login_link("sim_org", lifetimes=lifetimes, now=now)
    stored = db.session.scalar(select(ConsoleLoginLink))
    assert stored.token_hash == cs.digest(token) and stored.expires_at == now + timedelta(minutes=10)
    opened = cs.redeem_login_link(token, lifetimes=lifetimes, now=now + timedelta(minutes=9))
    assert opened.state.account_id == world.organizer.id
    assert code_of(lambda: cs.redeem_login_link(token, lifetimes=lifetimes, now=now)) == "login_link_invalid"
    late = cs.create_login_link("sim_org", lifetimes=lifetimes, now=now)
    assert code_of(lambda: cs.redeem_login_link(late, lifetimes=lifetimes, now=now + timedelta(minutes=10))) \
        == "login_link_invalid"
    assert code_of(lambda: cs.redeem_login_link("made-up", lifetimes=lifetimes, now=now)) == "login_link_invalid"


def test_login_links_only_for_live_console_users(world, lifetimes, now):
    assert code_of(lambda: cs.create_login_link("sim_nobody", lifetimes=lifetimes, now=now)) == "account_not_found"
    f.account("sim_stranger", now)
    assert code_of(lambda: cs.create_login_link("sim_stranger", lifetimes=lifetimes, now=now)) == "no_console_role"
    assert cs.create_login_link(world.alice.account.mp_openid, lifetimes=lifetimes, now=now)
    accounts.disable(world.organizer.id, actor_account_id=None, reason="测试", now=now)
    assert code_of(lambda: cs.create_login_link("sim_org", lifetimes=lifetimes, now=now)) == "account_disabled"


def test_the_display_name_is_the_own_real_name_or_the_account(world, now):
    assert cs.console_user(world.organizer.id).display_name == f"账号 {world.organizer.id}"
    volunteer = f.volunteer(world.organizer, world.tree["community"], now, real_name="王组织")
    assert cs.console_user(world.organizer.id).display_name == "王组织"
    volunteer.status = VolunteerStatus.DELETED
    assert cs.console_user(world.organizer.id).display_name == f"账号 {world.organizer.id}"


def test_scopes_label_every_grant(world, now):
    admin = world.admin
    user = cs.console_user(admin.id)
    district = world.tree["district"]
    assert [(s.key, s.role.value, s.label, s.region.id) for s in user.scopes] == [
        (f"admin:{district.id}", "admin", f"{district.name} · 管理员", district.id)]
    assert cs.console_user(world.alice.account_id).scopes == []


def test_tickets_are_rationed_cluster_wide(app_context):
    from app.extensions import get_redis

    for _ in range(3):
        cs.require_ticket_budget(get_redis(), rate=0.001, capacity=3)
    assert code_of(lambda: cs.require_ticket_budget(get_redis(), rate=0.001, capacity=3)) == "too_many_requests"


def test_without_redis_tickets_are_not_held_back(make_app):
    import redis

    app = make_app(redis={"url": "redis://127.0.0.1:9/0"})
    with app.app_context():
        cs.require_ticket_budget(redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5))
