"""Certificates of volunteer service (志愿服务记录证明): requested, reviewed, publicised, issued, revocable.

One certificate per issuing organisation and period (谁记录谁证明: the organisation whose activities
recorded the hours). The content is built when the issuer's handler approves the request and is
publicised as it stands; on issue it is frozen into `snapshot` with its SHA-256 and never changes
again (a correction needs a new certificate). The serial is public; the verification code is a
secret of the certificate: only both together reveal it on the verification page.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime
from models.bulletins import PdfStatus


class CertificateStatus(enum.StrEnum):
    REQUESTED = "requested"    # waiting for the issuer's handler
    PUBLICITY = "publicity"    # approved; publicised until publicity_ends_at, objections may be raised
    ISSUED = "issued"          # snapshot frozen, PDF rendered in the background
    REJECTED = "rejected"      # refused at review, or an objection was upheld
    REVOKED = "revoked"        # withdrawn after issue, with a reason


# States in which a certificate for the same volunteer, issuer and period is still alive.
OPEN_CERTIFICATE_STATUSES = (CertificateStatus.REQUESTED, CertificateStatus.PUBLICITY)


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("organization_id", "serial_year", "serial_seq"),
        Index("ix_certificates_organization_id_status", "organization_id", "status"),
        Index("ix_certificates_status_publicity_ends_at", "status", "publicity_ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="RESTRICT"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[CertificateStatus] = mapped_column(StrEnumType(CertificateStatus), default=CertificateStatus.REQUESTED)
    note: Mapped[str | None] = mapped_column(Text)
    # Public number, given when publicity starts: ZM{organisation id}-{year}-{sequence}.
    serial: Mapped[str | None] = mapped_column(String(40), unique=True)
    serial_year: Mapped[int | None] = mapped_column(Integer)
    serial_seq: Mapped[int | None] = mapped_column(Integer)
    # 16 base32 characters (80 random bits): the secret the QR carries beside the serial.
    verification_code: Mapped[str] = mapped_column(String(16))
    # The four parts as publicised (set on approval); `snapshot` adds the issue date and is frozen on issue.
    content: Mapped[dict | None] = mapped_column(JSON)
    snapshot: Mapped[dict | None] = mapped_column(JSON)
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64))
    requested_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reviewed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    publicity_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issued_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    pdf_status: Mapped[PdfStatus] = mapped_column(StrEnumType(PdfStatus), default=PdfStatus.PENDING)
    pdf_file_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ObjectionStatus(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"          # the certificate is rejected
    DISMISSED = "dismissed"    # publicity goes on


class CertificateObjection(Base):
    """An objection raised during publicity (append-only: the decision is recorded beside it, with who and why)."""

    __tablename__ = "certificate_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="RESTRICT"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[ObjectionStatus] = mapped_column(StrEnumType(ObjectionStatus), default=ObjectionStatus.OPEN)
    decided_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CertificatePolicy(Base):
    """A region's publicity rule for certificates issued by its organisations (the nearest region up the tree wins)."""

    __tablename__ = "certificate_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), unique=True)
    publicity_days: Mapped[int] = mapped_column(Integer)
    # Count working days (China's official holidays and make-up working days) instead of calendar days.
    working_days: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
