"""Check-in over real concurrent HTTP: one check-in, one check-out, one record, whatever arrives at once.

Like pretix's concurrency tests, a control runs the same harness against a naive select-then-insert
endpoint and must find duplicates: that proves the harness really produces races, so the passing
tests above it mean something.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import requests
import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy import func, select

from app import checkin_codes
from app.extensions import db
from app.services import checkin_displays, checkins, signups
from models import Checkin, CheckinScan, ServiceRecord, Volunteer
from tests import factories as f
from tests.fakes import fire, serve

CONCURRENCY = 50


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now, other_captain="sim_other").build("tree", "org", "team")
        w["other_team"] = f.team(w.org, "另一队", now)
        w["activity"] = w.add_activity(starts_in=timedelta(hours=1))
        activity, volunteer = w.activity, w.volunteer
        signups.apply(volunteer.account, activity.id, join_waitlist=False, now=now)
        checkin_displays.personal_code(volunteer.account, now=now)
        w.build("captain")
        w["second_captain"] = f.captain("sim_captain_2", w.team, now)
        world = {"activity_id": activity.id, "starts_at": activity.starts_at, "volunteer_id": volunteer.id,
                 "secret": volunteer.checkin_secret,
                 "headers": w.bearers("captain", "second_captain", "organizer", "other_captain", "alice")}
        db.session.commit()
    app.extensions["clock"] = lambda: world["starts_at"]
    return world


def code(world, at):
    return checkin_codes.personal_code(world["volunteer_id"], world["secret"], at)


def count(app, model, **where) -> int:
    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def test_fifty_identical_scans_at_once_check_in_once_with_one_answer(app, world):
    body = {"code": code(world, world["starts_at"]), "nonce": "identical-scan-0001"}
    with serve(app) as base_url:
        results = fire(base_url, f"/api/v1/activities/{world['activity_id']}/scans",
                       [(body, world["headers"]["captain"])] * CONCURRENCY)
    assert {status for status, _ in results} == {200}
    assert {answer["result"] for _, answer in results} == {"checked_in"}
    assert sum(not answer["replayed"] for _, answer in results) == 1
    assert {answer["checked_in_at"] for _, answer in results} == {world["starts_at"].isoformat()}
    assert count(app, Checkin) == 1 and count(app, CheckinScan) == 1


def test_two_captains_scanning_the_same_code_at_once_check_in_once(app, world):
    same_code = code(world, world["starts_at"])
    requests_ = [({"code": same_code, "nonce": uuid.uuid4().hex},
                  world["headers"]["captain" if i % 2 else "second_captain"]) for i in range(CONCURRENCY)]
    with serve(app) as base_url:
        results = fire(base_url, f"/api/v1/activities/{world['activity_id']}/scans", requests_)
    outcomes = [(status, answer.get("result") or answer["error"]["code"]) for status, answer in results]
    assert outcomes.count((200, "checked_in")) == 1
    assert outcomes.count((409, "already_checked_in")) == CONCURRENCY - 1
    assert count(app, Checkin) == 1


def test_fifty_check_out_scans_at_once_write_one_record_counted_once(app, world):
    start = world["starts_at"]
    with serve(app) as base_url:
        fire(base_url, f"/api/v1/activities/{world['activity_id']}/scans",
             [({"code": code(world, start), "nonce": "check-in-nonce-1"}, world["headers"]["captain"])])
        later = start + timedelta(hours=2)
        app.extensions["clock"] = lambda: later
        fresh = code(world, later)
        results = fire(base_url, f"/api/v1/activities/{world['activity_id']}/scans",
                       [({"code": fresh, "nonce": uuid.uuid4().hex}, world["headers"]["captain"])
                        for _ in range(CONCURRENCY)])
    outcomes = [(status, answer.get("result") or answer["error"]["code"]) for status, answer in results]
    assert outcomes.count((200, "checked_out")) == 1
    assert outcomes.count((409, "already_checked_out")) == CONCURRENCY - 1
    assert count(app, ServiceRecord) == 1
    with app.app_context():
        volunteer = db.session.get(Volunteer, world["volunteer_id"])
        assert (volunteer.total_service_minutes, volunteer.service_record_count) == (120, 1)


def test_fifty_identical_check_out_scans_at_once_give_one_record_and_one_answer(app, world):
    start = world["starts_at"]
    with serve(app) as base_url:
        fire(base_url, f"/api/v1/activities/{world['activity_id']}/scans",
             [({"code": code(world, start), "nonce": "check-in-nonce-2"}, world["headers"]["captain"])])
        later = start + timedelta(hours=1)
        app.extensions["clock"] = lambda: later
        body = {"code": code(world, later), "nonce": "identical-check-out-1"}
        results = fire(base_url, f"/api/v1/activities/{world['activity_id']}/scans",
                       [(body, world["headers"]["captain"])] * CONCURRENCY)
    assert {status for status, _ in results} == {200}
    assert {(answer["result"], answer["minutes"]) for _, answer in results} == {("checked_out", 60)}
    assert sum(not answer["replayed"] for _, answer in results) == 1
    assert count(app, ServiceRecord) == 1 and count(app, CheckinScan) == 2


def test_identical_manual_entries_at_once_take_effect_once(app, make_app, world):
    # With no minimum stay, a repeat that waited for the first check-in would, judged alone, check the
    # volunteer out again at once: only the nonce's unique key stops it, and it must answer as the first.
    no_minimum_stay = make_app(checkin={"min_minutes_before_checkout": 0})
    no_minimum_stay.extensions["clock"] = app.extensions["clock"]
    body = {"volunteer_id": world["volunteer_id"], "reason": "老人无智能手机", "nonce": "manual-identical-1"}
    with serve(no_minimum_stay) as base_url:
        results = fire(base_url, f"/api/v1/activities/{world['activity_id']}/manual-checkins",
                       [(body, world["headers"]["captain"])] * CONCURRENCY)
    assert {status for status, _ in results} == {200}
    assert {answer["result"] for _, answer in results} == {"checked_in"}
    assert sum(not answer["replayed"] for _, answer in results) == 1
    assert count(app, Checkin) == 1 and count(app, ServiceRecord) == 0 and count(app, CheckinScan) == 1
    with app.app_context():
        assert db.session.scalar(select(Checkin.checked_out_at)) is None


def test_control_the_harness_sees_the_race_of_a_naive_select_then_insert(app, world):
    """Without a unique constraint and a conditional write, the same burst makes duplicates."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs every transaction BEGIN IMMEDIATE, one at a time: no race to show; "
                    "the PostgreSQL run of the suite executes this control")
    table = sa.Table("naive_checkins_control", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("volunteer_id", sa.Integer, nullable=False))
    table.create(engine)
    # Its own pool, as large as the burst, so no request waits for a connection before its check.
    naive_engine = sa.create_engine(engine.url.render_as_string(hide_password=False), pool_size=CONCURRENCY)
    naive = Flask("naive")

    @naive.post("/scan")
    def naive_scan():
        volunteer_id = request.get_json()["volunteer_id"]
        with naive_engine.begin() as connection:
            seen = connection.execute(select(table.c.id).where(table.c.volunteer_id == volunteer_id)).first()
            time.sleep(0.1)  # the moment between the check and the write, widened so the race always shows
            if seen is None:
                connection.execute(table.insert().values(volunteer_id=volunteer_id))
        return jsonify({"ok": True})

    try:
        with serve(naive) as base_url:
            fire(base_url, "/scan", [({"volunteer_id": world["volunteer_id"]}, {})] * CONCURRENCY)
        with engine.connect() as connection:
            rows = connection.execute(select(func.count()).select_from(table)).scalar()
        assert rows > 1, "the harness produced no race: the concurrency tests above would prove nothing"
    finally:
        naive_engine.dispose()
        table.drop(engine)


@pytest.mark.parametrize("who, status, code_", [("other_captain", 403, "not_activity_manager"), ("alice", 403, "not_activity_manager")])
def test_scans_by_others_are_refused_and_change_nothing(app, client, world, who, status, code_):
    response = client.post(f"/api/v1/activities/{world['activity_id']}/scans",
                           json={"code": code(world, world["starts_at"]), "nonce": "someone-else-1"},
                           headers=world["headers"][who])
    assert response.status_code == status and response.json["error"]["code"] == code_
    assert count(app, Checkin) == 0 and count(app, CheckinScan) == 0


def test_refusals_carry_what_the_captains_screen_shows(client, world):
    url = f"/api/v1/activities/{world['activity_id']}/scans"
    body = {"code": code(world, world["starts_at"]), "nonce": "first-scan-01"}
    assert client.post(url, json=body, headers=world["headers"]["captain"]).status_code == 200
    again = client.post(url, json={**body, "nonce": "second-scan-02"}, headers=world["headers"]["captain"])
    assert again.status_code == 409
    error = again.json["error"]
    assert error["code"] == "already_checked_in" and error["message"] == "该志愿者已签到"
    assert error["context"]["volunteer"]["name"] == "张*丰" and error["context"]["minutes"] == 0


def test_bad_scan_bodies_are_422_and_change_nothing(app, client, world):
    url = f"/api/v1/activities/{world['activity_id']}/scans"
    for body in ({"code": "x"}, {"code": "x", "nonce": "short"}, {"code": "x", "nonce": "has spaces in it"},
                 {"code": "x" * 65, "nonce": "valid-nonce-1"}, {"code": "x", "nonce": "valid-nonce-1", "extra": 1},
                 {"code": "x", "nonce": "valid-nonce-1", "scanned_at": "2026-11-23T10:00:00"}):
        response = client.post(url, json=body, headers=world["headers"]["captain"])
        assert response.status_code == 422, body
    assert count(app, CheckinScan) == 0


def test_personal_code_endpoints(client, world):
    headers = world["headers"]["alice"]
    shown = client.get("/api/v1/me/checkin-code", headers=headers)
    assert shown.status_code == 200 and shown.json["code"].startswith(f"V{world['volunteer_id']}-")
    assert shown.json["secret"] == world["secret"]
    rotated = client.post("/api/v1/me/checkin-code/rotate", headers=headers)
    assert rotated.status_code == 200 and rotated.json["secret"] != world["secret"]
    assert client.get("/api/v1/me/checkin-code").status_code == 401
    assert client.get("/api/v1/me/checkin-code", headers=world["headers"]["captain"]).status_code == 404


def test_display_code_is_a_png_of_a_link_and_volunteers_check_in_with_it(client, world):
    import base64

    shown = client.get(f"/api/v1/activities/{world['activity_id']}/display-code", headers=world["headers"]["captain"])
    assert shown.status_code == 200
    assert shown.json["link"].endswith(f"/a/{world['activity_id']}?c={shown.json['token']}")
    assert base64.b64decode(shown.json["qr_png_base64"]).startswith(b"\x89PNG\r\n\x1a\n")
    answer = client.post(f"/api/v1/activities/{world['activity_id']}/self-checkin",
                         json={"code": shown.json["token"], "nonce": "self-checkin-1"}, headers=world["headers"]["alice"])
    assert answer.status_code == 200 and answer.json["result"] == "checked_in"


@pytest.mark.parametrize("who", ["other_captain", "alice"])
def test_display_code_is_only_for_the_activitys_managers(client, world, who):
    response = client.get(f"/api/v1/activities/{world['activity_id']}/display-code", headers=world["headers"][who])
    assert response.status_code == 403 and response.json["error"]["code"] == "not_activity_manager"


def test_checkin_board_counts_present_and_lists_the_latest_masked(app, client, world):
    url = f"/api/v1/activities/{world['activity_id']}/checkin-board"
    before = client.get(url, headers=world["headers"]["organizer"])
    assert before.status_code == 200
    assert (before.json["signed_up"], before.json["present"], before.json["latest"]) == (1, 0, [])
    start = world["starts_at"]
    scanned = client.post(f"/api/v1/activities/{world['activity_id']}/scans",
                          json={"code": code(world, start), "nonce": "board-scan-0001"}, headers=world["headers"]["captain"])
    assert scanned.status_code == 200
    board = client.get(url, headers=world["headers"]["captain"]).json
    assert (board["signed_up"], board["checked_in"], board["present"], board["checked_out"]) == (1, 1, 1, 0)
    assert [entry["name"] for entry in board["latest"]] == ["张*丰"]
    assert datetime.fromisoformat(board["latest"][0]["checked_in_at"]) == start
    assert board["latest"][0]["checked_out_at"] is None
    later = start + timedelta(hours=1)
    app.extensions["clock"] = lambda: later
    client.post(f"/api/v1/activities/{world['activity_id']}/scans",
                json={"code": code(world, later), "nonce": "board-scan-0002"}, headers=world["headers"]["captain"])
    board = client.get(url, headers=world["headers"]["captain"]).json
    assert (board["present"], board["checked_out"]) == (0, 1)
    assert datetime.fromisoformat(board["latest"][0]["checked_out_at"]) == later


@pytest.mark.parametrize("who", ["other_captain", "alice"])
def test_checkin_board_is_only_for_the_activitys_managers(client, world, who):
    response = client.get(f"/api/v1/activities/{world['activity_id']}/checkin-board", headers=world["headers"][who])
    assert response.status_code == 403 and response.json["error"]["code"] == "not_activity_manager"


def test_offline_batch_over_http_and_its_authorisation(app, client, world):
    url = f"/api/v1/activities/{world['activity_id']}/scans:batch"
    at = world["starts_at"]
    body = {"scans": [{"code": code(world, at), "nonce": "offline-batch-1", "scanned_at": at.isoformat()},
                      {"code": "garbage", "nonce": "offline-batch-2"}]}
    refused = client.post(url, json=body, headers=world["headers"]["other_captain"])
    assert refused.status_code == 403 and count(app, CheckinScan) == 0
    answer = client.post(url, json=body, headers=world["headers"]["captain"])
    assert answer.status_code == 200
    assert [(r["ok"], r["result"] or r["code"]) for r in answer.json["results"]] == [(True, "checked_in"),
                                                                                    (False, "invalid_code")]
    assert client.post(url, json={"scans": []}, headers=world["headers"]["captain"]).status_code == 422


def test_manual_check_in_over_http(app, client, world):
    url = f"/api/v1/activities/{world['activity_id']}/manual-checkins"
    body = {"volunteer_id": world["volunteer_id"], "reason": "手机没电了", "nonce": "manual-http-1"}
    assert client.post(url, json=body, headers=world["headers"]["other_captain"]).status_code == 403
    answer = client.post(url, json=body, headers=world["headers"]["organizer"])
    assert answer.status_code == 200 and answer.json["result"] == "checked_in"
    assert client.post(url, json={**body, "reason": ""}, headers=world["headers"]["captain"]).status_code == 422


def test_my_records_list_with_totals_by_year(app, client, world):
    start = world["starts_at"]
    url = f"/api/v1/activities/{world['activity_id']}/scans"
    client.post(url, json={"code": code(world, start), "nonce": "records-in-1"}, headers=world["headers"]["captain"])
    later = start + timedelta(minutes=95)
    app.extensions["clock"] = lambda: later
    client.post(url, json={"code": code(world, later), "nonce": "records-out-1"}, headers=world["headers"]["captain"])
    page = client.get("/api/v1/me/records", headers=world["headers"]["alice"])
    assert page.status_code == 200
    assert [(r["kind"], r["minutes"], r["hours"]) for r in page.json["items"]] == [("attendance", 95, 1.58)]
    assert (page.json["total_hours"], page.json["total_records"]) == (1.58, 1)
    assert page.json["by_year"] == [{"year": 2026, "hours": 1.58, "minutes": 95, "records": 1}]
    assert client.get("/api/v1/me/records", headers=world["headers"]["captain"]).status_code == 404


def test_official_qr_is_made_once_a_day_and_its_scan_checks_in_by_chat(app, client, world, simulator):
    from app.wechat.simulator.builders import event_message
    from app.wechat.simulator.push import sign_query

    with app.app_context():
        db.session.get(Volunteer, world["volunteer_id"]).account.oa_openid = "oa_alice"
        db.session.commit()
    url = f"/api/v1/activities/{world['activity_id']}/official-qr"
    first = client.get(url, headers=world["headers"]["captain"])
    again = client.get(url, headers=world["headers"]["organizer"])
    assert first.status_code == 200 and again.json["scene"] == first.json["scene"]
    assert simulator.stats()["calls"].get("qrcode") == 1 and first.json["scene"].startswith("checkin:")
    assert client.get(url, headers=world["headers"]["other_captain"]).status_code == 403

    token = app.extensions["settings"]["wechat"]["official"]["token"]

    def scan_event(create_time: int) -> str:
        body = event_message("oa_alice", "gh_sim_official", "SCAN", first.json["scene"], "sim_ticket",
                             create_time=create_time)
        response = client.post("/wechat/official/callback", query_string=sign_query(token), data=body.encode(),
                               content_type="text/xml")
        return response.get_data(as_text=True)

    stamp = int(world["starts_at"].timestamp())
    reply = scan_event(stamp)
    assert "签到成功" in reply and scan_event(stamp) == reply  # WeChat's retry: same answer, one check-in
    assert count(app, Checkin) == 1
    with app.app_context():
        assert db.session.scalar(select(Checkin.checkin_method)).value == "official_qr"


def test_offline_scans_from_the_future_are_refused_item_by_item_with_the_reason(app, client, world):
    url = f"/api/v1/activities/{world['activity_id']}/scans:batch"
    at = world["starts_at"]
    ahead = at + timedelta(minutes=10)
    body = {"scans": [{"code": code(world, ahead), "nonce": "offline-ahead-1", "scanned_at": ahead.isoformat()}]}
    answer = client.post(url, json=body, headers=world["headers"]["captain"])
    assert answer.status_code == 200
    item = answer.json["results"][0]
    assert (item["ok"], item["code"]) == (False, "clock_ahead") and "校准手机时间" in item["message"]
    assert count(app, Checkin) == 0 and count(app, CheckinScan) == 0


def test_a_manual_check_out_before_the_check_in_is_its_own_refusal(app, client, world):
    url = f"/api/v1/activities/{world['activity_id']}/manual-checkins"
    body = {"volunteer_id": world["volunteer_id"], "reason": "手机没电了"}
    assert client.post(url, json={**body, "nonce": "manual-order-1"}, headers=world["headers"]["captain"]).status_code == 200
    later = world["starts_at"] + timedelta(hours=1)
    app.extensions["clock"] = lambda: later
    before = (world["starts_at"] - timedelta(minutes=10)).isoformat()
    refused = client.post(url, json={**body, "nonce": "manual-order-2", "at": before}, headers=world["headers"]["captain"])
    assert refused.status_code == 422 and refused.json["error"]["code"] == "checkout_before_checkin"
    assert count(app, ServiceRecord) == 0
