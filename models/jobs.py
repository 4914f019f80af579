"""Runs of periodic jobs, one per (job, period), so a double fire or a take-over runs nothing twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    # The period the run is for, e.g. "2026-11-23T10:05" for a minutely job, "2026-Q4" for a quarterly one.
    period: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # running, done, failed
    owner: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(String(500))
