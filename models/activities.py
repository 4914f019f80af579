"""Activities: a service or a training, with its place, time, seats, gates and lifecycle."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, StrEnumType, UTCDateTime
from models.organizations import Organization
from models.regions import Region
from models.teams import Team


class ActivityKind(enum.StrEnum):
    SERVICE = "service"
    TRAINING = "training"


class ActivityStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ONGOING = "ongoing"
    FINISHED = "finished"
    EVALUATED = "evaluated"
    WITHDRAWN = "withdrawn"      # taken back before anyone signed up
    CANCELLED = "cancelled"      # called off with sign-ups: they are told


class SignupMode(enum.StrEnum):
    OPEN = "open"
    APPROVAL = "approval"


class RiskLevel(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Evaluation(enum.StrEnum):
    EXCELLENT = "excellent"      # 优秀
    QUALIFIED = "qualified"      # 合格
    UNQUALIFIED = "unqualified"  # 不合格


CARE_THEMES = ("空巢老人", "留守儿童", "困难职工", "残疾人", "党员", "文明旅游", "文明交通", "文明上网",
               "助老助残", "环境保护", "医疗健康", "法律援助", "应急救援", "文化体育", "科普教育", "社区治理")


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # Seats are taken by conditional UPDATEs; the database refuses an overbooking all the same.
        CheckConstraint("seats_taken >= 0 AND seats_taken <= capacity", name="seats_within_capacity"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("points_grade IS NULL OR points_grade BETWEEN 1 AND 3", name="points_grade_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[ActivityKind] = mapped_column(StrEnumType(ActivityKind), default=ActivityKind.SERVICE)
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The place (活动地点) of the 2012 记录办法: where people go, as shown on the archive's records.
    address: Mapped[str] = mapped_column(String(200))
    # 服务对象 and 活动负责人 of the 2012 记录办法 (activities created before them have none).
    beneficiary: Mapped[str | None] = mapped_column(String(200))
    lead_name: Mapped[str | None] = mapped_column(String(50))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    checkin_radius_m: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    capacity: Mapped[int] = mapped_column(Integer)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    signup_mode: Mapped[SignupMode] = mapped_column(StrEnumType(SignupMode), default=SignupMode.OPEN)
    required_skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_age: Mapped[int | None] = mapped_column(Integer)
    risk_level: Mapped[RiskLevel] = mapped_column(StrEnumType(RiskLevel), default=RiskLevel.LOW)
    requires_insurance: Mapped[bool] = mapped_column(Boolean, default=False)
    # Service time counts inside [start - margin, end + margin] (policy: arriving early to set up counts).
    credit_margin_minutes: Mapped[int] = mapped_column(Integer, default=30)
    # The festival campaign this activity serves, if any (campaigns count toward the yearly target).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    status: Mapped[ActivityStatus] = mapped_column(StrEnumType(ActivityStatus), default=ActivityStatus.DRAFT, index=True)
    evaluation: Mapped[Evaluation | None] = mapped_column(StrEnumType(Evaluation))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 海南's grading of activities by difficulty, skill and risk (1–3); NULL = ungraded, coefficient 1.0.
    # The coefficient of each grade is a region's points rule (app/services/points/rules.py); the
    # organiser sets it, and it is frozen once a record of the activity earned points.
    points_grade: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    organization: Mapped[Organization] = relationship()
    team: Mapped[Team | None] = relationship()
    region: Mapped[Region] = relationship()
