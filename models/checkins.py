"""Attendance at an activity: one check-in and at most one check-out per volunteer, and every scan."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.activities import Activity
from models.base import Base, StrEnumType, UTCDateTime
from models.volunteers import Volunteer


class CheckinMethod(enum.StrEnum):
    CAPTAIN_SCAN = "captain_scan"      # the captain scans the volunteer's rotating personal code
    SELF_SCAN = "self_scan"            # the volunteer scans the activity's rotating display code
    OFFICIAL_QR = "official_qr"        # the volunteer scans the activity's official-account QR
    MANUAL = "manual"                  # the captain enters it for someone without a phone
    AUTO_CLOSE = "auto_close"          # a forgotten check-out closed by the job at the end


class Checkin(Base):
    __tablename__ = "checkins"
    # The guarantee behind "one check-in per volunteer and activity", whatever races above it.
    __table_args__ = (UniqueConstraint("activity_id", "volunteer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"), index=True)
    signup_id: Mapped[int | None] = mapped_column(ForeignKey("signups.id", ondelete="SET NULL"))
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime())
    checkin_method: Mapped[CheckinMethod] = mapped_column(StrEnumType(CheckinMethod))
    checked_in_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    # The code step that checked in: the same code seen again is a double scan, not a check-out.
    checkin_code_step: Mapped[int | None] = mapped_column(BigInteger)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checkout_method: Mapped[CheckinMethod | None] = mapped_column(StrEnumType(CheckinMethod))
    checked_out_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    manual_reason: Mapped[str | None] = mapped_column(Text)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)

    activity: Mapped[Activity] = relationship()
    volunteer: Mapped[Volunteer] = relationship()


class CheckinScan(Base):
    """Every scan a captain's phone or a volunteer sent, by its nonce: a repeat gets the first answer."""

    __tablename__ = "checkin_scans"
    __table_args__ = (UniqueConstraint("activity_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id", ondelete="SET NULL"))
    result: Mapped[str] = mapped_column(String(40))
    answer: Mapped[dict] = mapped_column(JSON)
    client_scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActivityQrCode(Base):
    """The official-account parametric QR of an activity for one day: made once, through the gateway."""

    __tablename__ = "activity_qr_codes"
    __table_args__ = (UniqueConstraint("activity_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)   # the Shanghai calendar day it serves
    scene: Mapped[str] = mapped_column(String(64), unique=True)
    ticket: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(300))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
