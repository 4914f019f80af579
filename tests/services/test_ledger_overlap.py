"""The overlap rule twice: `ledger.overlapping` in Python, `ledger.FIRST_OVERLAP` in SQL.

A check-out on PostgreSQL checks overlap inside its one crediting statement (`FIRST_OVERLAP`);
every other credit, and every credit on SQLite, checks it in Python. Both must find an overlap for
exactly the same spans: here a scanned stay clipped to its activity's window and margin, and time
entered elsewhere, against every window on a 10-minute grid around them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.services import checkins, signups
from app.services.recording import ledger
from models import RecordSource
from tests import factories as f

RULES = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)
GRID = timedelta(minutes=10)


@pytest.fixture
def credited(app_context, now):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("FIRST_OVERLAP is PostgreSQL's (SQLite checks overlap in Python only)")
    world = f.World(now).build("tree", "org", "team", "captain", "organizer")
    scanned = world.add_activity(starts_in=timedelta(hours=2), duration=timedelta(hours=2), credit_margin_minutes=30)
    entered = world.add_activity(starts_in=timedelta(hours=6), duration=timedelta(hours=2))
    volunteer = world.volunteer
    for activity in (scanned, entered):
        signups.apply(volunteer.account, activity.id, join_waitlist=False, now=now)
    # In 20 minutes early (inside the margin), out 50 minutes late (past it): credited to ends + 30 min.
    for at, nonce in ((scanned.starts_at - timedelta(minutes=20), "overlap-in"),
                      (scanned.ends_at + timedelta(minutes=50), "overlap-out")):
        checkins.manual_entry(world.captain.id, scanned.id, volunteer_id=volunteer.id, reason="测试", nonce=nonce,
                              rules=RULES, now=at, at=at)
    quarter = timedelta(minutes=15)
    ledger.credit(entered, volunteer.id, entered.starts_at + quarter, entered.ends_at - quarter,
                  source=RecordSource.BULK, account_id=world.organizer.id, now=now)
    db.session.flush()
    spans = {(scanned.title, scanned.starts_at - timedelta(minutes=20), scanned.ends_at + timedelta(minutes=30)),
             (entered.title, entered.starts_at + timedelta(minutes=15), entered.ends_at - timedelta(minutes=15))}
    return volunteer.id, spans, scanned.starts_at - timedelta(hours=1), entered.ends_at + timedelta(hours=1)


def test_the_sql_rule_finds_an_overlap_exactly_where_the_python_rule_does(credited):
    volunteer_id, spans, first, last = credited
    points = [first + GRID * i for i in range(int((last - first) / GRID) + 1)]
    found = 0
    for since in points:
        for until in (point for point in points if point > since):
            expected = {(title, start, end) for title, start, end in spans if start < until and end > since}
            in_python = ledger.overlapping(volunteer_id, since, until)
            in_sql = db.session.execute(ledger.FIRST_OVERLAP, {"v_id": volunteer_id, "since": since,
                                                               "until": until}).first()
            assert (in_python is None) == (not expected), (since, until, in_python)
            assert (in_sql is None) == (not expected), (since, until, in_sql)
            if expected:
                found += 1
                assert tuple(in_sql) in expected and tuple(in_python) in expected
    assert found > 100  # both spans, from every side
