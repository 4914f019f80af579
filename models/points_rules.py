"""Points earning rules per region, what each service record earned, and the ranking consent.

- `PointsRule`: one row per region that overrides anything; every column may be NULL, meaning "as
  the region above" (like `StarRule`). "No limit" is written 0 (NULL already means "inherit").
- `PointsEarning`: one row per service record the earning pass has handled, with what it moved (0
  when nothing: a source that does not earn, the yearly cap reached). The record id is the primary
  key, so a second pass over the same record cannot insert a second row: earning is exactly once
  per record whatever retries, and "records without an earning" is an anti-join on a primary key.
- `PointsRankingConsent`: a volunteer who chose to appear (masked) in public rankings. No row = not
  shown: PIPL treats public display as needing consent, so rankings are opt-in.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class PointsRule(Base):
    """A region's points rules; NULL columns inherit from the region above."""

    __tablename__ = "points_rules"
    __table_args__ = (
        CheckConstraint("points_per_hour IS NULL OR (points_per_hour >= 0 AND points_per_hour <= 1000)",
                        name="points_per_hour_range"),
        CheckConstraint("yearly_cap IS NULL OR yearly_cap >= 0", name="yearly_cap_range"),
        CheckConstraint("expiry_months IS NULL OR (expiry_months >= 0 AND expiry_months <= 240)",
                        name="expiry_months_range"),
        CheckConstraint("gift_max_per_gift IS NULL OR gift_max_per_gift >= 0", name="gift_max_per_gift_range"),
        CheckConstraint("gift_max_per_year IS NULL OR gift_max_per_year >= 0", name="gift_max_per_year_range"),
        CheckConstraint("bonus_cap_per_activity IS NULL OR bonus_cap_per_activity >= 0",
                        name="bonus_cap_per_activity_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), unique=True)
    points_per_hour: Mapped[int | None] = mapped_column(Integer)
    # Coefficients of activity grades 1, 2, 3 (海南: difficulty, skill, risk); ungraded activities use 1.0.
    grade_coefficients: Mapped[list[float] | None] = mapped_column(JSON)
    # RecordSource values that earn.
    sources: Mapped[list[str] | None] = mapped_column(JSON)
    # 0 = no cap / never expires / no limit.
    yearly_cap: Mapped[int | None] = mapped_column(Integer)
    expiry_months: Mapped[int | None] = mapped_column(Integer)
    gift_max_per_gift: Mapped[int | None] = mapped_column(Integer)
    gift_max_per_year: Mapped[int | None] = mapped_column(Integer)
    bonus_cap_per_activity: Mapped[int | None] = mapped_column(Integer)
    # Records of service that started (Shanghai date of the activity's start) before this day earn nothing.
    # NULL inherits (none anywhere: no cut-off); below an ancestor's date a region sets an earlier one.
    earning_starts_on: Mapped[date | None] = mapped_column(Date)
    updated_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PointsEarning(Base):
    """What one service record moved on the ledger (signed: a correction of hours takes points back)."""

    __tablename__ = "points_earnings"
    __table_args__ = (
        Index("ix_points_earnings_volunteer_id_activity_id", "volunteer_id", "activity_id"),
        Index("ix_points_earnings_volunteer_id_year", "volunteer_id", "year"),
    )

    record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id", ondelete="RESTRICT"), primary_key=True,
                                           autoincrement=False)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="RESTRICT"))
    # Shanghai calendar year of the record, for the yearly cap.
    year: Mapped[int] = mapped_column(Integer)
    # Net points moved for this record: positive earned, negative taken back, 0 nothing.
    points: Mapped[int] = mapped_column(BigInteger)
    # What the rules alone would have moved, before the yearly cap and the balance clamp.
    computed_points: Mapped[int] = mapped_column(BigInteger)
    # Why points differs from computed_points: "yearly_cap", "clamped_to_balance", "source_not_earning",
    # "before_earning_start", …
    note: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PointsRankingConsent(Base):
    __tablename__ = "points_ranking_consents"

    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True,
                                              autoincrement=False)
    consented: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
