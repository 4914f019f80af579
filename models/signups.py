"""A volunteer's place in an activity: applied, approved, waitlisted, rejected or cancelled."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.activities import Activity
from models.base import Base, StrEnumType, UTCDateTime
from models.volunteers import Volunteer


class SignupStatus(enum.StrEnum):
    PENDING = "pending"          # approval mode: waiting for the organiser; holds no seat
    APPROVED = "approved"        # holds a seat
    WAITLISTED = "waitlisted"    # promoted in order of waitlisted_at when a seat frees
    REJECTED = "rejected"
    CANCELLED = "cancelled"


# Statuses that occupy the volunteer's time (used for time conflicts).
ACTIVE_SIGNUP_STATUSES = (SignupStatus.PENDING, SignupStatus.APPROVED, SignupStatus.WAITLISTED)


class Signup(Base):
    __tablename__ = "signups"
    # One row per volunteer and activity: a second application reuses it, so no duplicate can exist.
    __table_args__ = (
        UniqueConstraint("activity_id", "volunteer_id"),
        Index("ix_signups_activity_id_status_waitlisted_at", "activity_id", "status", "waitlisted_at"),
        # The ledger's balance here never goes below zero, whatever the code or a race does.
        CheckConstraint("service_minutes >= 0", name="service_minutes_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"), index=True)
    status: Mapped[SignupStatus] = mapped_column(StrEnumType(SignupStatus))
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The volunteer's ledger balance at this activity: the sum of their service records here, moved
    # by a conditional relative UPDATE in the transaction of each record (see service_records).
    service_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    activity: Mapped[Activity] = relationship()
    volunteer: Mapped[Volunteer] = relationship()
