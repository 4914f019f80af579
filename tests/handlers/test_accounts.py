"""A token is only as good as its account: removed, disabled, revoked and deleted accounts get 401.

And account deletion (注销) over HTTP: DELETE /api/v1/me with {"confirm": "注销"}.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import pii
from app.extensions import db, settings
from app.resident_id import check_character
from app.services import accounts, signups
from models import (Account, AuditLog, Checkin, CheckinMethod, MembershipStatus, Notification, NotificationStatus,
                    RecordKind, RoleGrant, ServiceRecord, Signup, SignupStatus, SubscriptionCredit, TeamMembership,
                    Volunteer, VolunteerStatus)
from tests import factories as f

ID_FIRST17 = "11010519900307123"
ID_NUMBER = ID_FIRST17 + check_character(ID_FIRST17)
DELETE_BODY = {"confirm": "注销"}


@pytest.fixture(autouse=True)
def pinned_clock(app, now):
    app.extensions["clock"] = lambda: now


def _api_routes(app) -> list[tuple[str, str]]:
    """Every (method, URL) of /api/v1, with 1 for each id in the path."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, url))
    return routes


def _authenticated_routes(app, client) -> list[tuple[str, str]]:
    """The routes that ask for a login: without a token they answer missing_token."""
    found = []
    for method, url in _api_routes(app):
        answer = client.open(url, method=method, json={})
        if answer.status_code == 401 and answer.json["error"]["code"] == "missing_token":
            found.append((method, url))
    return found


@pytest.fixture
def people(app_context, now):
    tree = f.region_tree()
    gone = f.account("sim_gone", now)
    disabled = f.account("sim_disabled", now)
    revoked = f.account("sim_revoked", now)
    db.session.commit()
    tokens = {name: f.token_for(row) for name, row in (("gone", gone), ("disabled", disabled), ("revoked", revoked))}
    # The account row itself is removed (by an operator, say): nothing else points at it.
    db.session.delete(gone)
    accounts.disable(disabled.id, actor_account_id=None, reason="测试", now=now)
    accounts.revoke_tokens(revoked.id)
    db.session.commit()
    return dict(tree=tree, tokens=tokens, disabled_id=disabled.id, revoked_id=revoked.id)


def test_every_authenticated_route_refuses_a_removed_disabled_or_revoked_account(app, client, people):
    routes = _authenticated_routes(app, client)
    # The ones the issue names, where no handler ever loaded the account before.
    assert {("GET", "/api/v1/me/messages"), ("GET", "/api/v1/activities"), ("POST", "/api/v1/me/subscriptions"),
            ("POST", "/api/v1/activities/1/scans"), ("DELETE", "/api/v1/me")} <= set(routes)
    assert len(routes) > 40
    expected = {"gone": "invalid_token", "disabled": "account_disabled", "revoked": "token_revoked"}
    for name, code in expected.items():
        headers = {"Authorization": f"Bearer {people['tokens'][name]}"}
        for method, url in routes:
            # Only DELETE /me takes a body on every route here; elsewhere a stray body is refused as such.
            body = {"confirm": "注销"} if (method, url) == ("DELETE", "/api/v1/me") else None
            answer = client.open(url, method=method, json=body, headers=headers)
            assert (answer.status_code, answer.json["error"]["code"]) == (401, code), (name, method, url)
    # Nothing was written for any of them.
    assert db.session.scalar(select(func.count()).select_from(SubscriptionCredit)) == 0
    assert db.session.scalar(select(func.count()).select_from(Volunteer)) == 0


def test_subscriptions_of_a_removed_account_is_401_not_500(client, people):
    answer = client.post("/api/v1/me/subscriptions", json={"results": []},
                         headers={"Authorization": f"Bearer {people['tokens']['gone']}"})
    assert answer.status_code == 401 and answer.json["error"]["code"] == "invalid_token"


def test_a_new_login_after_revocation_works_and_the_old_token_stays_revoked(client, people, now):
    revoked = db.session.get(Account, people["revoked_id"])
    fresh = {"Authorization": f"Bearer {f.token_for(revoked)}"}
    assert client.get("/api/v1/me/messages", headers=fresh).status_code == 200
    old = {"Authorization": f"Bearer {people['tokens']['revoked']}"}
    assert client.get("/api/v1/me/messages", headers=old).json["error"]["code"] == "token_revoked"


def test_enabling_a_disabled_account_does_not_revive_its_old_tokens(client, people, now):
    accounts.enable(people["disabled_id"], actor_account_id=None, now=now)
    db.session.commit()
    old = {"Authorization": f"Bearer {people['tokens']['disabled']}"}
    assert client.get("/api/v1/me/messages", headers=old).json["error"]["code"] == "token_revoked"
    fresh = {"Authorization": f"Bearer {f.token_for(db.session.get(Account, people['disabled_id']))}"}
    assert client.get("/api/v1/me/messages", headers=fresh).status_code == 200
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.target_id == people["disabled_id"])).all()
    assert actions == ["account.disabled", "account.enabled"]


def test_a_token_from_before_generations_is_generation_zero(client, people, now):
    from itsdangerous import URLSafeTimedSerializer

    fresh = f.account("sim_legacy", now)
    db.session.commit()
    legacy = URLSafeTimedSerializer(settings()["app"]["secret_key"], salt="api-login-v1").dumps({"a": fresh.id})
    assert client.get("/api/v1/me/messages", headers={"Authorization": f"Bearer {legacy}"}).status_code == 200
    accounts.revoke_tokens(fresh.id)
    db.session.commit()
    assert client.get("/api/v1/me/messages", headers={"Authorization": f"Bearer {legacy}"}).status_code == 401


@pytest.mark.parametrize("payload", [{"a": 1, "g": "0"}, {"a": 1, "g": True}, {"a": 1, "g": None}, [1, 0]])
def test_malformed_generations_are_invalid_tokens(client, people, payload):
    from itsdangerous import URLSafeTimedSerializer

    token = URLSafeTimedSerializer(settings()["app"]["secret_key"], salt="api-login-v1").dumps(payload)
    answer = client.get("/api/v1/me/messages", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401 and answer.json["error"]["code"] == "invalid_token"


def test_ids_are_never_reused_so_an_old_token_cannot_speak_for_a_new_person(client, app_context, now):
    first = f.account("sim_first", now)
    db.session.commit()
    old_id, old_headers = first.id, f.bearer(first)
    db.session.delete(first)  # the only, hence the largest, id: SQLite without AUTOINCREMENT would hand it out again
    db.session.commit()
    second = f.account("sim_second", now)
    db.session.commit()
    assert second.id != old_id
    assert client.get("/api/v1/me/messages", headers=old_headers).json["error"]["code"] == "invalid_token"
    tree = f.region_tree()
    one = f.volunteer(second, tree["community"], now)
    db.session.commit()
    one_id = one.id
    db.session.delete(one)
    db.session.commit()
    assert f.volunteer(second, tree["community"], now).id != one_id


def test_login_of_a_disabled_account_is_refused(client, simulator, app_context, now):
    assert client.post("/api/v1/auth/login", json={"code": "zoe"}).status_code == 200
    account = db.session.scalar(select(Account).where(Account.mp_openid == "sim_zoe"))
    accounts.disable(account.id, actor_account_id=None, reason="测试", now=now)
    db.session.commit()
    refused = client.post("/api/v1/auth/login", json={"code": "zoe"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "account_disabled"


# --- DELETE /api/v1/me ---------------------------------------------------------------------------

@pytest.fixture
def world(app_context, now):
    """An approved volunteer with history: a finished activity with a record, a future sign-up with
    someone waiting behind, a team membership, a captain grant, a pending message and credits."""
    tree = f.region_tree()
    org = f.organization("甲区志愿者协会", tree["district"], now)
    team = f.team(org, "敬老队", now)
    organizer = f.organizer("sim_org", org, now)
    me = f.approved_volunteer("sim_me", tree["community"], now, real_name="王小明", guardian_name="王大明",
                              guardian_mobile="13800000001",
                              id_number_digest=pii.digest(ID_NUMBER, settings()["app"]["pii_key"]),
                              id_number_encrypted=pii.encrypt(ID_NUMBER, settings()["app"]["pii_key"]),
                              checkin_secret="ABCDEFGH")
    other = f.approved_volunteer("sim_other", tree["community"], now, real_name="李四")
    past = f.activity(org, tree["community"], now, team_row=team, starts_in=timedelta(days=-3))
    future = f.activity(org, tree["community"], now, team_row=team, capacity=1, title="重阳节探访")
    for volunteer, minutes in ((me, 180), (other, 120)):
        signup = Signup(activity_id=past.id, volunteer_id=volunteer.id, status=SignupStatus.APPROVED,
                        created_at=now, updated_at=now)
        db.session.add(signup)
        db.session.flush()
        checkin = Checkin(activity_id=past.id, volunteer_id=volunteer.id, signup_id=signup.id,
                          checked_in_at=past.starts_at, checkin_method=CheckinMethod.MANUAL,
                          checked_out_at=past.starts_at + timedelta(minutes=minutes),
                          checkout_method=CheckinMethod.MANUAL)
        db.session.add(checkin)
        db.session.flush()
        db.session.add(ServiceRecord(volunteer_id=volunteer.id, activity_id=past.id, checkin_id=checkin.id,
                                     kind=RecordKind.ATTENDANCE, minutes=minutes, created_at=now))
        volunteer.total_service_minutes, volunteer.service_record_count = minutes, 1
    db.session.add(TeamMembership(team_id=team.id, volunteer_id=me.id, status=MembershipStatus.ACTIVE, created_at=now))
    db.session.add(TeamMembership(team_id=team.id, volunteer_id=other.id, status=MembershipStatus.ACTIVE,
                                  created_at=now))
    db.session.flush()
    from app.services import roles
    from models import Role

    roles.grant(me.account_id, Role.CAPTAIN, team_id=team.id, now=now)
    f.subscribe_credit(me.account, "signup_result", now, count=3)
    mine, _ = signups.apply(me.account, future.id, join_waitlist=False, now=now)
    waiting, _ = signups.apply(other.account, future.id, join_waitlist=True, now=now)
    db.session.commit()
    assert (mine.status, waiting.status) == (SignupStatus.APPROVED, SignupStatus.WAITLISTED)
    return dict(tree=tree, org=org, team_id=team.id, organizer=organizer, me=me, other=other, past_id=past.id,
                future_id=future.id, my_signup_id=mine.id, waiting_id=waiting.id,
                me_headers=f.bearer(me.account), organizer_headers=f.bearer(organizer))


def _totals(past_id):
    return (db.session.scalar(select(func.sum(ServiceRecord.minutes)).where(ServiceRecord.activity_id == past_id)),
            db.session.scalar(select(func.count()).select_from(ServiceRecord)),
            db.session.scalar(select(func.count()).select_from(Checkin)),
            db.session.scalar(select(func.count()).select_from(Volunteer)),
            db.session.scalar(select(func.sum(Volunteer.total_service_minutes))))


def test_deleting_my_account_erases_me_revokes_tokens_and_keeps_the_statistics(client, world, now):
    before = _totals(world["past_id"])
    me_id, account_id = world["me"].id, world["me"].account_id
    done = client.delete("/api/v1/me", json=DELETE_BODY, headers=world["me_headers"])
    assert done.status_code == 200, done.json
    assert done.json == {"deleted": True, "signups_cancelled": 1, "memberships_ended": 1, "roles_revoked": 1,
                         "messages_withdrawn": done.json["messages_withdrawn"]}
    db.session.expire_all()
    # Statistics do not move: records, check-ins, the volunteer row and its totals stay.
    assert _totals(world["past_id"]) == before
    volunteer = db.session.get(Volunteer, me_id)
    assert volunteer.status is VolunteerStatus.DELETED and volunteer.real_name == "已注销志愿者"
    assert (volunteer.mobile, volunteer.id_number_encrypted, volunteer.id_number_digest, volunteer.birth_date,
            volunteer.guardian_name, volunteer.guardian_mobile, volunteer.checkin_secret, volunteer.skills) == \
        (None, None, None, None, None, None, None, [])
    assert volunteer.total_service_minutes == 180
    account = db.session.get(Account, account_id)
    assert account.mp_openid == f"deleted:{account_id}" and account.unionid is None and account.oa_openid is None
    assert account.deleted_at == now
    # Every token at once: the same one again is 401, also for the second DELETE.
    again = client.delete("/api/v1/me", json=DELETE_BODY, headers=world["me_headers"])
    assert again.status_code == 401 and again.json["error"]["code"] == "invalid_token"
    assert client.get("/api/v1/me/messages", headers=world["me_headers"]).status_code == 401
    # The future seat went to the waitlist; the past sign-up stays as history.
    assert db.session.get(Signup, world["my_signup_id"]).status is SignupStatus.CANCELLED
    assert db.session.get(Signup, world["waiting_id"]).status is SignupStatus.APPROVED
    assert db.session.scalar(select(Signup.status).where(Signup.activity_id == world["past_id"],
                                                         Signup.volunteer_id == me_id)) is SignupStatus.APPROVED
    # Memberships end, grants go, credits go, nothing is left to send, no inbox text is left.
    assert db.session.scalar(select(TeamMembership.status).where(TeamMembership.volunteer_id == me_id)) \
        is MembershipStatus.REMOVED
    assert db.session.scalar(select(func.count()).select_from(RoleGrant).where(RoleGrant.account_id == account_id)) == 0
    assert db.session.scalar(select(func.count()).select_from(SubscriptionCredit)
                             .where(SubscriptionCredit.account_id == account_id)) == 0
    mine = db.session.scalars(select(Notification).where(Notification.account_id == account_id)).all()
    assert mine and all(n.status is not NotificationStatus.PENDING for n in mine)
    assert all(n.payload == {"text": ""} for n in mine)
    # The audit log says who asked and when, nothing personal.
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "account.deleted"))
    assert (entry.actor_account_id, entry.target_id, entry.created_at) == (account_id, account_id, now)
    assert "王小明" not in str(entry.detail) and "13912345678" not in str(entry.detail)


def test_organisers_see_the_placeholder_in_old_lists(client, world):
    assert client.delete("/api/v1/me", json=DELETE_BODY, headers=world["me_headers"]).status_code == 200
    headers = world["organizer_headers"]
    signups_page = client.get(f"/api/v1/activities/{world['past_id']}/signups", headers=headers).json
    names = {item["volunteer"]["id"]: item["volunteer"]["name"] for item in signups_page["items"]}
    assert names[world["me"].id] == "已注销志愿者" and names[world["other"].id] == "李*"
    cancelled = client.get(f"/api/v1/activities/{world['future_id']}/signups?status=cancelled", headers=headers).json
    assert [item["volunteer"]["name"] for item in cancelled["items"]] == ["已注销志愿者"]
    assert all(item["volunteer"]["mobile"] == "" for item in cancelled["items"])
    members = client.get(f"/api/v1/teams/{world['team_id']}/members?status=removed", headers=headers).json
    assert [item["volunteer"]["name"] for item in members["items"]] == ["已注销志愿者"]


def test_the_same_wechat_user_gets_a_new_account_and_may_register_again(client, simulator, app_context, now):
    tree = f.region_tree()
    db.session.commit()
    token = client.post("/api/v1/auth/login", json={"code": "amy"}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    body = dict(real_name="王小明", mobile="13912345678", id_number=ID_NUMBER, region_id=tree["community"].id)
    assert client.post("/api/v1/volunteers", json=body, headers=headers).status_code == 201
    old_id = db.session.scalar(select(Account.id).where(Account.mp_openid == "sim_amy"))
    assert client.delete("/api/v1/me", json=DELETE_BODY, headers=headers).status_code == 200
    again = client.post("/api/v1/auth/login", json={"code": "amy"}).json
    assert again["registered"] is False
    new_headers = {"Authorization": f"Bearer {again['token']}"}
    assert client.post("/api/v1/volunteers", json=body, headers=new_headers).status_code == 201
    db.session.expire_all()
    new_id = db.session.scalar(select(Account.id).where(Account.mp_openid == "sim_amy"))
    assert new_id != old_id
    assert db.session.scalar(select(func.count()).select_from(Volunteer)) == 2


@pytest.mark.parametrize("body", [None, {}, {"confirm": "yes"}, {"confirm": "注销", "extra": 1}, {"confirm": ""}])
def test_deletion_needs_the_explicit_confirmation_and_changes_nothing_without_it(client, world, body):
    answer = client.delete("/api/v1/me", json=body, headers=world["me_headers"]) if body is not None else \
        client.delete("/api/v1/me", headers=world["me_headers"])
    assert answer.status_code in (415, 422)
    db.session.expire_all()
    assert db.session.get(Volunteer, world["me"].id).status is VolunteerStatus.APPROVED
    assert client.get("/api/v1/me", headers=world["me_headers"]).status_code == 200


def test_a_volunteer_checked_in_right_now_must_check_out_first(client, world, now):
    ongoing = f.activity(world["org"], world["tree"]["community"], now, starts_in=timedelta(hours=-1))
    signup = Signup(activity_id=ongoing.id, volunteer_id=world["me"].id, status=SignupStatus.APPROVED,
                    created_at=now, updated_at=now)
    db.session.add(signup)
    db.session.flush()
    db.session.add(Checkin(activity_id=ongoing.id, volunteer_id=world["me"].id, signup_id=signup.id,
                           checked_in_at=now - timedelta(minutes=30), checkin_method=CheckinMethod.MANUAL))
    db.session.commit()
    refused = client.delete("/api/v1/me", json=DELETE_BODY, headers=world["me_headers"])
    assert refused.status_code == 409 and refused.json["error"]["code"] == "checked_in_now"
    db.session.expire_all()
    assert db.session.get(Volunteer, world["me"].id).real_name == "王小明"
    assert db.session.get(Signup, world["my_signup_id"]).status is SignupStatus.APPROVED
    assert client.get("/api/v1/me", headers=world["me_headers"]).status_code == 200


def test_an_account_without_an_archive_can_be_deleted_too(client, world):
    done = client.delete("/api/v1/me", json=DELETE_BODY, headers=world["organizer_headers"])
    assert done.status_code == 200 and done.json["roles_revoked"] == 1
    assert client.get(f"/api/v1/activities/{world['past_id']}/signups",
                      headers=world["organizer_headers"]).status_code == 401
