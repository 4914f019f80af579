"""Sign-ups over HTTP: status codes, reason codes, access, and capacity under concurrent requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from models import Activity, Region, Signup, SignupMode, SignupStatus
from tests import factories as f
from tests.fakes import serve


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        w = f.World(now, other_org="乙区协会").build("tree", "org", "team", "other_org", "other_team")
        w["activity"] = w.add_activity(capacity=2)
        headers = w.bearers("organizer", "captain", "other_organizer", "other_captain", "alice", "bob")
        world = {"activity_id": w.activity.id, "tree_community_id": w.tree["community"].id, "org_id": w.org.id,
                 "headers": headers}
        db.session.commit()
    return world


def test_apply_then_apply_again_then_cancel(client, world):
    url = f"/api/v1/activities/{world['activity_id']}/signups"
    first = client.post(url, json={}, headers=world["headers"]["alice"])
    again = client.post(url, json={}, headers=world["headers"]["alice"])
    assert first.status_code == 201 and first.json["status"] == "approved"
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    mine = client.get("/api/v1/me/signups", headers=world["headers"]["alice"]).json
    assert [item["status"] for item in mine["items"]] == ["approved"]
    cancelled = client.delete(f"{url}/me", headers=world["headers"]["alice"])
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"


def test_full_gets_a_coded_409_and_the_waitlist_a_position(app, client, world, now):
    url = f"/api/v1/activities/{world['activity_id']}/signups"
    with app.app_context():
        db.session.get(Activity, world["activity_id"]).capacity = 1
        db.session.commit()
    client.post(url, json={}, headers=world["headers"]["alice"])
    refused = client.post(url, json={}, headers=world["headers"]["bob"])
    assert refused.status_code == 409 and refused.json["error"]["code"] == "activity_full"
    waiting = client.post(url, json={"join_waitlist": True}, headers=world["headers"]["bob"])
    assert waiting.status_code == 201 and waiting.json["status"] == "waitlisted"
    assert waiting.json["waitlist_position"] == 1


@pytest.mark.parametrize("who, status", [("organizer", 200), ("captain", 200), ("other_organizer", 403),
                                         ("other_captain", 403), ("alice", 403)])
def test_who_sees_an_activitys_sign_ups(client, world, who, status):
    client.post(f"/api/v1/activities/{world['activity_id']}/signups", json={}, headers=world["headers"]["alice"])
    response = client.get(f"/api/v1/activities/{world['activity_id']}/signups", headers=world["headers"][who])
    assert response.status_code == status
    if status == 200:
        [item] = response.json["items"]
        assert item["volunteer"]["mobile"] == "139****5678" and "*" in item["volunteer"]["name"]
    else:
        assert response.json["error"]["code"] == "not_activity_manager"


@pytest.mark.parametrize("who", ["captain", "other_organizer", "other_captain", "bob"])
def test_only_the_organiser_decides_and_a_refusal_changes_nothing(app, client, world, who):
    with app.app_context():
        db.session.get(Activity, world["activity_id"]).signup_mode = SignupMode.APPROVAL
        db.session.commit()
    pending = client.post(f"/api/v1/activities/{world['activity_id']}/signups", json={},
                          headers=world["headers"]["alice"]).json
    response = client.post(f"/api/v1/signups/{pending['id']}/decision", json={"decision": "approve", "nonce": f"decide-{who}-1"},
                           headers=world["headers"][who])
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Signup, pending["id"]).status is SignupStatus.PENDING
        assert db.session.get(Activity, world["activity_id"]).seats_taken == 0
    approved = client.post(f"/api/v1/signups/{pending['id']}/decision", json={"decision": "approve", "nonce": "decide-org-1"},
                           headers=world["headers"]["organizer"])
    assert approved.status_code == 200 and approved.json["status"] == "approved"


def test_unauthenticated_calls_are_401(client, world):
    url = f"/api/v1/activities/{world['activity_id']}/signups"
    assert client.post(url, json={}).status_code == 401
    assert client.get(url).status_code == 401
    assert client.get("/api/v1/me/signups").status_code == 401


def test_a_gate_refusal_changes_nothing(app, client, world):
    with app.app_context():
        db.session.get(Activity, world["activity_id"]).required_skills = ["手语"]
        db.session.commit()
    response = client.post(f"/api/v1/activities/{world['activity_id']}/signups", json={},
                           headers=world["headers"]["alice"])
    assert response.status_code == 422 and response.json["error"]["code"] == "missing_skill"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Signup)) == 0
        assert db.session.get(Activity, world["activity_id"]).seats_taken == 0


def test_a_hundred_simultaneous_applications_for_the_last_five_seats(app, world, now):
    with app.app_context():
        activity = db.session.get(Activity, world["activity_id"])
        activity.capacity = 5
        region = db.session.get(Region, world["tree_community_id"])
        tokens = [f.token_for(f.approved_volunteer(f"sim_crowd_{i}", region, now).account) for i in range(100)]
        db.session.commit()

    with serve(app) as base_url:
        def apply(token: str) -> tuple[int, str]:
            response = requests.post(f"{base_url}/api/v1/activities/{world['activity_id']}/signups", json={},
                                     headers={"Authorization": f"Bearer {token}"}, timeout=60)
            body = response.json()
            return response.status_code, body.get("status") or body["error"]["code"]

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(apply, tokens))

    assert sorted(set(results)) == [(201, "approved"), (409, "activity_full")]
    assert results.count((201, "approved")) == 5
    with app.app_context():
        assert db.session.get(Activity, world["activity_id"]).seats_taken == 5
        approved = db.session.scalar(select(func.count()).select_from(Signup).where(
            Signup.activity_id == world["activity_id"], Signup.status == SignupStatus.APPROVED))
        assert approved == 5


def test_the_same_volunteer_applying_many_times_at_once_gets_one_seat(app, world):
    with serve(app) as base_url:
        def apply(_: int) -> int:
            return requests.post(f"{base_url}/api/v1/activities/{world['activity_id']}/signups", json={},
                                 headers=world["headers"]["alice"], timeout=60).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(apply, range(10)))
    assert statuses.count(201) == 1 and statuses.count(200) == 9
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Signup)) == 1
        assert db.session.get(Activity, world["activity_id"]).seats_taken == 1


def test_the_activity_time_window_closes_sign_ups(app, client, world, now):
    app.extensions["clock"] = lambda: now + timedelta(days=2)
    response = client.post(f"/api/v1/activities/{world['activity_id']}/signups", json={},
                           headers=world["headers"]["alice"])
    assert response.status_code == 409 and response.json["error"]["code"] == "not_open"


def test_a_repeated_sign_up_decision_answers_as_the_first_and_changes_nothing(app, client, world):
    from models import Notification

    with app.app_context():
        db.session.get(Activity, world["activity_id"]).signup_mode = SignupMode.APPROVAL
        db.session.commit()
    pending = client.post(f"/api/v1/activities/{world['activity_id']}/signups", json={},
                          headers=world["headers"]["alice"]).json
    url = f"/api/v1/signups/{pending['id']}/decision"
    body = {"decision": "approve", "nonce": "decide-twice-01"}
    first = client.post(url, json=body, headers=world["headers"]["organizer"])
    again = client.post(url, json=body, headers=world["headers"]["organizer"])
    assert first.status_code == again.status_code == 200 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = client.post(url, json={"decision": "reject", "reason": "改主意", "nonce": "decide-twice-01"},
                         headers=world["headers"]["organizer"])
    assert reused.status_code == 422 and reused.json["error"]["code"] == "nonce_reused"
    assert client.post(url, json={"decision": "approve"}, headers=world["headers"]["organizer"]).status_code == 422
    with app.app_context():
        assert db.session.get(Activity, world["activity_id"]).seats_taken == 1
        assert db.session.get(Signup, pending["id"]).status is SignupStatus.APPROVED
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.kind == "signup_result")) == 1
