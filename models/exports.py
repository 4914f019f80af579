"""Exports: one row per requested spreadsheet, the truth about it (the task queue only carries its id)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Export(Base):
    __tablename__ = "exports"
    __table_args__ = (
        # A retried request (same nonce) finds the export it already made.
        UniqueConstraint("requested_by_account_id", "nonce", name="uq_exports_account_nonce"),
        Index("ix_exports_account_created_at_id", "requested_by_account_id", "created_at", "id"),
        Index("ix_exports_status_heartbeat_at", "status", "heartbeat_at"),
        Index("ix_exports_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    requested_by_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    scope_type: Mapped[str] = mapped_column(String(16))  # region, organization, activity
    scope_id: Mapped[int] = mapped_column(Integer)
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    reveal_personal: Mapped[bool] = mapped_column(Boolean, default=False)
    reveal_reason: Mapped[str | None] = mapped_column(Text)
    nonce: Mapped[str] = mapped_column(String(64))
    status: Mapped[ExportStatus] = mapped_column(StrEnumType(ExportStatus), default=ExportStatus.QUEUED)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    row_count: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    file_key: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Written with each progress step: a `running` export whose heartbeat stopped lost its worker.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the file is deleted (the row stays, as a record of what was exported).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
