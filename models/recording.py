"""Time entered by people: bulk entries (a table or a paper sign-in sheet), self-declarations, 补录.

Every way ends in `service_records` rows with its `source`; the credited span of each such record is
kept in `service_periods`, so one person is never credited in two places at overlapping times.
Requests (declarations, retroactive entries) are append-only: a decision is written once, with who and why.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class ServicePeriod(Base):
    """The span an entered record credits (scan records have theirs in `checkins`)."""

    __tablename__ = "service_periods"
    __table_args__ = (Index("ix_service_periods_volunteer_id_starts_at", "volunteer_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id", ondelete="RESTRICT"), unique=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BulkPreview(Base):
    """A parsed sign-in sheet: each row's match and problems, committed once by its id."""

    __tablename__ = "bulk_previews"
    # Ids are never reused (SQLite would reuse the largest after a delete): a stale id must not commit another sheet.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200))
    rows: Mapped[list[dict]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    committed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    result: Mapped[dict | None] = mapped_column(JSON)


class EntryStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"    # declarations: confirmed by the activity's captain or organiser
    REJECTED = "rejected"    # declarations: refused, with a reason


class Declaration(Base):
    """A volunteer says they served at an activity (times, a note, photos); its managers decide."""

    __tablename__ = "declarations"
    __table_args__ = (Index("ix_declarations_activity_id_status", "activity_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"), index=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    minutes: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    photo_upload_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[EntryStatus] = mapped_column(StrEnumType(EntryStatus), default=EntryStatus.PENDING)
    decided_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("service_records.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RetroactiveEntry(Base):
    """补录: an organiser enters a past activity held outside the system; an admin of the region above decides."""

    __tablename__ = "retroactive_entries"
    __table_args__ = (Index("ix_retroactive_entries_organization_id_status", "organization_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(60))
    place: Mapped[str] = mapped_column(String(200))
    beneficiary: Mapped[str] = mapped_column(String(100), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    evidence_upload_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[EntryStatus] = mapped_column(StrEnumType(EntryStatus), default=EntryStatus.PENDING)
    created_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    decided_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # The held activity made on approval, which the records point to.
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RetroactiveAttendee(Base):
    __tablename__ = "retroactive_attendees"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("retroactive_entries.id", ondelete="CASCADE"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    record_id: Mapped[int | None] = mapped_column(ForeignKey("service_records.id", ondelete="SET NULL"))
