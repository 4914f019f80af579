"""Record transfers (转移和接续): a volunteer moves to another organisation or community.

The service records never move: they stay with the organisation that recorded them (谁记录谁证明).
What moves is the volunteer's membership (their teams in the releasing organisation → a team of the
receiving one) or their home community (`volunteers.region_id`). The receipt is frozen at approval.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class TransferKind(enum.StrEnum):
    ORGANIZATION = "organization"   # to another organisation: team memberships move
    COMMUNITY = "community"         # to another community: the home region moves


class TransferStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class Transfer(Base):
    """One application and its decision; rows are never deleted, a decision never undone."""

    __tablename__ = "transfers"
    __table_args__ = (
        # The guarantee against duplicate applications: one pending transfer per volunteer, whatever
        # races (two taps with different nonces, two devices). A partial unique index on both backends.
        Index("uq_transfers_volunteer_pending", "volunteer_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[TransferKind] = mapped_column(StrEnumType(TransferKind))
    status: Mapped[TransferStatus] = mapped_column(StrEnumType(TransferStatus), default=TransferStatus.PENDING)
    # Organisation transfers: the releasing organisation (None when the volunteer belonged to none)
    # and the receiving one, with the team the volunteer asked for (the approver may choose another).
    from_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"),
                                                             index=True)
    to_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"),
                                                           index=True)
    to_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    # The home community when the volunteer applied, and (community transfers) the one they move to.
    from_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    to_region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # The team the volunteer joined on approval (organisation transfers).
    joined_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # The transfer receipt, frozen when approved: hours by the organisation that recorded them.
    receipt: Mapped[dict | None] = mapped_column(JSON)
    receipt_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
