"""Role grants: captain of a team, organiser of an organisation, admin of a region subtree."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class Role(enum.StrEnum):
    CAPTAIN = "captain"
    ORGANIZER = "organizer"
    ADMIN = "admin"


class RoleGrant(Base):
    """One role on one scope; the volunteer role itself is an approved Volunteer profile."""

    __tablename__ = "role_grants"
    __table_args__ = (
        # One grant per account and scope. A plain unique constraint over the three nullable scope
        # columns would not do: NULLs never collide. The CHECK below ties each role to one column,
        # so a partial unique index per column says exactly "this role on this scope, once".
        Index("uq_role_grants_team", "account_id", "team_id", unique=True,
              postgresql_where=text("team_id IS NOT NULL"), sqlite_where=text("team_id IS NOT NULL")),
        Index("uq_role_grants_organization", "account_id", "organization_id", unique=True,
              postgresql_where=text("organization_id IS NOT NULL"), sqlite_where=text("organization_id IS NOT NULL")),
        Index("uq_role_grants_region", "account_id", "region_id", unique=True,
              postgresql_where=text("region_id IS NOT NULL"), sqlite_where=text("region_id IS NOT NULL")),
        # Exactly the scope column that fits the role is set, so a grant can never widen itself.
        CheckConstraint(
            "(role = 'captain' AND team_id IS NOT NULL AND organization_id IS NULL AND region_id IS NULL)"
            " OR (role = 'organizer' AND organization_id IS NOT NULL AND team_id IS NULL AND region_id IS NULL)"
            " OR (role = 'admin' AND region_id IS NOT NULL AND team_id IS NULL AND organization_id IS NULL)",
            name="scope_matches_role",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(StrEnumType(Role))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"))
    granted_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
