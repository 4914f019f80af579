"""Public verification of a certificate: `/v/{serial}?c={code}`, with no login and no JavaScript.

The serial is printed on the certificate; the code (16 random characters) is a secret of the
certificate that only its QR code and the holder's copy carry, so knowing or guessing a serial
reveals nothing. Unknown serial or wrong code → 404 (the same answer, compared in constant time);
revoked → 410 with the reason and the date (as Open Badges answers a revoked assertion); a
certificate in publicity shows as such. Lookups are rate-limited per client with a token bucket in
Redis (`[certificates] verify_per_minute`, `verify_burst`); with Redis unreachable, lookups are not
held back (the limit guards against enumeration, the code's 80 bits against guessing).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import redis
from flask import current_app
from sqlalchemy import JSON, Engine, Row, bindparam, create_engine, func, select, type_coerce
from sqlalchemy.exc import DBAPIError

from app.errors import DomainError
from app.extensions import db, get_redis, settings
from app.services.certificates import publicity
from app.services.rate_limits import TokenBucket
from app.timeutil import to_local
from models import Certificate, CertificateStatus, Organization

logger = logging.getLogger(__name__)

_VISIBLE = (CertificateStatus.PUBLICITY, CertificateStatus.ISSUED, CertificateStatus.REVOKED)
STATUS_LABELS = {CertificateStatus.REQUESTED: "待审核", CertificateStatus.PUBLICITY: "公示中",
                 CertificateStatus.ISSUED: "有效", CertificateStatus.REJECTED: "未通过",
                 CertificateStatus.REVOKED: "已撤销"}


def link(serial: str, code: str) -> str:
    """The verification link the QR code carries."""
    return f"{settings()['certificates']['public_base_url'].rstrip('/')}/v/{serial}?c={code}"


def require_budget(client: str) -> None:
    """429 `too_many_requests` when the client has used its lookups."""
    conf = settings()["certificates"]
    try:
        granted = TokenBucket(get_redis(), f"certificate-verify:{client}", rate=conf["verify_per_minute"] / 60,
                              capacity=conf["verify_burst"]).take(1).granted
    except redis.RedisError as exc:
        logger.warning("verification rate limit unavailable: %s", exc)
        return
    if not granted:
        raise DomainError("too_many_requests", "查询过于频繁，请稍后再试", 429)


# The page's one statement: the columns it shows and the issuer's name, by the unique serial (its
# index), as plain rows (no ORM objects). The body is the frozen snapshot once issued, else the
# publicised content.
_BODY = type_coerce(func.coalesce(Certificate.snapshot, Certificate.content), JSON)
_LOOKUP = (select(Certificate.serial, Certificate.status, Certificate.verification_code, Certificate.period_start,
                  Certificate.period_end, Certificate.publicity_ends_at, Certificate.revoked_at,
                  Certificate.revocation_reason, Certificate.snapshot_sha256, _BODY.label("body"),
                  Organization.name.label("organization_name"))
           .join(Organization, Organization.id == Certificate.organization_id)
           .where(Certificate.serial == bindparam("serial")))
# Compared against when the serial is unknown, so both answers take the same path.
_NO_CODE = b"0" * 16


def lookup(serial: str, code: str) -> Row:
    """The certificate with this serial and code, if it is public (in publicity, issued or revoked); else 404.

    Outside a transaction (a page view opens none) on PostgreSQL it reads on an autocommit
    connection: one round trip, with no BEGIN and ROLLBACK around it; inside one (tests, a caller's unit of work) it reads
    in that transaction, so it sees what the transaction wrote.
    """
    row = None
    if len(serial) <= 40:
        bind = db.session.get_bind()
        if db.session().in_transaction() or bind.dialect.name != "postgresql":
            # (SQLite: its driver's transaction handling is set up per connection by the engine,
            # which a switch to autocommit and back would undo; a local file has no round trips.)
            row = db.session.connection().execute(_LOOKUP, {"serial": serial}).first()
        else:
            row = _read_autocommit(bind, serial)
    expected = row.verification_code.encode() if row is not None else _NO_CODE
    matches = hmac.compare_digest(expected, (code or "").upper().encode()[:64])
    if row is None or not matches or row.status not in _VISIBLE:
        raise DomainError("certificate_not_found", "查无此证明：请核对证明编号和验证码", 404)
    return row


def _read_autocommit(bind: Engine, serial: str) -> Row | None:
    """The lookup on the page's own small pool of autocommit connections, without a ping per checkout.

    The app's engine pings each connection it hands out (a round trip, ~15 % of a view's CPU); here a
    connection found dead (a restarted database) is invalidated and the read tried once more instead.
    """
    app = current_app._get_current_object()
    engine = app.extensions.get("verification_engine")
    if engine is None:
        engine = create_engine(bind.url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=8, pool_timeout=10,
                               pool_pre_ping=False)
        app.extensions["verification_engine"] = engine
    for attempt in (1, 2):
        try:
            with engine.connect() as connection:
                return connection.execute(_LOOKUP, {"serial": serial}).first()
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    return None


def etag(row: Row) -> str:
    """What the page shows changes only with the status (and the frozen snapshot): a validator for 304s."""
    return f'{row.status.value}-{row.snapshot_sha256 or "p"}-{int(row.revoked_at.timestamp()) if row.revoked_at else 0}'


def public_view(row: Row) -> dict[str, Any]:
    """What anyone holding the link sees: masked name, hours, period, issuer, issue date, status."""
    body = row.body or {}
    identity, service, issuer = body.get("identity", {}), body.get("service", {}), body.get("issuer", {})
    organization_name = issuer.get("name") or row.organization_name
    return {
        "serial": row.serial,
        "status": row.status.value,
        "status_label": STATUS_LABELS[row.status],
        "masked_name": identity.get("masked_name"),
        "volunteer_number": identity.get("volunteer_number"),
        "hours": service.get("hours"),
        "activity_count": service.get("activity_count"),
        "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(),
        "issuer": organization_name,
        "issued_for_dissolved": bool(issuer.get("issued_for_dissolved")),
        "issuing_region": issuer.get("issuing_region"),
        "issue_date": (body.get("other") or {}).get("issue_date"),
        "publicity_ends_on": (publicity.through(row.publicity_ends_at).isoformat()
                              if row.status is CertificateStatus.PUBLICITY and row.publicity_ends_at else None),
        "revoked_on": to_local(row.revoked_at).date().isoformat() if row.revoked_at else None,
        "revocation_reason": row.revocation_reason,
        "snapshot_sha256": row.snapshot_sha256,
    }
