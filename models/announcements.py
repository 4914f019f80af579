"""Announcements an organiser broadcasts to an audience of volunteers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class AnnouncementStatus(enum.StrEnum):
    QUEUED = "queued"            # accepted; the fan-out has not finished writing the outbox rows
    FANNED_OUT = "fanned_out"    # every recipient has an outbox row; the workers deliver them


class Announcement(Base):
    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    author_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="SET NULL"))
    # {"kind": organization|team|activity|region, "id": ..., "categories": [...], "skills": [...]}
    audience: Mapped[dict] = mapped_column(JSON)
    status: Mapped[AnnouncementStatus] = mapped_column(StrEnumType(AnnouncementStatus), default=AnnouncementStatus.QUEUED)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    # Recipients no push channel reaches (no subscribe credit, not following the account): inbox only.
    unreachable_count: Mapped[int] = mapped_column(Integer, default=0)
    # The fan-out walks volunteers in id order; everything up to this id has its outbox rows.
    fanout_cursor: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
