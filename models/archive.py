"""A volunteer's archive beside the service ledger: awards and complaints, attendee evaluations,
activity reports (summary and photos), and the per-prefix sequences behind volunteer numbers.

Everything here is appended, never changed: a retraction of an award or complaint is a new entry
that names the one it retracts; a new evaluation or report is a new revision; the current one is
the latest. Each row says who wrote it and when (the 2012 记录办法 and the 2020 办法: 真实、完整, with
who and why).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.activities import Evaluation
from models.base import Base, StrEnumType, UTCDateTime


class ArchiveEntryKind(enum.StrEnum):
    AWARD = "award"              # 表彰
    COMPLAINT = "complaint"      # 投诉 received about the volunteer's service


class ArchiveEntry(Base):
    """An award or a complaint in a volunteer's archive, or the retraction of one."""

    __tablename__ = "archive_entries"
    __table_args__ = (
        Index("ix_archive_entries_volunteer_id_kind", "volunteer_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"))
    kind: Mapped[ArchiveEntryKind] = mapped_column(StrEnumType(ArchiveEntryKind))
    title: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")
    # 授予单位 of an award, 投诉来源 of a complaint: the outside body's name, as written on paper.
    issuer: Mapped[str | None] = mapped_column(String(100))
    occurred_on: Mapped[date] = mapped_column(Date)
    # The organisation that entered it (None: a region admin entered it).
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    # Set on a retraction: the entry it takes back. Unique, so two retractions at once land once.
    retracts_entry_id: Mapped[int | None] = mapped_column(ForeignKey("archive_entries.id", ondelete="RESTRICT"),
                                                          unique=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AttendeeEvaluation(Base):
    """One revision of a captain's or organiser's rating of an attendee (志愿者评价): 优秀 / 合格 / 不合格."""

    __tablename__ = "attendee_evaluations"
    # One revision number per (activity, volunteer): a lost race cannot write the same revision twice.
    __table_args__ = (
        UniqueConstraint("activity_id", "volunteer_id", "revision"),
        Index("ix_attendee_evaluations_volunteer_id", "volunteer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"))
    revision: Mapped[int] = mapped_column(Integer)
    rating: Mapped[Evaluation] = mapped_column(StrEnumType(Evaluation))
    note: Mapped[str] = mapped_column(Text, default="")
    evaluated_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActivityReport(Base):
    """One revision of a held activity's summary (内容总结) and photos (活动照片), for the monthly inspection."""

    __tablename__ = "activity_reports"
    __table_args__ = (UniqueConstraint("activity_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"))
    revision: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)
    # Ids of `uploads` rows (purpose activity_photo), in the order shown; at most 20.
    photo_upload_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VolunteerNumberSequence(Base):
    """The last sequence number given under a prefix (a home region's code): one row per prefix.

    Moved by one `INSERT … ON CONFLICT DO UPDATE … RETURNING` per approval, which the database runs
    one at a time per row, so two approvals at once never get the same number.
    """

    __tablename__ = "volunteer_number_sequences"

    prefix: Mapped[str] = mapped_column(String(24), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)
