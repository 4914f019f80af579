"""Monthly bulletins (月月通报) and quarterly reports (季度报告): frozen figures people rely on.

A bulletin is claimed as a row `generating` for (region, month) — the unique key that makes the
freeze idempotent — and becomes `frozen` once, by a conditional UPDATE, with its content and the
content's SHA-256. A frozen row's content never changes; a later correction shows in the next
month's bulletin. The PDF is rendered afterwards, in the background, into a file (`pdf_file_key`).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class BulletinStatus(enum.StrEnum):
    GENERATING = "generating"  # claimed; its content is being computed
    FROZEN = "frozen"          # content and hash set once; never changes again
    FAILED = "failed"          # the computation failed; the next run tries again


class PdfStatus(enum.StrEnum):
    PENDING = "pending"        # not rendered yet (the bulletin is generating, or the render is queued)
    READY = "ready"            # pdf_file_key names the file
    FAILED = "failed"          # the render failed; the next freeze run queues it again


class Bulletin(Base):
    __tablename__ = "bulletins"
    __table_args__ = (UniqueConstraint("region_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # "2026-11"
    status: Mapped[BulletinStatus] = mapped_column(StrEnumType(BulletinStatus), default=BulletinStatus.GENERATING)
    content: Mapped[dict | None] = mapped_column(JSON)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pdf_status: Mapped[PdfStatus] = mapped_column(StrEnumType(PdfStatus), default=PdfStatus.PENDING)
    pdf_file_key: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuarterlyReport(Base):
    """A unit's (street's or district's) quarterly report to the node above, with its figures as submitted."""

    __tablename__ = "quarterly_reports"
    __table_args__ = (UniqueConstraint("region_id", "quarter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    quarter: Mapped[str] = mapped_column(String(7))  # "2026-Q4"
    submitted_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    figures: Mapped[dict] = mapped_column(JSON, default=dict)
