"""The stars API: rules per region (GET/PUT/DELETE), the volunteer's star and application, review with the right
level, objections, revocation; bad input answers 400/422 JSON errors, permissions 403/404."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.services.stars import jobs
from models import ActivityStatus, RecordKind, RecordSource, ServiceRecord
from tests import factories as f

URL = "/api/v1"


@pytest.fixture
def cast(app, world):
    world.build("tree", "org", "admin", "city_admin", "alice", "bob")
    world["street_admin"] = f.admin("sim_street_admin", world.tree["street"], world.now)
    held = world.add_activity(starts_in=-timedelta(days=30), status=ActivityStatus.FINISHED)
    for volunteer, minutes in ((world.alice, 650 * 60), (world.bob, 120 * 60)):
        volunteer.created_at = world.now - timedelta(days=400)
        db.session.add(ServiceRecord(volunteer_id=volunteer.id, activity_id=held.id, kind=RecordKind.ATTENDANCE,
                                     source=RecordSource.SCAN, minutes=minutes, created_at=world.now))
    clock = {"now": world.now}
    app.extensions["clock"] = lambda: clock["now"]
    headers = world.bearers("alice", "bob", "admin", "street_admin", "city_admin", "other_admin")
    ids = {name: world.tree[name].id for name in ("city", "district", "street", "community")}
    db.session.commit()
    return {"clock": clock, "h": headers, "world": world, **ids}


def test_rules_get_put_delete_with_inheritance(client, cast):
    h = cast["h"]
    got = client.get(f"{URL}/regions/{cast['community']}/star-rules", headers=h["admin"])
    assert got.status_code == 200 and got.json["own"] is None
    assert got.json["in_force"]["thresholds_hours"] == [100, 300, 600, 1000, 1500]
    body = {"thresholds_hours": [100, 200, 500, 800, 1000], "sources": ["scan", "declaration"], "nonce": "rules-0001"}
    put = client.put(f"{URL}/regions/{cast['district']}/star-rules", json=body, headers=h["admin"])
    assert put.status_code == 200, put.json
    assert put.json["own"]["thresholds_hours"] == [100, 200, 500, 800, 1000] and put.json["own"]["min_months"] is None
    below = client.get(f"{URL}/regions/{cast['community']}/star-rules", headers=h["admin"]).json["in_force"]
    assert below["thresholds_hours"][1] == 200 and below["origins"]["thresholds_hours"] == cast["district"]
    assert below["origins"]["approval_levels"] is None
    assert below["origin_names"] == {str(cast["district"]): cast["world"].tree["district"].name}
    for _ in range(2):  # repeating the DELETE changes nothing
        gone = client.delete(f"{URL}/regions/{cast['district']}/star-rules", headers=h["admin"])
        assert gone.status_code == 200 and gone.json["own"] is None
    assert gone.json["in_force"]["thresholds_hours"][1] == 300


@pytest.mark.parametrize("body, status, code", [
    ({"thresholds_hours": [300, 100, 600, 1000, 1500]}, 422, "invalid_star_rules"),
    ({"thresholds_hours": [100, 300]}, 422, "validation_failed"),
    ({"sources": ["telepathy"]}, 422, "validation_failed"),
    ({"approval_levels": ["community"] * 5}, 422, "validation_failed"),
    ({"publicity_days": 0}, 422, "validation_failed"),
    ({"min_months": -1}, 422, "validation_failed"),
    ({"unknown": 1}, 422, "validation_failed"),
])
def test_bad_rules_answer_json_errors(client, cast, body, status, code):
    answer = client.put(f"{URL}/regions/{cast['district']}/star-rules", json={**body, "nonce": "rules-bad-1"},
                        headers=cast["h"]["admin"])
    assert answer.status_code == status and answer.json["error"]["code"] == code, answer.json


def test_malformed_json_is_400(client, cast):
    answer = client.put(f"{URL}/regions/{cast['district']}/star-rules", data="{not json",
                        headers={**cast["h"]["admin"], "Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json["error"]["code"]


def test_a_street_admin_may_not_set_the_districts_rules_nor_read_them(client, cast):
    h = cast["h"]
    answer = client.put(f"{URL}/regions/{cast['district']}/star-rules", json={"min_months": 3, "nonce": "rules-st-1"},
                        headers=h["street_admin"])
    assert answer.status_code == 403 and answer.json["error"]["code"] == "not_admin_of_region"
    assert client.get(f"{URL}/regions/{cast['district']}/star-rules", headers=h["alice"]).status_code == 403


def test_from_the_job_to_the_award_and_revocation(app, client, cast):
    h, clock = cast["h"], cast["clock"]
    assert jobs.open_qualified(now=clock["now"]) == {"opened": 2}
    mine = client.get(f"{URL}/me/stars", headers=h["alice"]).json
    assert mine["level"] == 0 and mine["open_application"]["level"] == 3
    three = mine["open_application"]["id"]
    one = client.get(f"{URL}/me/stars", headers=h["bob"]).json["open_application"]["id"]

    listed = client.get(f"{URL}/star-applications?status=pending", headers=h["street_admin"])
    assert sorted(item["id"] for item in listed.json["items"]) == sorted([three, one])
    # The queue names each volunteer as the console shows them: masked name and volunteer number.
    assert all("*" in item["volunteer_name"] and "volunteer_number" in item for item in listed.json["items"])
    assert client.get(f"{URL}/star-applications", headers=h["other_admin"]).json["items"] == []
    assert client.get(f"{URL}/star-applications", headers=h["alice"]).status_code == 403

    # A street admin cannot approve a 3★: the district's rule.
    refused = client.post(f"{URL}/star-applications/{three}/review", json={"decision": "approve", "nonce": "rev-00001"},
                          headers=h["street_admin"])
    assert refused.status_code == 403 and refused.json["error"]["code"] == "not_star_approver"
    no_reason = client.post(f"{URL}/star-applications/{one}/review", json={"decision": "reject", "nonce": "rev-00002"},
                            headers=h["street_admin"])
    assert no_reason.status_code == 422 and no_reason.json["error"]["code"] == "rejection_reason_required"
    approved = client.post(f"{URL}/star-applications/{three}/review", json={"decision": "approve", "nonce": "rev-00003"},
                           headers=h["admin"])
    assert approved.status_code == 200 and approved.json["status"] == "publicity"
    replay = client.post(f"{URL}/star-applications/{three}/review", json={"decision": "approve", "nonce": "rev-00003"},
                         headers=h["admin"])
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"

    objection = client.post(f"{URL}/star-applications/{three}/objections", json={"reason": "时长存疑", "nonce": "obj-00001"},
                            headers=h["bob"])
    assert objection.status_code == 201
    assert client.get(f"{URL}/star-applications/{three}", headers=h["alice"]).json["open_objections"] == 1
    decided = client.post(f"{URL}/star-applications/{three}/objections/{objection.json['id']}/decision",
                          json={"decision": "dismiss", "note": "已核实", "nonce": "dec-00001"}, headers=h["admin"])
    assert decided.status_code == 200 and decided.json["status"] == "dismissed"
    listed = client.get(f"{URL}/star-applications/{three}/objections", headers=h["admin"]).json["items"]
    assert [(item["reason"], item["status"]) for item in listed] == [("时长存疑", "dismissed")]
    assert client.get(f"{URL}/star-applications/{three}/objections", headers=h["other_admin"]).status_code == 404

    # The jobs run in the test's app context, which the client's requests share (SQLite: one writer).
    assert jobs.award_due(now=clock["now"] + timedelta(days=14)) == {"awarded": 1}
    mine = client.get(f"{URL}/me/stars", headers=h["alice"]).json
    assert mine["level"] == 3 and mine["open_application"] is None and mine["history"][0]["status"] == "awarded"
    # The star shows wherever the volunteer is: /me and the archive (their own and the directory's).
    assert client.get(f"{URL}/me", headers=h["alice"]).json["star_level"] == 3
    archive = client.get(f"{URL}/me/archive", headers=h["alice"]).json
    assert archive["star_level"] == 3 and [(s["level"], s["status"]) for s in archive["stars"]] == [(3, "awarded")]

    short = client.post(f"{URL}/star-applications/{three}/revoke", json={"reason": "x", "nonce": "rvk-00001"},
                        headers=h["admin"])
    assert short.status_code == 422
    revoked = client.post(f"{URL}/star-applications/{three}/revoke", json={"reason": "服务记录造假", "nonce": "rvk-00002"},
                          headers=h["admin"])
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    assert client.get(f"{URL}/me/stars", headers=h["alice"]).json["level"] == 0
    assert client.get(f"{URL}/me", headers=h["alice"]).json["star_level"] == 0
    archive = client.get(f"{URL}/me/archive", headers=h["alice"]).json
    assert archive["star_level"] == 0
    assert [(s["level"], s["status"], s["revocation_reason"]) for s in archive["stars"]] == [(3, "revoked", "服务记录造假")]


def test_the_volunteer_applies_once_and_only_when_qualified(client, cast):
    h = cast["h"]
    too_high = client.post(f"{URL}/me/star-applications", json={"level": 2, "nonce": "app-00001"}, headers=h["bob"])
    assert too_high.status_code == 422 and too_high.json["error"]["code"] == "star_not_qualified"
    first = client.post(f"{URL}/me/star-applications", json={"level": 1, "nonce": "app-00002"}, headers=h["bob"])
    again = client.post(f"{URL}/me/star-applications", json={"level": 1, "nonce": "app-00003"}, headers=h["bob"])
    assert (first.status_code, again.status_code) == (201, 200) and first.json["id"] == again.json["id"]
    assert first.json["origin"] == "volunteer" and first.json["approval_region_id"] == cast["street"]
    bad = client.post(f"{URL}/me/star-applications", json={"level": 6, "nonce": "app-00004"}, headers=h["bob"])
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_failed"
    no_nonce = client.post(f"{URL}/me/star-applications", json={"level": 1}, headers=h["bob"])
    assert no_nonce.status_code == 422
    # Someone else's application is not found, not forbidden.
    assert client.get(f"{URL}/star-applications/{first.json['id']}", headers=h["alice"]).status_code == 404
    assert client.get(f"{URL}/star-applications/{first.json['id']}", headers=h["street_admin"]).status_code == 200
    assert client.get(f"{URL}/me/stars").status_code == 401


def test_the_console_me_counts_the_star_applications_waiting_for_the_callers_review(app, client, cast):
    from app.extensions import settings
    from app.services import console_sessions

    def console_me(openid):
        with app.app_context():
            lifetimes = console_sessions.Lifetimes.from_settings(settings()["console"])
            token = console_sessions.create_login_link(openid, lifetimes=lifetimes, now=cast["clock"]["now"])
            db.session.commit()
        browser = app.test_client()
        answer = browser.post(f"{URL}/console/login-links/{token}")
        assert answer.status_code == 200, answer.json
        assert browser.get(f"{URL}/console/me").json["star_reviews_pending"] == answer.json["star_reviews_pending"]
        return answer.json["star_reviews_pending"]

    assert console_me("sim_street_admin") == 0
    with app.app_context():
        jobs.open_qualified(now=cast["clock"]["now"])  # alice 3★ (the district approves), bob 1★ (the street)
    assert {openid: console_me(openid) for openid in ("sim_street_admin", "sim_admin", "sim_other_admin")} == {
        "sim_street_admin": 1, "sim_admin": 2, "sim_other_admin": 0}
