"""The ledger over HTTP: who may confirm, correct, request and decide; nothing changes on refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models import CorrectionRequest, ServiceRecord
from tests import factories as f



@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now, other_org="乙区协会", other_organizer="sim_other").build("tree", "org", "team")
        w["activity"] = activity = w.add_attended_activity()
        w.build("other_org", "organizer", "other_organizer", "other_captain")
        world = {"activity_id": activity.id, "record_id": db.session.scalar(select(ServiceRecord.id)),
                 "organization_id": w.org.id, "organizer_id": w.organizer.id,
                 "headers": w.bearers("captain", "organizer", "other_organizer", "other_captain", "alice")}
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


def balance(app, world) -> tuple[int, int, int]:
    """The volunteer's balance at the activity, the sum of the records, and the volunteer's total."""
    from models import Signup, Volunteer

    with app.app_context():
        signup = db.session.scalar(select(Signup).where(Signup.activity_id == world["activity_id"]))
        summed = db.session.scalar(select(func.coalesce(func.sum(ServiceRecord.minutes), 0)))
        return signup.service_minutes, summed, db.session.get(Volunteer, signup.volunteer_id).total_service_minutes


def test_a_repeated_correction_answers_as_the_first_and_adds_nothing(app, client, world):
    url = f"/api/v1/service-records/{world['record_id']}/corrections"
    body = {"minutes_delta": 15, "reason": "提前布置", "nonce": "double-tap-0001"}
    first = client.post(url, json=body, headers=world["headers"]["organizer"])
    again = client.post(url, json=body, headers=world["headers"]["organizer"])
    assert first.status_code == again.status_code == 201 and again.json == first.json
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert records(app) == 2 and balance(app, world) == (75, 75, 75)
    # The same nonce with another body, or on another record, is a mistake of the client.
    reused = client.post(url, json={**body, "minutes_delta": 20}, headers=world["headers"]["organizer"])
    assert reused.status_code == 422 and reused.json["error"]["code"] == "nonce_reused"
    assert records(app) == 2 and balance(app, world) == (75, 75, 75)


@pytest.mark.parametrize("body", [
    {"minutes_delta": 15, "reason": "提前布置"},                                   # no nonce
    {"minutes_delta": 15, "reason": "提前布置", "nonce": "short"},
    {"minutes_delta": 15, "reason": "提前布置", "nonce": "has spaces in it"},
    {"minutes_delta": 15, "reason": "提前布置", "nonce": "x" * 65},
    {"minutes_delta": 15, "reason": "提前布置", "nonce": 12345678},
])
def test_corrections_need_a_valid_nonce(app, client, world, body):
    response = client.post(f"/api/v1/service-records/{world['record_id']}/corrections", json=body,
                           headers=world["headers"]["organizer"])
    assert response.status_code == 422 and records(app) == 1


def test_a_correction_below_zero_is_refused_and_changes_nothing(app, client, world):
    url = f"/api/v1/service-records/{world['record_id']}/corrections"
    refused = client.post(url, json={"minutes_delta": -61, "reason": "多记了", "nonce": "below-zero-1"},
                          headers=world["headers"]["organizer"])
    assert refused.status_code == 422 and refused.json["error"]["code"] == "negative_minutes"
    assert records(app) == 1 and balance(app, world) == (60, 60, 60)
    done = client.post(url, json={"minutes_delta": -60, "reason": "未到场", "nonce": "to-zero-1"},
                       headers=world["headers"]["organizer"])
    assert done.status_code == 201 and balance(app, world) == (0, 0, 0)


def test_a_repeated_decision_answers_as_the_first(app, client, world):
    created = client.post(f"/api/v1/activities/{world['activity_id']}/correction-requests",
                          json={"requested_minutes": 90, "reason": "签退时手机没电", "nonce": "request-repeat-1"},
                          headers=world["headers"]["alice"])
    repeat = client.post(f"/api/v1/activities/{world['activity_id']}/correction-requests",
                         json={"requested_minutes": 90, "reason": "签退时手机没电", "nonce": "request-repeat-1"},
                         headers=world["headers"]["alice"])
    assert created.status_code == repeat.status_code == 201 and repeat.json["id"] == created.json["id"]
    decision = f"/api/v1/correction-requests/{created.json['id']}/decision"
    body = {"decision": "approve", "nonce": "decide-repeat-1"}
    first = client.post(decision, json=body, headers=world["headers"]["organizer"])
    again = client.post(decision, json=body, headers=world["headers"]["organizer"])
    assert first.status_code == again.status_code == 200 and again.json == first.json
    assert records(app) == 2 and balance(app, world) == (90, 90, 90)
    other = client.post(decision, json={**body, "nonce": "decide-repeat-2"}, headers=world["headers"]["organizer"])
    assert other.status_code == 409 and other.json["error"]["code"] == "already_decided"


def test_a_request_longer_than_the_activity_and_its_margins_is_refused(app, client, world):
    url = f"/api/v1/activities/{world['activity_id']}/correction-requests"
    # Three hours and 30 minutes either side: at most 240 minutes.
    too_long = client.post(url, json={"requested_minutes": 241, "reason": "全程在场", "nonce": "too-long-1"},
                           headers=world["headers"]["alice"])
    assert too_long.status_code == 422 and too_long.json["error"]["code"] == "requested_minutes_too_long"
    assert too_long.json["error"]["fields"] == {"requested_minutes": "不能超过 240"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CorrectionRequest)) == 0
    fits = client.post(url, json={"requested_minutes": 240, "reason": "全程在场", "nonce": "too-long-2"},
                       headers=world["headers"]["alice"])
    assert fits.status_code == 201


def test_organisers_see_a_queue_and_volunteers_their_requests_and_both_are_told(app, client, world):
    from models import Notification

    created = client.post(f"/api/v1/activities/{world['activity_id']}/correction-requests",
                          json={"requested_minutes": 90, "reason": "签退时手机没电", "nonce": "queue-request-1"},
                          headers=world["headers"]["alice"]).json
    with app.app_context():
        told = db.session.execute(select(Notification.account_id, Notification.payload)
                                  .where(Notification.kind == "correction_request")).all()
    assert [account_id for account_id, _ in told] == [world["organizer_id"]]  # only the activity's organisation
    assert "1小时30分钟" in told[0][1]["text"]

    queue = f"/api/v1/organizations/{world['organization_id']}/correction-requests"
    page = client.get(f"{queue}?status=pending&activity_id={world['activity_id']}",
                      headers=world["headers"]["organizer"])
    assert page.status_code == 200 and page.json["total"] == 1
    item = page.json["items"][0]
    assert (item["id"], item["requested_minutes"], item["current_minutes"]) == (created["id"], 90, 60)
    assert item["volunteer"]["name"] == "张*丰" and item["status"] == "pending"
    assert client.get(f"{queue}?status=approved", headers=world["headers"]["organizer"]).json["total"] == 0
    assert client.get(f"{queue}?activity_id=999999", headers=world["headers"]["organizer"]).json["total"] == 0
    for who in ("other_organizer", "captain", "alice"):
        assert client.get(queue, headers=world["headers"][who]).status_code == 403
    assert client.get(f"{queue}?status=nonsense", headers=world["headers"]["organizer"]).status_code == 422
    assert client.get(f"{queue}?per_page=0", headers=world["headers"]["organizer"]).status_code == 422

    client.post(f"/api/v1/correction-requests/{created['id']}/decision",
                json={"decision": "reject", "reason": "签退记录无误", "nonce": "queue-decide-1"},
                headers=world["headers"]["organizer"])
    mine = client.get("/api/v1/me/correction-requests", headers=world["headers"]["alice"])
    assert mine.status_code == 200 and mine.json["total"] == 1
    assert (mine.json["items"][0]["status"], mine.json["items"][0]["decision_reason"]) == ("rejected", "签退记录无误")
    assert client.get("/api/v1/me/correction-requests?status=pending",
                      headers=world["headers"]["alice"]).json["total"] == 0
    assert client.get("/api/v1/me/correction-requests", headers=world["headers"]["captain"]).status_code == 404
    with app.app_context():
        result = db.session.execute(select(Notification.payload).where(Notification.kind == "correction_result")
                                    ).scalar_one()
    assert "未通过" in result["text"] and "签退记录无误" in result["text"]
    assert balance(app, world) == (60, 60, 60)
