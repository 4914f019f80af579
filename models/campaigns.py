"""Festival-day campaigns: one per festival, year and organisation, or region-wide by an admin."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"        # made ahead of the day; the organisers were asked to plan an activity
    PLANNED = "planned"    # at least one activity is linked to it


class Campaign(Base):
    __tablename__ = "campaigns"
    # One campaign per festival day and organisation; region-wide ones (no organisation) one per region.
    __table_args__ = (
        Index("uq_campaigns_organization", "festival_key", "year", "organization_id", unique=True,
              postgresql_where=text("organization_id IS NOT NULL"), sqlite_where=text("organization_id IS NOT NULL")),
        Index("uq_campaigns_region_wide", "festival_key", "year", "region_id", unique=True,
              postgresql_where=text("organization_id IS NULL"), sqlite_where=text("organization_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    festival_key: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(60))
    day: Mapped[date] = mapped_column(Date, index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    theme: Mapped[str] = mapped_column(String(100))
    lead: Mapped[str] = mapped_column(String(40))
    status: Mapped[CampaignStatus] = mapped_column(StrEnumType(CampaignStatus), default=CampaignStatus.DRAFT)
    # Made by the draft job rather than by a person.
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
