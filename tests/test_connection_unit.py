"""app.db.connection_unit: a unit of work on a pooled connection of its own, without the ORM session.

The scan a phone sends runs in one (`core_unit_of_work`, PostgreSQL); the scan tests hold its
answers, races and dropped connections to the same outcomes as before. These tests hold the unit
itself to `unit_of_work`'s contract: one commit on success, nothing left on any error, the
connection back in the pool in its default mode, and the session untouched.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import bindparam, select, update

from app.db import (begin_transaction, connection_unit, core_unit_of_work, first_row_of_first, unit_connection,
                    unit_of_work)
from app.direct_statements import first_row
from app.extensions import db
from models import Activity
from tests import factories as f

RENAME = update(Activity).where(Activity.id == bindparam("activity_id")).values(title=bindparam("title"))
RENAME_RETURNING = RENAME.returning(Activity.title)
TITLE = select(Activity.id, Activity.title).where(Activity.id == bindparam("activity_id"))


class Refused(Exception):
    pass


@pytest.fixture
def activity_id(app_context, now):
    world = f.scan_ready(now)
    db.session.commit()
    activity_id = world.activity.id
    db.session.remove()
    return activity_id


def title_seen_elsewhere(activity_id: int) -> str:
    """The title as a new connection outside every unit reads it: what was committed."""
    with db.engine.connect().execution_options(sqlite_read_only=True) as connection:
        return connection.execute(TITLE, {"activity_id": activity_id}).one().title


def pooled_connections_out() -> int:
    return db.engine.pool.checkedout()


def test_a_unit_commits_once_on_its_own_connection_and_leaves_the_session_alone(activity_id):
    with connection_unit():
        connection = unit_connection()
        assert unit_connection() is connection  # every statement of the unit on one connection
        connection.execute(RENAME, {"activity_id": activity_id, "title": "改名一次"})
        assert title_seen_elsewhere(activity_id) != "改名一次"  # not before the unit commits
    assert title_seen_elsewhere(activity_id) == "改名一次"
    assert not db.session.registry.has()  # no ORM session was made for the unit
    assert pooled_connections_out() == 0


def test_a_unit_that_raises_writes_nothing(activity_id):
    before = title_seen_elsewhere(activity_id)
    with pytest.raises(Refused), connection_unit():
        unit_connection().execute(RENAME, {"activity_id": activity_id, "title": "不该留下"})
        raise Refused()
    assert title_seen_elsewhere(activity_id) == before
    assert pooled_connections_out() == 0


def test_a_unit_that_runs_nothing_checks_out_nothing(activity_id):
    with connection_unit():
        assert pooled_connections_out() == 0
    assert pooled_connections_out() == 0


@pytest.mark.parametrize("begins", [False, True])
def test_an_autocommit_unit_commits_each_statement_until_it_begins_a_transaction(activity_id, begins):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("autocommit is PostgreSQL's (SQLite units are one transaction)")
    with pytest.raises(Refused), connection_unit():
        assert first_row_of_first(TITLE, {"activity_id": activity_id}, autocommit=True).id == activity_id
        if begins:
            begin_transaction()
        unit_connection().execute(RENAME, {"activity_id": activity_id, "title": "已提交"})
        raise Refused()
    # Without a transaction the statement committed as it ended; inside one, the error undid it.
    assert (title_seen_elsewhere(activity_id) == "已提交") is not begins
    with db.engine.connect() as connection:  # the pool's connection went back in its default mode
        assert connection.connection.driver_connection.autocommit is False
        assert connection.get_isolation_level() == "READ COMMITTED"


def test_statements_run_by_psycopg_directly_commit_with_the_unit(activity_id):
    # As a scanned check-out runs: the door in autocommit, then a transaction whose statements all
    # bypass SQLAlchemy's execution (and so its autobegin); the unit's commit must still reach them.
    with connection_unit():
        assert first_row_of_first(TITLE, {"activity_id": activity_id}, autocommit=True).id == activity_id
        begin_transaction()
        assert first_row(unit_connection(), RENAME_RETURNING,
                         {"activity_id": activity_id, "title": "签退时改的"}).title == "签退时改的"
    assert title_seen_elsewhere(activity_id) == "签退时改的"


def test_the_session_unit_and_the_connection_unit_share_the_statements(activity_id):
    # Outside a connection unit, unit_connection() is the session's connection, flushed first.
    with unit_of_work() as session:
        session.get(Activity, activity_id).title = "会话里改的"
        assert unit_connection().execute(TITLE, {"activity_id": activity_id}).one().title == "会话里改的"
        assert unit_connection() is session.connection()
    assert title_seen_elsewhere(activity_id) == "会话里改的"


def test_the_core_unit_is_a_connection_unit_on_postgresql_unless_the_caller_has_work_in_progress(activity_id):
    postgresql = db.engine.dialect.name == "postgresql"
    with core_unit_of_work():
        unit_connection().execute(RENAME, {"activity_id": activity_id, "title": "扫码改的"})
        assert db.session.registry.has() is not postgresql
    assert title_seen_elsewhere(activity_id) == "扫码改的"
    db.session.remove()

    # A caller (a test, a CLI command) with uncommitted rows: the unit shares its session, sees the
    # rows and commits them with its own, as a request in the caller's app context does.
    db.session.get(Activity, activity_id).title = "调用方未提交的"
    db.session.flush()
    with core_unit_of_work():
        assert unit_connection().execute(TITLE, {"activity_id": activity_id}).one().title == "调用方未提交的"
    assert title_seen_elsewhere(activity_id) == "调用方未提交的"


def test_a_commit_that_fails_rolls_back_and_returns_the_connection(activity_id):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a deferred constraint is PostgreSQL's")
    before = title_seen_elsewhere(activity_id)
    with pytest.raises(sa.exc.IntegrityError), connection_unit():
        connection = unit_connection()
        connection.execute(sa.text("CREATE TEMPORARY TABLE deferred_check (v int, "
                                   "CONSTRAINT positive CHECK (v > 0) NO INHERIT, "
                                   "CONSTRAINT once UNIQUE (v) DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP"))
        connection.execute(RENAME, {"activity_id": activity_id, "title": "提交时失败"})
        connection.execute(sa.text("INSERT INTO deferred_check VALUES (1), (1)"))  # refused only at COMMIT
    assert title_seen_elsewhere(activity_id) == before
    assert pooled_connections_out() == 0
