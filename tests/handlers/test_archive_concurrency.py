"""The archive under concurrent requests over real HTTP: volunteer numbers never given twice nor twice to
one person; a retraction lands once; simultaneous evaluations of one attendee keep one unbroken history.

Requests are released together by a barrier against a served app (as in test_ledger_concurrency.py).
The control at the end runs the same harness against a naive "count, then take the next number"
endpoint and must hand out a number twice: that proves the harness makes the race happen.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from flask import Flask, jsonify
from sqlalchemy import func, select

from app.extensions import db
from models import Volunteer, VolunteerNumberSequence, VolunteerStatus
from tests import factories as f
from tests.fakes import fire, serve

CONCURRENCY = 10


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now).build("tree", "org", "organizer", "admin")
        pending = [f.volunteer(f.account(f"sim_pending_{i}", now), w.tree["community"], now,
                               mobile=f"139000000{i:02d}").id for i in range(CONCURRENCY)]
        world = {"pending": pending, "organizer": f.bearer(w.organizer), "admin": f.bearer(w.admin)}
        db.session.commit()
    return world


def numbers(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Volunteer.volunteer_number).where(Volunteer.volunteer_number.is_not(None))))


def sequence(app) -> int | None:
    with app.app_context():
        return db.session.scalar(select(VolunteerNumberSequence.last_value).where(VolunteerNumberSequence.prefix == "T3"))


def test_ten_approvals_at_once_in_one_community_get_ten_consecutive_numbers(app, world):
    requests_ = [(f"/api/v1/volunteers/{volunteer_id}/review", world["organizer"] if i % 2 else world["admin"])
                 for i, volunteer_id in enumerate(world["pending"])]
    barrier = threading.Barrier(len(requests_))

    def send(item):
        path, headers = item
        barrier.wait(timeout=30)
        response = requests.post(f"{base_url}{path}", json={"decision": "approve"}, headers=headers, timeout=60)
        return response.status_code, response.json()

    with serve(app) as base_url:
        with ThreadPoolExecutor(max_workers=len(requests_)) as pool:
            results = list(pool.map(send, requests_))
    assert {status for status, _ in results} == {200}, results
    given = sorted(body["volunteer_number"] for _, body in results)
    assert given == [f"T3{n:08d}" for n in range(1, CONCURRENCY + 1)]
    assert sorted(numbers(app)) == given and sequence(app) == CONCURRENCY


def test_ten_approvals_of_one_person_at_once_give_one_number(app, world):
    target = world["pending"][0]
    with serve(app) as base_url:
        results = fire(base_url, f"/api/v1/volunteers/{target}/review",
                       [({"decision": "approve"}, world["organizer"])] * CONCURRENCY)
    outcomes = sorted(status for status, _ in results)
    assert outcomes == [200] + [409] * (CONCURRENCY - 1)
    assert {body["error"]["code"] for status, body in results if status == 409} == {"not_pending"}
    assert numbers(app) == ["T300000001"] and sequence(app) == 1
    with app.app_context():
        assert db.session.get(Volunteer, target).status is VolunteerStatus.APPROVED


def test_control_the_harness_makes_a_naive_count_then_number_hand_out_duplicates(app, world):
    """Without the sequence row's upsert, the same burst gives two people one number."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs every transaction BEGIN IMMEDIATE, one at a time: no race to show; "
                    "the PostgreSQL run of the suite executes this control")
    table = sa.Table("naive_numbers_control", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("number", sa.Integer, nullable=False))
    table.create(engine)
    naive_engine = sa.create_engine(engine.url.render_as_string(hide_password=False), pool_size=CONCURRENCY)
    naive = Flask("naive")

    @naive.post("/approve")
    def naive_approve():
        with naive_engine.begin() as connection:
            taken = connection.execute(select(func.count()).select_from(table)).scalar()
            time.sleep(0.1)  # the moment between the read and the write, widened so the race always shows
            connection.execute(table.insert().values(number=taken + 1))
        return jsonify({"ok": True})

    try:
        with serve(naive) as base_url:
            fire(base_url, "/approve", [({}, {})] * CONCURRENCY)
        with engine.connect() as connection:
            given = list(connection.execute(select(table.c.number)).scalars())
        assert len(set(given)) < len(given), "the harness produced no race: the tests above would prove nothing"
    finally:
        naive_engine.dispose()
        table.drop(engine)


@pytest.fixture
def held(app, now):
    """A finished activity alice attended, an award in her archive; the clock after the activity."""
    from datetime import timedelta

    from app.services import archive
    from models import ArchiveEntryKind

    with app.app_context():
        w = f.World(now).build("tree", "org", "team", "captain", "organizer", "admin")
        activity = w.add_attended_activity()
        entry = archive.add_entry(w.admin, w.alice.id, kind=ArchiveEntryKind.AWARD, title="优秀志愿者", detail="",
                                  issuer=None, occurred_on=now.date(), organization_id=None, reason="表彰文件", now=now)
        world = {"activity_id": activity.id, "volunteer_id": w.alice.id, "entry_id": entry.id,
                 "organizer": f.bearer(w.organizer), "captain": f.bearer(w.captain), "admin": f.bearer(w.admin)}
        db.session.commit()
    app.extensions["clock"] = lambda: now + timedelta(hours=5)
    return world


def test_ten_retractions_at_once_land_once(app, held):
    from models import ArchiveEntry

    path = f"/api/v1/volunteers/{held['volunteer_id']}/archive/entries/{held['entry_id']}/retraction"
    bodies = [({"reason": "经核实有误", "nonce": f"retract-burst-{i:03d}"}, held["admin"]) for i in range(CONCURRENCY)]
    with serve(app) as base_url:
        results = fire(base_url, path, bodies)
    outcomes = sorted((status, body.get("error", {}).get("code")) for status, body in results)
    assert outcomes == [(201, None)] + [(409, "already_retracted")] * (CONCURRENCY - 1)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ArchiveEntry)) == 2


def test_ten_evaluations_of_one_attendee_at_once_keep_one_history(app, held):
    from models import AttendeeEvaluation

    ratings = ["excellent", "qualified", "unqualified"]
    bodies = [({"items": [{"volunteer_id": held["volunteer_id"], "rating": ratings[i % 3], "note": f"第{i}次"}],
                "nonce": f"rate-burst-{i:03d}"}, held["captain"] if i % 2 else held["organizer"])
              for i in range(CONCURRENCY)]
    barrier = threading.Barrier(CONCURRENCY)

    def send(item):
        body, headers = item
        barrier.wait(timeout=30)
        response = requests.put(f"{base_url}/api/v1/activities/{held['activity_id']}/evaluations", json=body,
                                headers=headers, timeout=60)
        return response.status_code

    with serve(app) as base_url:
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            statuses = list(pool.map(send, bodies))
    assert statuses == [200] * CONCURRENCY
    with app.app_context():
        revisions = sorted(db.session.scalars(select(AttendeeEvaluation.revision)))
    assert revisions == list(range(1, CONCURRENCY + 1))  # every note differs: ten revisions, none lost or doubled
