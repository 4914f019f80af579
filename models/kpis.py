"""The KPI rollup and per-region targets: what the statistics pages read instead of the raw tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Float, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class KpiTarget(Base):
    """A region's own target and yellow band for one indicator; its subtree inherits it."""

    __tablename__ = "kpi_targets"
    __table_args__ = (UniqueConstraint("region_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    target: Mapped[float] = mapped_column(Float)
    yellow_band: Mapped[float] = mapped_column(Float)
    updated_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KpiValue(Base):
    """One indicator of one region in one period, as of the snapshot `computed_at`.

    Written only by app/services/kpi/refresh.py, whose upsert keeps the newest snapshot: a slow
    refresh that started earlier can never overwrite the figures of one that started later.
    """

    __tablename__ = "kpi_values"
    __table_args__ = (UniqueConstraint("region_id", "period", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(40))
    # Minutes and people can exceed 2**31 summed over a large city's year: 64-bit.
    numerator: Mapped[int] = mapped_column(BigInteger)
    denominator: Mapped[int] = mapped_column(BigInteger)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatValue(Base):
    """One bucket of one statistics breakdown of a region in a period, as of the snapshot `computed_at`.

    Per node, already summed up the tree (a district's row counts every resident of its subtree),
    so a read is one indexed lookup. Written only by app/services/kpi/stat_rollup.py in the KPI
    refresh; only the rows of a (region, period) bearing its newest `computed_at` are the figures
    (a bucket that fell to zero is not rewritten; older rows are stale, and deleted by the refresh).
    """

    __tablename__ = "stat_values"
    __table_args__ = (UniqueConstraint("period", "region_id", "dimension", "bucket"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(10))
    dimension: Mapped[str] = mapped_column(String(20))
    bucket: Mapped[str] = mapped_column(String(40))
    # Minutes of a city's year exceed 2**31: 64-bit.
    value: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
