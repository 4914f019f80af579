"""The administrative region tree: city → district → street → community."""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, StrEnumType


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
    population: Mapped[int | None] = mapped_column(Integer)

    parent: Mapped[Region | None] = relationship(remote_side=[id])
