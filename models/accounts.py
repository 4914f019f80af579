"""A WeChat identity that has logged in; the subject of tokens and role grants.

A token names the account and the account's `token_generation` when it was issued; every
authenticated request compares both, so bumping the generation revokes every token at once.
A disabled account (`disabled_at`) and a deleted one (`deleted_at`, 注销) answer 401 everywhere.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class Account(Base):
    __tablename__ = "accounts"
    # Ids are never reused, even on SQLite after the last row is deleted: a token carries one.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    # The mini-program openid: the identity a volunteer logs in with. A deleted account holds a
    # placeholder instead (`deleted:<id>`), so the same WeChat user logging in again is a new account.
    mp_openid: Mapped[str] = mapped_column(String(64), unique=True)
    # The same person's official-account openid, when linked (it differs per app).
    oa_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Bumped to revoke every token issued so far (disabling, deletion).
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
