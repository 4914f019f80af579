"""app.direct_statements.first_row: the scan's statements by psycopg directly, with SQLAlchemy's answers.

On PostgreSQL each test runs the planned path (compiled once, converted by the types' processors);
on SQLite `first_row` is `execute(...).first()`, and the same assertions hold. The dropped connection
(a driver error wrapped and the connection invalidated, so the request's first statement runs once
more) is tested through the scan in tests/handlers/test_scan_dropped_connection.py.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import bindparam, event, select
from sqlalchemy.exc import IntegrityError

from app.direct_statements import first_row
from app.extensions import db
from models import Activity, ActivityStatus, CheckinScan, Signup, SignupStatus, Volunteer, VolunteerStatus
from tests import factories as f

# Built once, as the scan's statements are: a plan is kept per statement object.
ACTIVITY_AND_SIGNUP = (
    select(Activity.id, Activity.status, Activity.title, Activity.starts_at, Volunteer.status.label("volunteer_status"),
           Signup.status.label("signup_status"), Signup.service_minutes)
    .join(Signup, Signup.activity_id == Activity.id).join(Volunteer, Volunteer.id == Signup.volunteer_id)
    .where(Activity.id == bindparam("activity_id"), Activity.status == bindparam("status", type_=Activity.status.type))
)
ECHO = select(bindparam("doc", type_=CheckinScan.answer.type).label("doc"),
              bindparam("at", type_=Activity.starts_at.type).label("at"))
TOUCH_ACTIVITY = sa.update(Activity).where(Activity.id == bindparam("activity_id")).values(title=Activity.title)
ACTIVITY_IN = select(Activity.id, Activity.title).where(Activity.id.in_(bindparam("ids", expanding=True)))
SIGNUP_AGAIN = sa.text("INSERT INTO signups (activity_id, volunteer_id, status, service_minutes, created_at, "
                       "updated_at) SELECT activity_id, volunteer_id, status, service_minutes, created_at, updated_at "
                       "FROM signups "
                       "WHERE activity_id = :activity_id RETURNING id")


@pytest.fixture
def activity_id(app_context, now):
    world = f.scan_ready(now)
    db.session.commit()
    return world.activity.id


def test_a_row_is_the_row_sqlalchemy_gives_with_the_same_types(app_context, activity_id):
    connection = db.session.connection()
    params = {"activity_id": activity_id, "status": ActivityStatus.PUBLISHED}
    expected = connection.execute(ACTIVITY_AND_SIGNUP, params).first()
    for _ in range(3):  # the first run learns the columns; the later ones use what it learnt
        row = first_row(connection, ACTIVITY_AND_SIGNUP, params)
        assert tuple(row) == tuple(expected)
        assert [type(value) for value in row] == [type(value) for value in expected]
        assert row.status is ActivityStatus.PUBLISHED and row.signup_status is SignupStatus.APPROVED
        assert row.volunteer_status is VolunteerStatus.APPROVED
        assert row.starts_at == expected.starts_at and row.starts_at.utcoffset() is not None


def test_the_bound_parameters_are_converted_by_their_types(app_context, activity_id):
    # The enum parameter is bound as its database value: a draft's filter finds nothing.
    connection = db.session.connection()
    assert first_row(connection, ACTIVITY_AND_SIGNUP, {"activity_id": activity_id, "status": ActivityStatus.DRAFT}) \
        is None
    assert first_row(connection, ACTIVITY_AND_SIGNUP,
                     {"activity_id": activity_id, "status": ActivityStatus.PUBLISHED}).id == activity_id


def test_json_and_time_parameters_go_through_their_types_both_ways(app_context, now):
    connection = db.session.connection()
    answer = {"result": "checked_in", "volunteer": {"name": "李*"}, "minutes": 0}
    row = first_row(connection, ECHO, {"doc": answer, "at": now})
    assert row.doc == answer and row.at == now
    # UTCDateTime refuses a naive time when it is bound, here as through `execute`.
    with pytest.raises(sa.exc.StatementError, match="naive"):
        first_row(connection, ECHO, {"doc": answer, "at": now.replace(tzinfo=None)})


def test_a_missing_parameter_is_refused_before_anything_is_sent(app_context, activity_id):
    with pytest.raises(sa.exc.StatementError, match="activity_id|status"):
        first_row(db.session.connection(), ACTIVITY_AND_SIGNUP, {"activity_id": activity_id})


def test_a_statement_with_an_expanding_parameter_runs_through_sqlalchemy(app_context, activity_id):
    row = first_row(db.session.connection(), ACTIVITY_IN, {"ids": [activity_id, activity_id + 1000]})
    assert row.id == activity_id and row.title


def test_a_unique_violation_is_sqlalchemys_integrity_error_with_the_drivers_cause(app_context, activity_id):
    # The scan tells a nonce answered meanwhile from other refusals by the cause's table (SecondRowPresent).
    connection = db.session.connection()
    with pytest.raises(IntegrityError) as caught:
        first_row(connection, SIGNUP_AGAIN, {"activity_id": activity_id})
    if connection.dialect.name == "postgresql":
        assert caught.value.orig.sqlstate == "23505" and caught.value.orig.diag.table_name == "signups"
    else:
        assert "UNIQUE" in str(caught.value.orig)


def test_a_statement_that_returns_no_rows_is_refused_as_sqlalchemy_refuses_it(app_context, activity_id):
    connection = db.session.connection()
    with pytest.raises(sa.exc.ResourceClosedError):
        connection.execute(TOUCH_ACTIVITY, {"activity_id": activity_id}).first()
    with pytest.raises(sa.exc.ResourceClosedError):
        first_row(connection, TOUCH_ACTIVITY, {"activity_id": activity_id})


def test_statement_listeners_see_each_statement_as_sent(app_context, activity_id):
    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(("before", statement.split()[0], activity_id in _values(parameters)))

    def after(conn, cursor, statement, parameters, context, executemany):
        seen.append(("after", statement.split()[0], activity_id in _values(parameters)))

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    try:
        first_row(db.session.connection(), ACTIVITY_AND_SIGNUP,
                  {"activity_id": activity_id, "status": ActivityStatus.PUBLISHED})
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
    assert seen == [("before", "SELECT", True), ("after", "SELECT", True)]


def _values(parameters) -> list:
    return list(parameters.values()) if isinstance(parameters, dict) else list(parameters)
