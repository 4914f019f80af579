"""The ledger over real concurrent HTTP: nothing negative, nothing counted twice.

Requests are released together by a barrier against a served app (as in test_checkins.py). The
control at the end runs the same harness against a naive "read the balance, then append" endpoint
and must drive the balance below zero: that proves the harness makes the race happen, so the
passing tests mean something.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy import func, select

from app.extensions import db
from app.services import service_records
from models import CorrectionRequest, IdempotentRequest, ServiceRecord, Signup, Volunteer
from tests import factories as f
from tests.fakes import fire, serve

CONCURRENCY = 10


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now).build("tree", "org", "team")
        w["activity"] = activity = w.add_attended_activity()
        volunteer = w.volunteer
        world = {"activity_id": activity.id, "volunteer_id": volunteer.id,
                 "record_id": db.session.scalar(select(ServiceRecord.id)),
                 "organizer": f.bearer(w.organizer), "alice": f.bearer(volunteer.account)}
        db.session.commit()
    app.extensions["clock"] = lambda: now + timedelta(hours=5)
    return world


def ledger(app, world) -> dict[str, int]:
    with app.app_context():
        return {
            "balance": db.session.scalar(select(Signup.service_minutes).where(Signup.volunteer_id == world["volunteer_id"])),
            "records": db.session.scalar(select(func.count()).select_from(ServiceRecord)),
            "summed": db.session.scalar(select(func.coalesce(func.sum(ServiceRecord.minutes), 0))),
            "total": db.session.get(Volunteer, world["volunteer_id"]).total_service_minutes,
        }


def test_ten_simultaneous_corrections_taking_back_the_hour_let_one_through(app, world):
    path = f"/api/v1/service-records/{world['record_id']}/corrections"
    bodies = [({"minutes_delta": -60, "reason": "未到场", "nonce": f"take-back-{i:04d}"}, world["organizer"])
              for i in range(CONCURRENCY)]
    with serve(app) as base_url:
        results = fire(base_url, path, bodies)
    outcomes = [(status, body.get("kind") or body["error"]["code"]) for status, body in results]
    assert outcomes.count((201, "correction")) == 1
    assert outcomes.count((422, "negative_minutes")) == CONCURRENCY - 1
    assert ledger(app, world) == {"balance": 0, "records": 2, "summed": 0, "total": 0}


def test_ten_simultaneous_identical_corrections_take_effect_once_with_one_answer(app, world):
    path = f"/api/v1/service-records/{world['record_id']}/corrections"
    body = {"minutes_delta": 15, "reason": "提前布置", "nonce": "double-tap-burst-1"}
    with serve(app) as base_url:
        results = fire(base_url, path, [(body, world["organizer"])] * CONCURRENCY)
    assert {status for status, _ in results} == {201}
    assert len({answer["id"] for _, answer in results}) == 1
    assert ledger(app, world) == {"balance": 75, "records": 2, "summed": 75, "total": 75}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IdempotentRequest)) == 1


def test_ten_simultaneous_identical_decisions_append_one_difference(app, world, now):
    with app.app_context():
        volunteer = db.session.get(Volunteer, world["volunteer_id"])
        request_id = service_records.request_correction(volunteer.account, world["activity_id"], requested_minutes=100,
                                                        reason="签退时手机没电", now=now + timedelta(hours=5)).id
        db.session.commit()
    body = {"decision": "approve", "nonce": "approve-burst-001"}
    with serve(app) as base_url:
        results = fire(base_url, f"/api/v1/correction-requests/{request_id}/decision",
                       [(body, world["organizer"])] * CONCURRENCY)
    assert {status for status, _ in results} == {200}
    assert {(answer["status"], answer["correction_record_id"]) for _, answer in results} == {
        ("approved", results[0][1]["correction_record_id"])}
    assert ledger(app, world) == {"balance": 100, "records": 2, "summed": 100, "total": 100}
    with app.app_context():
        assert db.session.get(CorrectionRequest, request_id).status.value == "approved"


def test_an_approval_and_corrections_at_once_keep_the_balance_equal_to_the_records(app, world, now):
    """The approved difference is taken from the balance it is applied to, whatever lands meanwhile."""
    with app.app_context():
        volunteer = db.session.get(Volunteer, world["volunteer_id"])
        request_id = service_records.request_correction(volunteer.account, world["activity_id"], requested_minutes=90,
                                                        reason="签退时手机没电", now=now + timedelta(hours=5)).id
        db.session.commit()
    corrections = [({"minutes_delta": -10, "reason": "早退", "nonce": f"minus-ten-{i:04d}"}, world["organizer"])
                   for i in range(CONCURRENCY - 1)]
    with serve(app) as base_url:
        barrier_paths = [(f"/api/v1/service-records/{world['record_id']}/corrections", c) for c in corrections]
        barrier_paths.append((f"/api/v1/correction-requests/{request_id}/decision",
                              ({"decision": "approve", "nonce": "approve-mixed-1"}, world["organizer"])))
        barrier = threading.Barrier(len(barrier_paths))

        def send(item):
            path, (body, headers) = item
            barrier.wait(timeout=30)
            return requests.post(f"{base_url}{path}", json=body, headers=headers, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=len(barrier_paths)) as pool:
            statuses = list(pool.map(send, barrier_paths))
    state = ledger(app, world)
    assert state["balance"] == state["summed"] == state["total"] >= 0
    assert statuses[-1] == 200 and statuses.count(201) + statuses.count(422) == CONCURRENCY - 1


def test_control_the_harness_drives_a_naive_read_then_append_below_zero(app, world):
    """Without a conditional write, the same burst of corrections makes the balance negative."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs every transaction BEGIN IMMEDIATE, one at a time: no race to show; "
                    "the PostgreSQL run of the suite executes this control")
    table = sa.Table("naive_ledger_control", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("minutes", sa.Integer, nullable=False))
    table.create(engine)
    naive_engine = sa.create_engine(engine.url.render_as_string(hide_password=False), pool_size=CONCURRENCY)
    with naive_engine.begin() as connection:
        connection.execute(table.insert().values(minutes=60))
    naive = Flask("naive")

    @naive.post("/correct")
    def naive_correct():
        delta = request.get_json()["minutes_delta"]
        with naive_engine.begin() as connection:
            current = connection.execute(select(func.sum(table.c.minutes))).scalar()
            time.sleep(0.1)  # the moment between the check and the write, widened so the race always shows
            if current + delta >= 0:
                connection.execute(table.insert().values(minutes=delta))
        return jsonify({"ok": True})

    try:
        with serve(naive) as base_url:
            fire(base_url, "/correct", [({"minutes_delta": -60}, {})] * CONCURRENCY)
        with engine.connect() as connection:
            total = connection.execute(select(func.sum(table.c.minutes))).scalar()
        assert total < 0, "the harness produced no race: the concurrency tests above would prove nothing"
    finally:
        naive_engine.dispose()
        table.drop(engine)
