"""A captain's scan over HTTP: its answer byte for byte, what it keeps, and the statements it costs.

The scan path reads the caller's account with the door in one statement, writes a check-in with its
scan row in one, and a check-out's overlap check, balance, record, totals and scan row in one
(PostgreSQL); these tests pin what the captain's phone receives and what the database holds,
whichever way the rows were written, and count the statements.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event, func, select

from app import checkin_codes
from app.extensions import db
from models import Checkin, CheckinScan, ServiceRecord, Signup, Volunteer
from tests import factories as f


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.scan_ready(now)
        world = {"activity_id": w.activity.id, "starts_at": w.activity.starts_at, "volunteer_id": w.volunteer.id,
                 "secret": w.volunteer.checkin_secret, "headers": w.bearers("captain")["captain"],
                 "captain_id": w.captain.id, "name": w.volunteer.real_name}
        db.session.commit()
    return world


def scan(app, client, world, at, nonce):
    app.extensions["clock"] = lambda: at
    body = {"code": checkin_codes.personal_code(world["volunteer_id"], world["secret"], at), "nonce": nonce}
    return client.post(f"/api/v1/activities/{world['activity_id']}/scans", json=body, headers=world["headers"])


@contextmanager
def statements(app):
    """The SQL statements the app's engine sends meanwhile (BEGIN and COMMIT are not statements)."""
    sent: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def masked(name: str) -> str:
    from app import pii

    return pii.mask_name(name)


def test_the_answers_of_a_check_in_a_check_out_and_a_repeat_byte_for_byte(app, client, world):
    start = world["starts_at"]
    vid, name = world["volunteer_id"], masked(world["name"])
    checked_in = scan(app, client, world, start, "answer-bytes-in-1")
    assert checked_in.status_code == 200
    assert checked_in.headers["Content-Type"] == "application/json"
    assert checked_in.data.decode() == (
        f'{{"result":"checked_in","volunteer":{{"id":{vid},"name":"{name}"}},'
        f'"checked_in_at":"{start.isoformat()}","checked_out_at":null,"minutes":0,"replayed":false}}')
    later = start + timedelta(hours=1, minutes=30)
    checked_out = scan(app, client, world, later, "answer-bytes-out-1")
    assert checked_out.status_code == 200
    assert checked_out.data.decode() == (
        f'{{"result":"checked_out","volunteer":{{"id":{vid},"name":"{name}"}},'
        f'"checked_in_at":"{start.isoformat()}","checked_out_at":"{later.isoformat()}","minutes":90,'
        '"replayed":false}')
    again = scan(app, client, world, later + timedelta(minutes=1), "answer-bytes-out-1")
    assert again.status_code == 200
    assert again.data == checked_out.data.replace(b'"replayed":false', b'"replayed":true')
    with app.app_context():
        stored = dict(db.session.execute(select(CheckinScan.nonce, CheckinScan.answer)).all())
        assert stored == {"answer-bytes-in-1": {k: v for k, v in checked_in.get_json().items() if k != "replayed"},
                          "answer-bytes-out-1": {k: v for k, v in checked_out.get_json().items() if k != "replayed"}}
        [scan_in, scan_out] = db.session.execute(
            select(CheckinScan.result, CheckinScan.account_id, CheckinScan.volunteer_id, CheckinScan.client_scanned_at)
            .order_by(CheckinScan.id)).all()
        assert scan_in == ("checked_in", world["captain_id"], vid, None)
        assert scan_out == ("checked_out", world["captain_id"], vid, None)
        [record] = db.session.scalars(select(ServiceRecord)).all()
        assert (record.minutes, record.kind.value, record.source.value, record.created_by_account_id,
                record.confirmed_at) == (90, "attendance", "scan", world["captain_id"], None)
        checkin = db.session.scalars(select(Checkin)).one()
        assert record.checkin_id == checkin.id and checkin.checked_out_at == later
        volunteer = db.session.get(Volunteer, vid)
        assert (volunteer.total_service_minutes, volunteer.service_record_count) == (90, 1)
        assert db.session.scalar(select(Signup.service_minutes).where(Signup.volunteer_id == vid)) == 90


def test_a_check_in_is_two_statements_and_a_check_out_three_on_postgresql(app, client, world):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the rows are written in one statement on PostgreSQL; SQLite writes them one by one")
    start = world["starts_at"]
    with statements(app) as sent:
        assert scan(app, client, world, start, "count-statements-in").get_json()["result"] == "checked_in"
    # the caller's account with the activity, access, nonce and door; the check-in with its scan row
    assert len(sent) == 2, sent
    with statements(app) as sent:
        assert scan(app, client, world, start + timedelta(hours=1), "count-statements-out").get_json()["result"] == \
            "checked_out"
    # the account and the door; the closing UPDATE with the lock; overlap, balance, record, totals and scan row
    assert len(sent) == 3, sent
    assert not any(statement.strip().upper() in ("SELECT 1", ";") for statement in sent)


def postgresql_only(app) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite runs every unit as one transaction")


def test_a_check_in_commits_as_its_one_write_ends_and_a_check_out_is_one_transaction(app, client, world):
    postgresql_only(app)
    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, bool, str]] = []
    returned: list[bool] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        driver = conn.connection.driver_connection
        seen.append((statement.split(None, 1)[0], driver.autocommit, driver.info.transaction_status.name))

    def checkin(dbapi_connection, connection_record):
        returned.append(dbapi_connection.autocommit)

    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine.pool, "checkin", checkin)
    try:
        start = world["starts_at"]
        assert scan(app, client, world, start, "one-write-in-1").get_json()["result"] == "checked_in"
        # No transaction is ever open (no BEGIN), so none is committed: the INSERT commits as it ends.
        assert seen == [("SELECT", True, "IDLE"), ("WITH", True, "IDLE")]
        seen.clear()
        assert scan(app, client, world, start + timedelta(hours=1), "one-write-out-1").get_json()["result"] == \
            "checked_out"
        # The door alone; BEGIN before the closing UPDATE; the record inside the same transaction.
        assert seen == [("SELECT", True, "IDLE"), ("UPDATE", False, "IDLE"), ("WITH", False, "INTRANS")]
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine.pool, "checkin", checkin)
    # Every connection goes back to the pool in the default mode, for the next request's transaction.
    assert returned and not any(returned)


@contextmanager
def answered_by_another_request_before(app, statement_start: str, answer: dict):
    """Just before the app sends the statement that starts with `statement_start`, another connection
    commits a scan row with the nonce of the request being made (a concurrent request that used it)."""
    with app.app_context():
        engine = db.engine
    other = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)

    def commit_the_nonce_elsewhere(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(statement_start):
            with other.begin() as elsewhere:
                elsewhere.execute(sa.insert(CheckinScan).values(
                    activity_id=parameters["b_activity_id"], nonce=parameters["b_nonce"], result=answer["result"],
                    answer=answer, created_at=parameters["b_created_at"]))

    event.listen(engine, "before_cursor_execute", commit_the_nonce_elsewhere)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", commit_the_nonce_elsewhere)
        other.dispose()


def test_a_check_in_whose_nonce_was_answered_meanwhile_writes_nothing_and_gives_that_answer(app, client, world):
    # The nonce's first answer was another volunteer's check-in (a phone that reused a nonce); it lands
    # between this scan's door and its INSERT. In autocommit the INSERT is all there is to undo.
    postgresql_only(app)
    first = {"result": "checked_in", "volunteer": {"id": world["volunteer_id"] + 1000, "name": "李*"},
             "checked_in_at": world["starts_at"].isoformat(), "checked_out_at": None, "minutes": 0}
    with answered_by_another_request_before(app, "WITH a AS (INSERT INTO checkins", first):
        answer = scan(app, client, world, world["starts_at"], "answered-meanwhile-1")
    assert answer.status_code == 200
    assert answer.get_json() == {**first, "replayed": True}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0
        assert db.session.scalars(select(CheckinScan.answer)).all() == [first]
    # The volunteer was not checked in: the next scan does it.
    assert scan(app, client, world, world["starts_at"], "answered-meanwhile-2").get_json()["result"] == "checked_in"
