"""An admin's permission for an organisation to hold activities in a region outside its own subtree."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class RegionPermit(Base):
    __tablename__ = "region_permits"
    # One permit per organisation and region: granting it again changes nothing.
    __table_args__ = (UniqueConstraint("organization_id", "region_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    # The permit covers this region's whole subtree.
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(String(200))
    granted_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
