"""Local festival days that admins add to the built-in calendar for their region."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class LocalFestivalDay(Base):
    """A region's own festival day on a fixed solar date: every year, or one year only."""

    __tablename__ = "local_festival_days"
    # AUTOINCREMENT: DELETE /calendar/local-days/{id} retried after a new day took a reused id
    # would delete the wrong day on SQLite.
    __table_args__ = (CheckConstraint("month BETWEEN 1 AND 12 AND day BETWEEN 1 AND 31", name="month_and_day"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    month: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    year: Mapped[int | None] = mapped_column(Integer)   # None: every year
    theme: Mapped[str] = mapped_column(String(100))
    lead: Mapped[str] = mapped_column(String(40))
    created_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
