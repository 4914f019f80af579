"""A registered volunteer's archive: real name, contact, categories, skills, region, review state."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.accounts import Account
from models.base import Base, StrEnumType, UTCDateTime
from models.regions import Region


class VolunteerStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    # The person deleted their account (注销): the row stays for the service records, anonymised.
    DELETED = "deleted"
    # Suspended by an organiser or admin (暂停): cannot sign up or check in until reinstated.
    SUSPENDED = "suspended"


class RegistrationChannel(enum.StrEnum):
    """How the archive came in: the KPI `self_registration_rate` counts `self` (online, by the person)."""

    SELF = "self"
    ORGANIZER = "organizer"    # entered by an organiser on the person's behalf
    IMPORT = "import"          # bulk import of an existing roll


class Gender(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"


class Volunteer(Base):
    __tablename__ = "volunteers"
    # Ids are never reused (SQLite would reuse the largest after a delete): URLs and codes carry them.
    # The directory's keyset orders (status, sort key, id) each have an index, so a page of 100,000
    # volunteers in scope reads 21 index entries, however deep (app/services/paging.py).
    __table_args__ = (
        Index("ix_volunteers_status_created_at_id", "status", "created_at", "id"),
        Index("ix_volunteers_status_real_name_id", "status", "real_name", "id"),
        Index("ix_volunteers_status_minutes_id", "status", "total_service_minutes", "id"),
        Index("ix_volunteers_created_at_id", "created_at", "id"),
        # The directory's total: an index-only count of the scope's regions in one status.
        Index("ix_volunteers_region_id_status", "region_id", "status"),
        # PostgreSQL only: GIN indexes for the directory's category and skill filters (app.db.JsonArrayHolds).
        Index("ix_volunteers_categories_gin", text("(categories::jsonb)"), postgresql_using="gin").ddl_if(
            dialect="postgresql"),
        Index("ix_volunteers_skills_gin", text("(skills::jsonb)"), postgresql_using="gin").ddl_if(dialect="postgresql"),
        # PostgreSQL only: trigrams of the name, so a search of three characters or more (a full
        # name) reads the matches instead of every name in scope (pg_trgm, created by migration 0011).
        Index("ix_volunteers_real_name_trgm", text("real_name gin_trgm_ops"), postgresql_using="gin").ddl_if(
            dialect="postgresql"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), unique=True)
    real_name: Mapped[str] = mapped_column(String(50))
    # None only for a deleted volunteer (erased).
    mobile: Mapped[str | None] = mapped_column(String(11))
    # The mobile's last four digits, kept with every write of `mobile`: the directory's search by them.
    mobile_last4: Mapped[str | None] = mapped_column(String(4), index=True)
    # Resident ID number, Fernet-encrypted with app.pii_key (PIPL: sensitive personal information).
    id_number_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Keyed hash of the ID number, so one ID cannot register twice without decrypting every row.
    id_number_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    gender: Mapped[Gender | None] = mapped_column(StrEnumType(Gender))
    birth_date: Mapped[date | None] = mapped_column(Date)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    # 志愿者编号, given on approval: the home region's code and a sequence; public where an ID number is not.
    volunteer_number: Mapped[str | None] = mapped_column(String(24), unique=True, index=True)
    guardian_name: Mapped[str | None] = mapped_column(String(50))
    guardian_mobile: Mapped[str | None] = mapped_column(String(11))
    status: Mapped[VolunteerStatus] = mapped_column(StrEnumType(VolunteerStatus), default=VolunteerStatus.PENDING, index=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    registration_channel: Mapped[RegistrationChannel] = mapped_column(
        StrEnumType(RegistrationChannel), default=RegistrationChannel.SELF, server_default=RegistrationChannel.SELF.value)
    # Why and when an organiser or admin suspended the volunteer (cleared on reinstatement).
    suspension_reason: Mapped[str | None] = mapped_column(Text)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # TOTP secret of the rotating personal check-in code; created on first use, rotatable.
    checkin_secret: Mapped[str | None] = mapped_column(String(32))
    # Totals of the service-record ledger, updated in the same transaction as each record.
    total_service_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    service_record_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    account: Mapped[Account] = relationship(foreign_keys=[account_id])
    region: Mapped[Region] = relationship()

    @validates("mobile")
    def _keep_last_four(self, _key: str, mobile: str | None) -> str | None:
        self.mobile_last4 = mobile[-4:] if mobile else None
        return mobile
