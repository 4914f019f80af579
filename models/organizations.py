"""Volunteer organisations, registered in a region and approved by an admin."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, StrEnumType, UTCDateTime
from models.regions import Region


class OrganizationStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class OrganizationKind(enum.StrEnum):
    """社会组织 / 机关 / 企事业单位 / 学校 / 社区 / 其他."""

    SOCIAL = "social"
    GOVERNMENT = "government"
    ENTERPRISE = "enterprise"
    SCHOOL = "school"
    COMMUNITY = "community"
    OTHER = "other"


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    status: Mapped[OrganizationStatus] = mapped_column(StrEnumType(OrganizationStatus), default=OrganizationStatus.PENDING)
    approved_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The profile an applicant files (POST /organizations); organisations created before it have none.
    # 统一社会信用代码 (GB 32100-2015), checked by app/credit_code.py.
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    kind: Mapped[OrganizationKind | None] = mapped_column(StrEnumType(OrganizationKind))
    contact_name: Mapped[str | None] = mapped_column(String(32))
    contact_mobile: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # Who applied; made the first organiser when an admin approves.
    applicant_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))

    region: Mapped[Region] = relationship()
