"""Uploaded files (photos, scanned sign-in sheets, evidence): stored under an unguessable key, referred to by token.

A client uploads first (`POST /api/v1/uploads`) and gets a token; a later write (an activity's photos,
a declaration's evidence) names the token, and the service attaches the upload to what it belongs to.
Only the uploader may attach an upload; it is served only through signed, expiring links.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class UploadPurpose(enum.StrEnum):
    ACTIVITY_PHOTO = "activity_photo"        # 活动照片, on a held activity's summary
    DECLARATION_PHOTO = "declaration_photo"  # a volunteer's self-declared service
    EVIDENCE = "evidence"                    # 补录 evidence: photos, a scanned sign-in sheet (PDF)


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    # 32 random URL-safe characters: what clients hold; the id never leaves the service.
    token: Mapped[str] = mapped_column(String(43), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[UploadPurpose] = mapped_column(StrEnumType(UploadPurpose))
    content_type: Mapped[str] = mapped_column(String(40))   # sniffed from the bytes, never the client's word
    size_bytes: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(200))
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
