"""Rewards (积分换服务 / 积分换物质奖励) and their redemptions, two-phase over the points ledger.

A reward is published by an organisation acting as a station (服务站) or a sponsor; its `stock` is
reserved by a conditional UPDATE (stock > 0) and a CHECK keeps it from going below zero whoever
writes. A redemption is a ledger hold (hold_transfer_id) plus one unit of stock: fulfilled when the
station scans its code (ledger post), voided by the volunteer or expired by the job (the hold is
released and the unit returns). The 6-digit pick-up code is unique among the station's live
(held) redemptions by a partial unique index; the QR carries the unguessable token instead.

Station operators are a table of their own, not a role grant: role_grants allows one grant per
account and organisation (uq_role_grants_organization), so an organiser could not also be an
operator of the same organisation there, and its CHECK ties each role to one scope column.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class RewardKind(enum.StrEnum):
    SERVICE = "service"      # 积分换服务
    GOODS = "goods"          # 积分换物质奖励


class RewardPublisher(enum.StrEnum):
    STATION = "station"      # the organisation hands it out at its own station
    SPONSOR = "sponsor"      # a sponsor (an organisation) pays for it; still picked up at the organisation


class RewardStatus(enum.StrEnum):
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class RedemptionStatus(enum.StrEnum):
    HELD = "held"
    FULFILLED = "fulfilled"
    VOIDED = "voided"
    EXPIRED = "expired"


# The statuses that count against a volunteer's limit per person.
COUNTED_STATUSES = (RedemptionStatus.HELD, RedemptionStatus.FULFILLED)


class Reward(Base):
    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("points_price > 0", name="price_positive"),
        CheckConstraint("limit_per_person >= 1", name="limit_positive"),
        CheckConstraint("valid_until > valid_from", name="validity_ordered"),
        CheckConstraint("hold_minutes IS NULL OR (hold_minutes >= 5 AND hold_minutes <= 43200)",
                        name="hold_minutes_range"),
        Index("ix_rewards_status_region_id", "status", "region_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    publisher: Mapped[RewardPublisher] = mapped_column(StrEnumType(RewardPublisher))
    sponsor_name: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[RewardKind] = mapped_column(StrEnumType(RewardKind))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    points_price: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    limit_per_person: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    pickup_place: Mapped[str] = mapped_column(String(200))
    # Volunteers of this region and below see it; its holds/redemptions points accounts are this region's.
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"))
    # How long a hold waits for pick-up; NULL: [rewards] hold_minutes.
    hold_minutes: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[RewardStatus] = mapped_column(StrEnumType(RewardStatus))
    created_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Redemption(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("hold_transfer_id"),
        UniqueConstraint("pickup_token"),
        # Six digits are typed at the station: unique among that station's live redemptions only.
        Index("uq_redemptions_live_code", "organization_id", "pickup_code", unique=True,
              postgresql_where=text("status = 'held'"), sqlite_where=text("status = 'held'")),
        Index("ix_redemptions_volunteer_id_reward_id", "volunteer_id", "reward_id"),
        Index("ix_redemptions_status_hold_expires_at", "status", "hold_expires_at"),
        CheckConstraint("length(pickup_code) = 6", name="pickup_code_six"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id", ondelete="RESTRICT"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"))
    # The station (the reward's organisation), copied so the code index and the scan need no join.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    points: Mapped[int] = mapped_column(Integer)
    status: Mapped[RedemptionStatus] = mapped_column(StrEnumType(RedemptionStatus))
    hold_transfer_id: Mapped[int] = mapped_column(ForeignKey("points_transfers.id", ondelete="RESTRICT"))
    pickup_token: Mapped[str] = mapped_column(String(64))
    pickup_code: Mapped[str] = mapped_column(String(6))
    hold_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fulfilled_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))


class StationOperator(Base):
    """An account that may scan pick-up codes at an organisation's station (organisers may too)."""

    __tablename__ = "reward_station_operators"
    __table_args__ = (UniqueConstraint("organization_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    granted_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
