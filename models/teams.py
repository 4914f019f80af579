"""Teams inside an organisation, general or one of the professional kinds."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, StrEnumType, UTCDateTime
from models.organizations import Organization


class TeamKind(enum.StrEnum):
    GENERAL = "general"
    EDUCATION = "education"          # 教育
    CULTURE_SPORTS = "culture_sports"  # 文体
    SCIENCE = "science"              # 科技
    MEDICAL = "medical"              # 医疗卫生
    LEGAL = "legal"                  # 法律
    FIRE = "fire"                    # 消防
    ENVIRONMENT = "environment"      # 环保
    SOCIAL_WORK = "social_work"      # 社工
    CHARITY = "charity"              # 慈善
    TRAFFIC = "traffic"              # 交通
    FINANCE = "finance"              # 财务

    @property
    def is_professional(self) -> bool:
        return self is not TeamKind.GENERAL


TEAM_KIND_LABELS = {
    TeamKind.GENERAL: "综合", TeamKind.EDUCATION: "教育", TeamKind.CULTURE_SPORTS: "文体",
    TeamKind.SCIENCE: "科技", TeamKind.MEDICAL: "医疗卫生", TeamKind.LEGAL: "法律", TeamKind.FIRE: "消防",
    TeamKind.ENVIRONMENT: "环保", TeamKind.SOCIAL_WORK: "社工", TeamKind.CHARITY: "慈善",
    TeamKind.TRAFFIC: "交通", TeamKind.FINANCE: "财务",
}


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[TeamKind] = mapped_column(StrEnumType(TeamKind), default=TeamKind.GENERAL)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organization: Mapped[Organization] = relationship()
