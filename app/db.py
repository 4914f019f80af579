"""The transaction boundary: one commit per request or job item."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from app.extensions import db


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Yield the session; commit once on success, roll back on any error."""
    session = db.session
    try:
        yield session
        # A unit that never touched the database has nothing to commit; skipping saves a hot path
        # (most bot replies) the cost of an empty commit.
        if session().in_transaction():
            session.commit()
    except BaseException:
        session.rollback()
        raise
