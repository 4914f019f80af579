"""Imports of an organisation's existing roll and past records from XLSX; imported archives to be claimed.

An import is uploaded (the file kept under a storage key), previewed (each row's result and problems,
by row number) and committed once. What a commit wrote is remembered row by row so that importing
the same file again changes nothing: an imported volunteer is found again by ID number or mobile,
an imported record by its fingerprint (volunteer, activity name, date, minutes), unique per organisation.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class ImportKind(enum.StrEnum):
    VOLUNTEERS = "volunteers"    # 志愿者名册
    RECORDS = "records"          # 历史服务记录


class ImportStatus(enum.StrEnum):
    PREVIEWED = "previewed"      # read and checked; nothing written yet
    COMMITTED = "committed"      # written, once


class Import(Base):
    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    kind: Mapped[ImportKind] = mapped_column(StrEnumType(ImportKind))
    filename: Mapped[str] = mapped_column(String(120))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[ImportStatus] = mapped_column(StrEnumType(ImportStatus), default=ImportStatus.PREVIEWED)
    # The preview's counts and its first problems (row number, column, message): what the organiser saw.
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    # What the commit did: rows written, rows already there, rows skipped for problems.
    outcome: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    committed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImportedVolunteer(Base):
    """An archive created by an import, held by a placeholder account until the person claims it."""

    __tablename__ = "imported_volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"), unique=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="RESTRICT"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    # The disabled account with no WeChat identity that owns the archive until it is claimed.
    placeholder_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), unique=True)
    claimed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImportedActivity(Base):
    """The activity standing for one past activity (name and day) of an organisation's imported records."""

    __tablename__ = "imported_activities"
    __table_args__ = (UniqueConstraint("organization_id", "title", "held_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(60))
    held_on: Mapped[date] = mapped_column(Date)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"), unique=True)


class ImportedRecord(Base):
    """One service record written by an import; its fingerprint makes a second import of the row a no-op."""

    __tablename__ = "imported_records"
    __table_args__ = (UniqueConstraint("organization_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="RESTRICT"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    service_record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id", ondelete="RESTRICT"), unique=True)
