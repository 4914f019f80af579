"""The ledger over HTTP: who may confirm, correct, request and decide; nothing changes on refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services import checkins, signups
from models import CorrectionRequest, ServiceRecord
from tests import factories as f

RULES = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)


@pytest.fixture
def world(app, now):
    with app.app_context():
        tree = f.region_tree()
        org = f.organization("甲区志愿者协会", tree["district"], now)
        team = f.team(org, "医疗队", now)
        activity = f.activity(org, tree["community"], now, team_row=team, starts_in=timedelta(hours=1))
        volunteer = f.approved_volunteer("sim_alice", tree["community"], now)
        signups.apply(volunteer.account, activity.id, join_waitlist=False, now=now)
        captain = f.captain("sim_captain", team, now)
        for nonce, at in (("in-1", activity.starts_at), ("out-1", activity.starts_at + timedelta(hours=1))):
            checkins.manual_entry(captain.id, activity.id, volunteer_id=volunteer.id, reason="测试", nonce=nonce,
                                  rules=RULES, now=at)
        other_org = f.organization("乙区协会", tree["other_district"], now)
        people = {"captain": captain, "organizer": f.organizer("sim_org", org, now),
                  "other_organizer": f.organizer("sim_other", other_org, now),
                  "other_captain": f.captain("sim_other_captain", f.team(other_org, "乙队", now), now),
                  "alice": volunteer.account}
        world = {"activity_id": activity.id, "record_id": db.session.scalar(select(ServiceRecord.id)),
                 "headers": {name: f.bearer(account) for name, account in people.items()}}
        db.session.commit()
    app.extensions["clock"] = lambda: now + timedelta(hours=5)
    return world


def records(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ServiceRecord))


@pytest.mark.parametrize("who, status", [("captain", 200), ("organizer", 200), ("other_captain", 403),
                                         ("other_organizer", 403), ("alice", 403)])
def test_who_confirms_an_activitys_records(client, world, who, status):
    response = client.post(f"/api/v1/activities/{world['activity_id']}/records/confirm", headers=world["headers"][who])
    assert response.status_code == status
    if status == 200:
        assert response.json == {"confirmed": 1, "credited_after_review": 0}


@pytest.mark.parametrize("who", ["captain", "other_organizer", "alice"])
def test_only_the_organiser_corrects_and_a_refusal_adds_nothing(app, client, world, who):
    url = f"/api/v1/service-records/{world['record_id']}/corrections"
    response = client.post(url, json={"minutes_delta": 15, "reason": "提前布置", "nonce": "correct-other-1"},
                           headers=world["headers"][who])
    assert response.status_code == 403 and records(app) == 1
    done = client.post(url, json={"minutes_delta": 15, "reason": "提前布置", "nonce": "correct-org-1"},
                       headers=world["headers"]["organizer"])
    assert done.status_code == 201 and done.json["kind"] == "correction" and records(app) == 2


def test_request_and_decision_flow_with_refusals(app, client, world):
    url = f"/api/v1/activities/{world['activity_id']}/correction-requests"
    assert client.post(url, json={"requested_minutes": 90, "reason": "漏扫", "nonce": "request-captain-1"},
                       headers=world["headers"]["captain"]).status_code == 404  # not a volunteer
    created = client.post(url, json={"requested_minutes": 90, "reason": "签退时手机没电", "nonce": "request-alice-1"},
                          headers=world["headers"]["alice"])
    assert created.status_code == 201 and created.json["status"] == "pending"
    decision = f"/api/v1/correction-requests/{created.json['id']}/decision"
    for who in ("captain", "other_organizer", "alice"):
        assert client.post(decision, json={"decision": "approve", "nonce": f"decide-{who}-1"},
                           headers=world["headers"][who]).status_code == 403
    with app.app_context():
        assert db.session.get(CorrectionRequest, created.json["id"]).status.value == "pending"
    approved = client.post(decision, json={"decision": "approve", "nonce": "decide-org-1"},
                           headers=world["headers"]["organizer"])
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert records(app) == 2
    mine = client.get("/api/v1/me/records", headers=world["headers"]["alice"]).json
    assert mine["total_hours"] == 1.5 and mine["total_records"] == 1
