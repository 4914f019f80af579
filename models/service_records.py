"""The service-hour ledger: append-only; a correction is a new entry saying who and why."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.activities import Activity
from models.base import Base, StrEnumType, UTCDateTime
from models.volunteers import Volunteer


class RecordKind(enum.StrEnum):
    ATTENDANCE = "attendance"      # written at check-out, from the check-in
    CORRECTION = "correction"      # minutes added or taken back by a captain or organiser


class RecordSource(enum.StrEnum):
    """How the minutes came to be recorded: statistics and certificates tell scanned hours from entered ones."""

    SCAN = "scan"                  # check-in and check-out scans (信用时长)
    MANUAL = "manual"              # an organiser's correction, an approved correction request
    BULK = "bulk"                  # a captain's or organiser's bulk entry (table or sign-in sheet)
    DECLARATION = "declaration"    # a volunteer's self-declaration, confirmed by the activity's managers
    RETROACTIVE = "retroactive"    # 补录 of service held outside the system, approved a level above
    IMPORT = "import"              # past records imported from another system's spreadsheet


class ServiceRecord(Base):
    __tablename__ = "service_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"), index=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"), index=True)
    # Unique: one attendance record per check-in (corrections have none; NULLs never collide).
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id", ondelete="RESTRICT"), unique=True)
    kind: Mapped[RecordKind] = mapped_column(StrEnumType(RecordKind))
    source: Mapped[RecordSource] = mapped_column(StrEnumType(RecordSource), default=RecordSource.SCAN,
                                                 server_default=RecordSource.SCAN.value)
    minutes: Mapped[int] = mapped_column(Integer)
    corrects_record_id: Mapped[int | None] = mapped_column(ForeignKey("service_records.id", ondelete="RESTRICT"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    activity: Mapped[Activity] = relationship()
    volunteer: Mapped[Volunteer] = relationship()


class CorrectionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class CorrectionRequest(Base):
    """A volunteer asks for their minutes at an activity to be corrected; the organiser decides."""

    __tablename__ = "correction_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"), index=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"), index=True)
    requested_minutes: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[CorrectionStatus] = mapped_column(StrEnumType(CorrectionStatus), default=CorrectionStatus.PENDING)
    decided_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    correction_record_id: Mapped[int | None] = mapped_column(ForeignKey("service_records.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
