"""Volunteer numbers (志愿者编号): given on approval, the home region's code and a zero-padded sequence.

Shaped like the national system's (region code + sequence): a volunteer of community
500103001001 approved third there is 50010300100100000003. The number is given once and never
changes (a move to another community keeps it) and is what lists, exports and certificates show
where an identifier is public, instead of the resident ID number.

Safe under concurrent approvals: the sequence of a prefix lives in one row of
`volunteer_number_sequences`, moved by one `INSERT … ON CONFLICT DO UPDATE SET last_value =
last_value + 1 RETURNING last_value`. The database runs such statements on one row one after
another (PostgreSQL holds the row lock to the end of the transaction, SQLite has one writer), so
each approval reads the value its own increment produced: no two get the same number, and a
rolled-back approval takes its increment with it (no gaps). The volunteer's number is then set by
`UPDATE … WHERE volunteer_number IS NULL` (given once), and the unique index refuses a duplicate
whatever the code does.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from models import Region, Volunteer, VolunteerNumberSequence, VolunteerStatus

logger = logging.getLogger(__name__)

# Digits of the sequence; the column holds 24 characters, so a prefix keeps at most 16 of the code.
WIDTH = 8
PREFIX_LENGTH = 24 - WIDTH
# Volunteers who have been approved carry a number (a suspension keeps it).
NUMBERED = (VolunteerStatus.APPROVED, VolunteerStatus.SUSPENDED)


def prefix_of(region_code: str) -> str:
    """The prefix a region's volunteers are numbered under: its code (a longer code shares its first 16 characters)."""
    return region_code[:PREFIX_LENGTH]


def format_number(prefix: str, sequence: int) -> str:
    """The number itself: prefix and the sequence, zero-padded to WIDTH digits."""
    return f"{prefix}{sequence:0{WIDTH}d}"


def next_sequence(prefix: str) -> int:
    """Take the next sequence number of the prefix (one atomic upsert; see the module docstring)."""
    table = VolunteerNumberSequence.__table__
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(prefix=prefix, last_value=1)
    statement = statement.on_conflict_do_update(index_elements=[table.c.prefix],
                                                set_={"last_value": table.c.last_value + 1})
    return db.session.execute(statement.returning(table.c.last_value)).scalar_one()


def assign_number(volunteer: Volunteer) -> str:
    """The volunteer's number, given now if they have none yet; the caller commits.

    Given once: a volunteer who already has one keeps it (a second call, a concurrent approval of
    the same person, a reinstatement). The flush makes the row current before the conditional update.
    """
    db.session.flush()
    if volunteer.volunteer_number:
        return volunteer.volunteer_number
    code = db.session.scalar(select(Region.code).where(Region.id == volunteer.region_id))
    prefix = prefix_of(code)
    number = format_number(prefix, next_sequence(prefix))
    given = db.session.execute(
        update(Volunteer).where(Volunteer.id == volunteer.id, Volunteer.volunteer_number.is_(None))
        .values(volunteer_number=number).execution_options(synchronize_session=False)).rowcount
    db.session.refresh(volunteer, ["volunteer_number"])
    if not given:
        # Someone else numbered this volunteer meanwhile: theirs stands (this increment is a gap).
        logger.info("volunteer %s was numbered concurrently; kept %s", volunteer.id, volunteer.volunteer_number)
    return volunteer.volunteer_number


def backfill(*, limit: int | None = None) -> int:
    """Number approved (or suspended) volunteers who have none, in order of approval; how many were numbered.

    For archives made approved outside the review (demo data, imports): the migration numbered
    those approved before numbers existed. Safe to run again and beside approvals.
    """
    query = (select(Volunteer).where(Volunteer.volunteer_number.is_(None), Volunteer.status.in_(NUMBERED))
             .order_by(func.coalesce(Volunteer.reviewed_at, Volunteer.created_at), Volunteer.id))
    done = 0
    for volunteer in db.session.scalars(query.limit(limit) if limit else query).all():
        assign_number(volunteer)
        done += 1
    return done
