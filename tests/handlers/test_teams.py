"""Teams through the HTTP API: creation, join modes, requests, invitations, captains, and who may do what."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services import roles
from models import AuditLog, JoinMode, MembershipStatus, OrganizationStatus, Region, Role, TeamKind, TeamMembership
from tests import factories as f


def membership(team, volunteer, status, now) -> TeamMembership:
    row = TeamMembership(team_id=team.id, volunteer_id=volunteer.id, status=status, created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def world(app, now):
    """甲区协会 with an approval, an open and an invitation team; 乙区协会 with its own team and people."""
    app.extensions["clock"] = lambda: now
    with app.app_context():
        tree = f.region_tree()
        org = f.organization("甲区协会", tree["district"], now)
        team = f.team(org, "医疗队", now)
        open_team = f.team(org, "环保队", now, kind=TeamKind.ENVIRONMENT)
        open_team.join_mode = JoinMode.OPEN
        invite_team = f.team(org, "法律队", now, kind=TeamKind.LEGAL)
        invite_team.join_mode = JoinMode.INVITATION
        other_org = f.organization("乙区协会", tree["other_district"], now)
        other_team = f.team(other_org, "乙队", now)
        community = tree["community"]
        volunteers = {
            "alice": f.approved_volunteer("sim_alice", community, now, real_name="王小明"),
            "bob": f.approved_volunteer("sim_bob", community, now, real_name="李四", mobile="13700001111"),
            "carol": f.approved_volunteer("sim_carol", community, now, real_name="赵六"),
            "dave": f.approved_volunteer("sim_dave", community, now, real_name="钱七"),
            "pending": f.volunteer(f.account("sim_pending", now), community, now),
        }
        membership(team, volunteers["alice"], MembershipStatus.REQUESTED, now)
        membership(team, volunteers["bob"], MembershipStatus.ACTIVE, now)
        membership(team, volunteers["dave"], MembershipStatus.ACTIVE, now)
        roles.grant(volunteers["bob"].account_id, Role.CAPTAIN, team_id=team.id, now=now)
        people = {
            "organizer": f.organizer("sim_org", org, now),
            "captain": f.captain("sim_captain", team, now),
            "other_organizer": f.organizer("sim_other_org", other_org, now),
            "other_captain": f.captain("sim_other_captain", other_team, now),
            "other_admin": f.admin("sim_other_admin", tree["other_district"], now),
            "newcomer": f.account("sim_new", now),
            **{name: v.account for name, v in volunteers.items()},
        }
        world = {"org_id": org.id, "team_id": team.id, "open_team_id": open_team.id,
                 "invite_team_id": invite_team.id, "other_org_id": other_org.id, "district_id": tree["district"].id,
                 "ids": {name: v.id for name, v in volunteers.items()},
                 "headers": {name: f.bearer(account) for name, account in people.items()}}
        world["headers"]["anonymous"] = {}
        db.session.commit()
    return world


def snapshot(app) -> dict[str, list]:
    """Every row of every table, to show that a refused call changed nothing."""
    with app.app_context():
        return {name: db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
                for name, table in db.metadata.tables.items()}


def team_url(world, suffix="", team="team_id") -> str:
    return f"/api/v1/teams/{world[team]}{suffix}"


ENDPOINTS = {
    "create_team": lambda c, w, h: c.post(f"/api/v1/organizations/{w['org_id']}/teams",
                                          json={"name": "新建队", "kind": "medical"}, headers=h),
    "list_teams": lambda c, w, h: c.get(f"/api/v1/organizations/{w['org_id']}/teams", headers=h),
    "patch_team": lambda c, w, h: c.patch(team_url(w), json={"name": "改名队", "join_mode": "open"}, headers=h),
    "appoint_captain": lambda c, w, h: c.post(team_url(w, "/captains"), json={"volunteer_id": w["ids"]["dave"]},
                                              headers=h),
    "dismiss_captain": lambda c, w, h: c.delete(team_url(w, f"/captains/{w['ids']['bob']}"), headers=h),
    "join": lambda c, w, h: c.post(team_url(w, "/join"), headers=h),
    "invite": lambda c, w, h: c.post(team_url(w, "/invitations"), json={"volunteer_id": w["ids"]["carol"]},
                                     headers=h),
    "decide": lambda c, w, h: c.post(team_url(w, f"/members/{w['ids']['alice']}/decision"),
                                     json={"decision": "approve"}, headers=h),
    "remove_member": lambda c, w, h: c.delete(team_url(w, f"/members/{w['ids']['dave']}"), headers=h),
    "list_members": lambda c, w, h: c.get(team_url(w, "/members"), headers=h),
    "my_teams": lambda c, w, h: c.get("/api/v1/me/teams", headers=h),
}

# Who may call each endpoint, and what they get.
ALLOWED = {
    "create_team": [("organizer", 201)],
    "list_teams": [("carol", 200), ("organizer", 200), ("other_admin", 200)],
    "patch_team": [("organizer", 200)],
    "appoint_captain": [("organizer", 201)],
    "dismiss_captain": [("organizer", 200)],
    "join": [("carol", 202)],
    "invite": [("organizer", 201)],
    "decide": [("organizer", 200), ("captain", 200), ("bob", 200)],
    "remove_member": [("organizer", 200)],
    "list_members": [("organizer", 200), ("captain", 200), ("bob", 200)],
    "my_teams": [("alice", 200), ("pending", 200)],
}

# A captain of this team, a captain of another team, an organiser of another organisation, an admin
# of another region subtree, plain volunteers and accounts without an approved archive.
ORGANISER_ONLY = [(who, "not_organizer")
                  for who in ("captain", "bob", "other_captain", "other_organizer", "other_admin", "carol")]
MANAGERS_ONLY = [(who, "not_team_manager") for who in ("other_captain", "other_organizer", "other_admin", "carol",
                                                       "dave")]
NOT_VOLUNTEERS = [(who, "not_approved_volunteer") for who in ("organizer", "captain", "other_captain", "other_admin",
                                                              "newcomer")]
REFUSED = {
    "create_team": ORGANISER_ONLY, "patch_team": ORGANISER_ONLY, "appoint_captain": ORGANISER_ONLY,
    "dismiss_captain": ORGANISER_ONLY, "invite": ORGANISER_ONLY, "remove_member": ORGANISER_ONLY,
    "decide": MANAGERS_ONLY, "list_members": MANAGERS_ONLY,
    "join": NOT_VOLUNTEERS + [("pending", "not_approved_volunteer")],
    "my_teams": NOT_VOLUNTEERS, "list_teams": [],
}
REFUSAL_CASES = [(endpoint, who, 403, code) for endpoint, refusals in REFUSED.items() for who, code in refusals] + [
    (endpoint, "anonymous", 401, "missing_token") for endpoint in ENDPOINTS]


@pytest.mark.parametrize("endpoint, who, status, code", REFUSAL_CASES)
def test_refused_callers_get_a_stable_code_and_change_nothing(app, client, world, endpoint, who, status, code):
    before = snapshot(app)
    response = ENDPOINTS[endpoint](client, world, world["headers"][who])
    assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert snapshot(app) == before


@pytest.mark.parametrize("endpoint, who, status", [(endpoint, who, status) for endpoint, allowed in ALLOWED.items()
                                                   for who, status in allowed])
def test_allowed_callers_succeed(client, world, endpoint, who, status):
    response = ENDPOINTS[endpoint](client, world, world["headers"][who])
    assert response.status_code == status, response.json


def test_an_organiser_creates_teams_and_anyone_lists_them_with_masked_captains(client, world):
    url = f"/api/v1/organizations/{world['org_id']}/teams"
    created = client.post(url, json={"name": "医疗服务队", "kind": "medical", "join_mode": "open"},
                          headers=world["headers"]["organizer"])
    assert created.status_code == 201
    body = created.json
    assert (body["name"], body["kind"], body["kind_label"], body["join_mode"]) == ("医疗服务队", "medical", "医疗卫生", "open")
    assert body["member_count"] == 0 and body["captains"] == [] and body["organization"]["name"] == "甲区协会"
    default = client.post(url, json={"name": "综合队"}, headers=world["headers"]["organizer"]).json
    assert (default["kind"], default["kind_label"], default["join_mode"]) == ("general", "综合", "approval")
    listed = client.get(url, headers=world["headers"]["carol"]).json["items"]
    assert [t["name"] for t in listed] == ["医疗队", "环保队", "法律队", "医疗服务队", "综合队"]
    medical = listed[0]
    assert medical["member_count"] == 2
    assert [(c["volunteer_id"], c["name"]) for c in medical["captains"]] == [(world["ids"]["bob"], "李*"), (None, None)]


def test_team_names_are_unique_in_an_organisation(app, client, world):
    url = f"/api/v1/organizations/{world['org_id']}/teams"
    before = snapshot(app)
    taken = client.post(url, json={"name": "医疗队"}, headers=world["headers"]["organizer"])
    assert taken.status_code == 409 and taken.json["error"]["code"] == "team_name_taken"
    renamed = client.patch(team_url(world, team="open_team_id"), json={"name": "医疗队"},
                           headers=world["headers"]["organizer"])
    assert renamed.status_code == 409 and renamed.json["error"]["code"] == "team_name_taken"
    assert snapshot(app) == before
    elsewhere = client.post(f"/api/v1/organizations/{world['other_org_id']}/teams", json={"name": "医疗队"},
                            headers=world["headers"]["other_organizer"])
    assert elsewhere.status_code == 201


@pytest.mark.parametrize("body, field", [({"name": "x"}, "name"), ({"name": "好队", "kind": "space"}, "kind"),
                                         ({"name": "好队", "join_mode": "lottery"}, "join_mode"),
                                         ({"name": "好\x00队"}, "name"), ({"name": "好队", "status": "x"}, "status"),
                                         ({}, "name")])
def test_bad_team_bodies_are_refused(app, client, world, body, field):
    before = snapshot(app)
    response = client.post(f"/api/v1/organizations/{world['org_id']}/teams", json=body,
                           headers=world["headers"]["organizer"])
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_failed"
    assert field in response.json["error"]["fields"]
    assert snapshot(app) == before


def test_teams_need_an_approved_organisation_that_exists(app, client, world, now):
    with app.app_context():
        pending = f.organization("待审协会", db.session.get(Region, world["district_id"]), now,
                                 status=OrganizationStatus.PENDING)
        headers = f.bearer(f.organizer("sim_pending_org", pending, now))
        pending_id = pending.id
        db.session.commit()
    refused = client.post(f"/api/v1/organizations/{pending_id}/teams", json={"name": "新队"}, headers=headers)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "organization_not_approved"
    assert client.get(f"/api/v1/organizations/{pending_id}/teams", headers=headers).status_code == 200
    hidden = client.get(f"/api/v1/organizations/{pending_id}/teams", headers=world["headers"]["carol"])
    assert hidden.status_code == 404 and hidden.json["error"]["code"] == "organization_not_found"
    missing = client.post("/api/v1/organizations/424242/teams", json={"name": "新队"}, headers=headers)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "organization_not_found"
    gone = client.patch("/api/v1/teams/424242", json={"name": "新队"}, headers=world["headers"]["organizer"])
    assert gone.status_code == 404 and gone.json["error"]["code"] == "team_not_found"


def test_patching_changes_only_what_is_sent(client, world):
    headers = world["headers"]["organizer"]
    changed = client.patch(team_url(world), json={"kind": "medical", "join_mode": "invitation"}, headers=headers)
    assert changed.status_code == 200
    assert (changed.json["name"], changed.json["kind"], changed.json["join_mode"]) == ("医疗队", "medical", "invitation")
    assert client.patch(team_url(world), json={}, headers=headers).status_code == 200
    for body in ({"name": None}, {"join_mode": None}, {"organization_id": 2}):
        assert client.patch(team_url(world), json=body, headers=headers).status_code == 422, body


def test_join_modes_open_approval_and_invitation(client, world):
    carol = world["headers"]["carol"]
    joined = client.post(team_url(world, "/join", "open_team_id"), headers=carol)
    assert joined.status_code == 201 and joined.json["status"] == "active" and joined.json["volunteer"] is None
    assert joined.json["team"]["kind_label"] == "环保"
    assert client.post(team_url(world, "/join", "open_team_id"), headers=carol).status_code == 200
    asked = client.post(team_url(world, "/join"), headers=carol)
    assert asked.status_code == 202 and asked.json["status"] == "requested"
    again = client.post(team_url(world, "/join"), headers=carol)
    assert again.status_code == 200 and again.json["id"] == asked.json["id"]
    uninvited = client.post(team_url(world, "/join", "invite_team_id"), headers=carol)
    assert uninvited.status_code == 403 and uninvited.json["error"]["code"] == "invitation_only"
    invitations = team_url(world, "/invitations", "invite_team_id")
    invited = client.post(invitations, json={"volunteer_id": world["ids"]["carol"]},
                          headers=world["headers"]["organizer"])
    assert invited.status_code == 201 and invited.json["status"] == "invited"
    assert invited.json["volunteer"]["name"] == "赵*"
    assert client.post(invitations, json={"volunteer_id": world["ids"]["carol"]},
                       headers=world["headers"]["organizer"]).status_code == 200
    accepted = client.post(team_url(world, "/join", "invite_team_id"), headers=carol)
    assert accepted.status_code == 201 and accepted.json["status"] == "active"
    assert accepted.json["id"] == invited.json["id"]
    mine = client.get("/api/v1/me/teams", headers=carol).json
    assert mine["total"] == 3
    assert sorted((item["team"]["name"], item["status"]) for item in mine["items"]) == [
        ("医疗队", "requested"), ("法律队", "active"), ("环保队", "active")]
    only_active = client.get("/api/v1/me/teams?status=active", headers=carol).json
    assert only_active["total"] == 2


def test_invitations_have_reason_codes(app, client, world):
    url = team_url(world, "/invitations")
    headers = world["headers"]["organizer"]
    before = snapshot(app)
    for volunteer, status, code in ((world["ids"]["bob"], 409, "already_member"),
                                    (world["ids"]["alice"], 409, "already_requested"),
                                    (world["ids"]["pending"], 422, "invitee_not_approved"),
                                    (424242, 422, "volunteer_not_found")):
        response = client.post(url, json={"volunteer_id": volunteer}, headers=headers)
        assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert snapshot(app) == before


def test_requests_are_decided_once_and_a_rejection_needs_a_reason(app, client, world):
    decide = team_url(world, f"/members/{world['ids']['alice']}/decision")
    before = snapshot(app)
    no_reason = client.post(decide, json={"decision": "reject"}, headers=world["headers"]["captain"])
    assert no_reason.status_code == 422 and no_reason.json["error"]["code"] == "reason_required"
    assert snapshot(app) == before
    approved = client.post(decide, json={"decision": "approve"}, headers=world["headers"]["captain"])
    assert approved.status_code == 200 and approved.json["status"] == "active"
    assert approved.json["volunteer"] == {"id": world["ids"]["alice"], "name": "王*明", "mobile": "139****5678"}
    again = client.post(decide, json={"decision": "reject", "reason": "重复"}, headers=world["headers"]["organizer"])
    assert again.status_code == 409 and again.json["error"]["code"] == "already_decided"
    client.post(team_url(world, "/join"), headers=world["headers"]["carol"])
    rejected = client.post(team_url(world, f"/members/{world['ids']['carol']}/decision"),
                           json={"decision": "reject", "reason": "请先参加岗前培训"}, headers=world["headers"]["organizer"])
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert rejected.json["reason"] == "请先参加岗前培训"
    nobody = client.post(team_url(world, f"/members/{world['ids']['pending']}/decision"), json={"decision": "approve"},
                         headers=world["headers"]["organizer"])
    assert nobody.status_code == 404 and nobody.json["error"]["code"] == "membership_not_found"
    retry = client.post(team_url(world, "/join"), headers=world["headers"]["carol"])
    assert retry.status_code == 202 and retry.json["id"] == rejected.json["id"] and retry.json["reason"] is None


def test_captains_are_appointed_from_active_members_and_dismissed(app, client, world):
    headers = world["headers"]["organizer"]
    before = snapshot(app)
    for volunteer in ("carol", "alice", "pending"):  # not in the team, only asking, not approved
        response = client.post(team_url(world, "/captains"), json={"volunteer_id": world["ids"][volunteer]},
                               headers=headers)
        assert response.status_code == 422 and response.json["error"]["code"] == "not_a_member", volunteer
    assert snapshot(app) == before
    appointed = client.post(team_url(world, "/captains"), json={"volunteer_id": world["ids"]["dave"]}, headers=headers)
    assert appointed.status_code == 201
    assert [c["volunteer_id"] for c in appointed.json["captains"]] == [world["ids"]["bob"], None, world["ids"]["dave"]]
    assert client.post(team_url(world, "/captains"), json={"volunteer_id": world["ids"]["dave"]},
                       headers=headers).status_code == 200
    assert client.get(team_url(world, "/members"), headers=world["headers"]["dave"]).status_code == 200
    dismissed = client.delete(team_url(world, f"/captains/{world['ids']['dave']}"), headers=headers)
    assert dismissed.status_code == 200
    assert world["ids"]["dave"] not in [c["volunteer_id"] for c in dismissed.json["captains"]]
    twice = client.delete(team_url(world, f"/captains/{world['ids']['dave']}"), headers=headers)
    assert twice.status_code == 404 and twice.json["error"]["code"] == "not_a_captain"
    assert client.get(team_url(world, "/members"), headers=world["headers"]["dave"]).status_code == 403
    with app.app_context():
        assert db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all() == [
            "team.captain_appointed", "team.captain_dismissed"]


def test_removing_a_captain_takes_the_role_and_rejoining_reuses_the_row(client, world):
    headers = world["headers"]["organizer"]
    removed = client.delete(team_url(world, f"/members/{world['ids']['bob']}"), headers=headers)
    assert removed.status_code == 200 and removed.json["status"] == "removed"
    assert client.get(team_url(world, "/members"), headers=world["headers"]["bob"]).json["error"]["code"] == \
        "not_team_manager"
    team = client.get(f"/api/v1/organizations/{world['org_id']}/teams", headers=headers).json["items"][0]
    assert team["member_count"] == 1 and world["ids"]["bob"] not in [c["volunteer_id"] for c in team["captains"]]
    again = client.delete(team_url(world, f"/members/{world['ids']['bob']}"), headers=headers)
    assert again.status_code == 404 and again.json["error"]["code"] == "membership_not_found"
    back = client.post(team_url(world, "/join"), headers=world["headers"]["bob"])
    assert back.status_code == 202 and back.json["id"] == removed.json["id"] and not back.json["is_captain"]


def test_members_are_listed_with_masked_contacts_and_a_status_filter(client, world):
    page = client.get(team_url(world, "/members"), headers=world["headers"]["captain"]).json
    assert page["total"] == 3 and (page["page"], page["per_page"]) == (1, 20)
    bob = next(item for item in page["items"] if item["volunteer"]["id"] == world["ids"]["bob"])
    assert bob["volunteer"] == {"id": world["ids"]["bob"], "name": "李*", "mobile": "137****1111"}
    assert bob["is_captain"] and bob["status"] == "active"
    waiting = client.get(team_url(world, "/members?status=requested&per_page=1"), headers=world["headers"]["organizer"])
    assert [item["volunteer"]["id"] for item in waiting.json["items"]] == [world["ids"]["alice"]]
    assert client.get(team_url(world, "/members?status=gone"), headers=world["headers"]["organizer"]).status_code == 422


@pytest.mark.parametrize("team, status, expected", [("open_team_id", 201, MembershipStatus.ACTIVE),
                                                    ("team_id", 202, MembershipStatus.REQUESTED)])
def test_concurrent_joins_of_one_volunteer_make_one_membership(app, world, team, status, expected):
    url = team_url(world, "/join", team)
    callers = 8
    start = threading.Barrier(callers)
    statuses: list[int] = []

    def join():
        client = app.test_client()
        start.wait()
        statuses.append(client.post(url, headers=world["headers"]["carol"]).status_code)

    threads = [threading.Thread(target=join) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == sorted([status] + [200] * (callers - 1))
    with app.app_context():
        rows = db.session.scalars(select(TeamMembership).where(
            TeamMembership.team_id == world[team], TeamMembership.volunteer_id == world["ids"]["carol"])).all()
        assert [row.status for row in rows] == [expected]
        assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 1
