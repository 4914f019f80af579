"""Star volunteers (星级志愿者): rules per region, applications that become awarded stars, objections.

- `StarRule`: one row per region that overrides anything; every column may be NULL, meaning "as the
  region above" (the nearest region up the tree that set it, else the built-in default). So a
  district can change only the thresholds and keep the city's approval levels.
- `StarApplication`: one application per volunteer and level, which is also the award: pending
  review → publicity → awarded (→ revoked), or rejected. The row of an awarded star is its history
  entry; a volunteer's current star is the highest level awarded and not revoked. A partial unique
  index keeps one open (pending/publicity) application per volunteer and level, another one live
  award per volunteer and level; both hold on PostgreSQL and SQLite (partial indexes exist in both).
- `StarObjection`: raised during publicity, decided by an admin of the approving level (append-only
  like certificates' objections).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class StarStatus(enum.StrEnum):
    PENDING = "pending"        # waiting for an admin of the approving level
    PUBLICITY = "publicity"    # approved; publicised until publicity_ends_at, objections may be raised
    AWARDED = "awarded"        # the star is held
    REJECTED = "rejected"      # refused at review, or an objection was upheld
    REVOKED = "revoked"        # withdrawn after award, with a reason


OPEN_STAR_STATUSES = (StarStatus.PENDING, StarStatus.PUBLICITY)


class StarOrigin(enum.StrEnum):
    JOB = "job"                # the daily job found the volunteer qualified
    VOLUNTEER = "volunteer"    # the volunteer applied


class StarRule(Base):
    """A region's star rules; NULL columns inherit from the region above."""

    __tablename__ = "star_rules"
    __table_args__ = (
        CheckConstraint("min_months IS NULL OR (min_months >= 0 AND min_months <= 240)", name="min_months_range"),
        CheckConstraint("publicity_days IS NULL OR (publicity_days >= 1 AND publicity_days <= 60)",
                        name="publicity_days_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), unique=True)
    # Hours for 1★ … 5★, strictly increasing (checked by the service).
    thresholds_hours: Mapped[list[int] | None] = mapped_column(JSON)
    min_months: Mapped[int | None] = mapped_column(Integer)
    # RecordSource values whose minutes count.
    sources: Mapped[list[str] | None] = mapped_column(JSON)
    # RegionLevel of the approving admins for 1★ … 5★.
    approval_levels: Mapped[list[str] | None] = mapped_column(JSON)
    publicity_days: Mapped[int | None] = mapped_column(Integer)
    publicity_working_days: Mapped[bool | None] = mapped_column(Boolean)
    updated_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StarApplication(Base):
    __tablename__ = "star_applications"
    __table_args__ = (
        CheckConstraint("level >= 1 AND level <= 5", name="level_range"),
        Index("uq_star_applications_open", "volunteer_id", "level", unique=True,
              postgresql_where=text("status IN ('pending', 'publicity')"),
              sqlite_where=text("status IN ('pending', 'publicity')")),
        Index("uq_star_applications_awarded", "volunteer_id", "level", unique=True,
              postgresql_where=text("status = 'awarded'"), sqlite_where=text("status = 'awarded'")),
        Index("ix_star_applications_status_publicity_ends_at", "status", "publicity_ends_at"),
        Index("ix_star_applications_approval_region_id_status", "approval_region_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    status: Mapped[StarStatus] = mapped_column(StrEnumType(StarStatus), default=StarStatus.PENDING)
    origin: Mapped[StarOrigin] = mapped_column(StrEnumType(StarOrigin))
    # The region whose admins (or admins above it) review: the home region's ancestor at the rule's level.
    approval_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"))
    # What the volunteer had when the application was opened, and the rules then in force (kept as read).
    qualifying_minutes: Mapped[int] = mapped_column(Integer)
    months_registered: Mapped[int] = mapped_column(Integer)
    rules: Mapped[dict] = mapped_column(JSON)
    opened_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reviewed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    publicity_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    awarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)


class StarObjectionStatus(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"          # the application is rejected
    DISMISSED = "dismissed"    # publicity goes on


class StarObjection(Base):
    __tablename__ = "star_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("star_applications.id", ondelete="RESTRICT"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[StarObjectionStatus] = mapped_column(StrEnumType(StarObjectionStatus),
                                                        default=StarObjectionStatus.OPEN)
    decided_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
