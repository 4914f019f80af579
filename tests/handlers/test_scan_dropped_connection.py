"""A captain's scan when the database dropped the pool's connections between requests (PostgreSQL).

The pool pings no connection it hands out (that was a round trip on every request). A connection the
server closed while it sat in the pool is seen at checkout without a round trip and replaced; one
that dies unseen fails on the request's first statement, which then runs once more on a fresh
connection (app.db.execute_first). Either way the next scan succeeds, exactly once.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from app import checkin_codes
from app import extensions as app_extensions
from app.db import execute_first
from app.extensions import db
from models import Checkin, CheckinScan
from tests import factories as f


@pytest.fixture
def world(app, now):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("dropped connections are PostgreSQL's (SQLite has no server to drop them)")
        w = f.scan_ready(now)
        world = {"activity_id": w.activity.id, "starts_at": w.activity.starts_at, "volunteer_id": w.volunteer.id,
                 "secret": w.volunteer.checkin_secret, "headers": w.bearers("captain")["captain"]}
        db.session.commit()
    app.extensions["clock"] = lambda: world["starts_at"]
    return world


def terminate_others(app) -> int:
    """pg_terminate_backend every other connection to the test database (the app's pooled ones), from a
    connection outside the app's pool, and wait until they are gone; how many there were."""
    with app.app_context():
        url = db.engine.url
    killer = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with killer.connect() as connection:
            pids = connection.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalars().all()
            connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) pid"),
                               {"pids": pids})
            deadline = time.monotonic() + 10
            while connection.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(:pids AS int[]))"),
                                     {"pids": pids}).scalar() and time.monotonic() < deadline:
                time.sleep(0.02)
            connection.rollback()
    finally:
        killer.dispose()
    return len(pids)


def scan(client, world, nonce: str):
    body = {"code": checkin_codes.personal_code(world["volunteer_id"], world["secret"], world["starts_at"]),
            "nonce": nonce}
    return client.post(f"/api/v1/activities/{world['activity_id']}/scans", json=body, headers=world["headers"])


def rows(app, model) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
        return count


def test_the_pool_pings_nothing(app, world):
    with app.app_context():
        assert db.engine.pool._pre_ping is False


def test_a_scan_after_the_server_dropped_the_pooled_connections_checks_in_once(app, client, world):
    assert client.get("/healthz").status_code == 200  # a connection in the pool
    assert terminate_others(app) >= 1
    answer = scan(client, world, "after-a-drop-0001")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["result"] == "checked_in" and answer.get_json()["replayed"] is False
    assert rows(app, Checkin) == 1 and rows(app, CheckinScan) == 1


def test_a_connection_that_dies_unseen_fails_its_first_statement_which_runs_once_more(app, client, world,
                                                                                     monkeypatch):
    # As if the check at checkout missed the drop (it happened just after): the first statement meets
    # the dead connection, and only that statement runs again.
    monkeypatch.setattr(app_extensions, "closed_by_server", lambda dbapi_connection: False)
    assert client.get("/healthz").status_code == 200
    assert terminate_others(app) >= 1
    answer = scan(client, world, "unseen-drop-00001")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["result"] == "checked_in" and answer.get_json()["replayed"] is False
    assert rows(app, Checkin) == 1 and rows(app, CheckinScan) == 1
    # The same nonce again answers the first answer and changes nothing.
    again = scan(client, world, "unseen-drop-00001")
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert rows(app, Checkin) == 1 and rows(app, CheckinScan) == 1


def test_healthz_answers_ok_after_an_unseen_drop(app, client, world, monkeypatch):
    monkeypatch.setattr(app_extensions, "closed_by_server", lambda dbapi_connection: False)
    assert client.get("/healthz").status_code == 200
    terminate_others(app)
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.get_json()["database"] == "ok"


def test_only_the_first_statement_of_a_transaction_runs_again(app, world, monkeypatch):
    """A statement after others in the same transaction is never repeated: what ran before it is lost."""
    monkeypatch.setattr(app_extensions, "closed_by_server", lambda dbapi_connection: False)
    with app.app_context():
        assert execute_first(sa.text("SELECT 1")).scalar() == 1  # the transaction has begun
        terminate_others(app)
        with pytest.raises(DBAPIError) as caught:
            execute_first(sa.text("SELECT 2"))
        assert caught.value.connection_invalidated
        db.session.rollback()
        assert execute_first(sa.text("SELECT 3")).scalar() == 3  # a new transaction, a new connection
        db.session.remove()


def test_the_check_at_checkout_sees_a_closed_connection_without_a_round_trip(app, world):
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            assert app_extensions.closed_by_server(raw.driver_connection) is False
            terminate_others(app)
            assert app_extensions.closed_by_server(raw.driver_connection) is True
        finally:
            raw.invalidate()
