"""Teams inside an organisation, general or one of the professional kinds."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
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


class JoinMode(enum.StrEnum):
    OPEN = "open"                # anyone approved may join at once
    APPROVAL = "approval"        # a join request waits for the organiser or a captain
    INVITATION = "invitation"    # only people the organiser invites


class MembershipStatus(enum.StrEnum):
    REQUESTED = "requested"
    INVITED = "invited"
    ACTIVE = "active"
    REJECTED = "rejected"
    REMOVED = "removed"


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[TeamKind] = mapped_column(StrEnumType(TeamKind), default=TeamKind.GENERAL)
    join_mode: Mapped[JoinMode] = mapped_column(StrEnumType(JoinMode), default=JoinMode.APPROVAL,
                                                server_default=JoinMode.APPROVAL.value)
    # The WeCom group robot of the team's chat: its webhook key is the credential, so it is
    # stored encrypted like other secrets (app.pii).
    robot_webhook_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organization: Mapped[Organization] = relationship()


class TeamMembership(Base):
    """A volunteer in a team; one row per pair, its status moving as requests are decided."""

    __tablename__ = "team_memberships"
    __table_args__ = (UniqueConstraint("team_id", "volunteer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"), index=True)
    status: Mapped[MembershipStatus] = mapped_column(StrEnumType(MembershipStatus))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
