"""The administrative region tree: city → district → street → community."""

from __future__ import annotations

import enum

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, StrEnumType, UTCDateTime


class RegionLevel(enum.StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"


LEVEL_ORDER = [RegionLevel.CITY, RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY]


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[RegionLevel] = mapped_column(StrEnumType(RegionLevel))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    # Materialised path of ids, "/1/4/9/", so a subtree is one indexed prefix match.
    path: Mapped[str] = mapped_column(String(255), index=True)
    # Resident population, the denominator of the registration KPI (registered ≥ 13 % of residents).
    # Kept equal to the latest year's figure in region_populations when one is set through the API.
    population: Mapped[int | None] = mapped_column(Integer)
    # A retired region stays (its history points at it) but leaves the public tree and takes nobody new.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_reason: Mapped[str | None] = mapped_column(String(200))

    parent: Mapped[Region | None] = relationship(remote_side=[id])


class RegionPopulation(Base):
    """A region's resident population (常住人口) in one year, the statistics' denominator."""

    __tablename__ = "region_populations"
    __table_args__ = (UniqueConstraint("region_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
    updated_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
