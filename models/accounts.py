"""A WeChat identity that has logged in; the subject of tokens and role grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The mini-program openid: the identity a volunteer logs in with.
    mp_openid: Mapped[str] = mapped_column(String(64), unique=True)
    # The same person's official-account openid, when linked (it differs per app).
    oa_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime())
