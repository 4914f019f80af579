"""The web console's logins: scan-to-login tickets, one-time login links and the sessions they open.

Secrets are stored only as SHA-256 digests (the session id, the browser's ticket secret, the link
token): whoever reads the database cannot log in with what they read. A session also records its
account's `token_generation`, so revoking the account's tokens (disabling, deletion) ends it too.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, StrEnumType, UTCDateTime


class TicketStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CONSUMED = "consumed"


class ConsoleLoginTicket(Base):
    """A scan-to-login ticket: shown as a mini-program code, confirmed by the scanner, redeemed once by its browser."""

    __tablename__ = "console_login_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random, carried in the mini-program code's scene (≤ 32 characters): public to whoever sees the screen.
    ticket: Mapped[str] = mapped_column(String(32), unique=True)
    # Digest of the secret in the creating browser's cookie: only that browser may redeem the ticket.
    browser_secret_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[TicketStatus] = mapped_column(StrEnumType(TicketStatus), default=TicketStatus.PENDING)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsoleSession(Base):
    """A browser logged in to the console; the cookie holds the id, the row only its digest."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # The account's token generation at login: a later bump (disable, deletion) ends the session.
    token_generation: Mapped[int] = mapped_column(Integer)
    # Sent back in X-CSRF-Token on every write the cookie authenticates.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Refreshed at most once a minute; idle_expires_at moves with it, never past expires_at.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    idle_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ConsoleLoginLink(Base):
    """A one-time login link (`flask console login-link`), for first set-up, demos and tests."""

    __tablename__ = "console_login_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
