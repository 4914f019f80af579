"""Freezing a month's bulletin, once per (node, month), and telling the people it concerns.

The freeze runs in two steps, each its own transaction (the caller's `unit_of_work`):
1. `claim(region_id, month)` inserts the row `generating` unless (region, month) exists: the
   unique key is the idempotency, so two schedulers, a retried task or an admin's button make one row.
2. `complete(bulletin_id, now=…, inputs=…)` computes the content and sets it with a conditional
   UPDATE (`WHERE status != 'frozen'`): of two runs racing on the same row only one changes it, the
   other finds it frozen and does nothing. The one that froze it tells the node's admins and the
   organisers of the organisations below it, in the same transaction (outbox rows, keyed).
   The month's freeze passes the `contents.Inputs` it gathered once for the whole tree; alone, a
   bulletin gathers them for its node.
A frozen row is never written again except for its PDF's state and file key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update

from app.db import insert_unless_present
from app.errors import DomainError
from app.extensions import db, settings
from app.services import notifications, regions
from app.services.bulletins import content as contents
from app.services.kpi.periods import MONTH, Period
from app.timeutil import SHANGHAI, to_local
from models import (Bulletin, BulletinStatus, Organization, OrganizationStatus, PdfStatus, Region, RegionLevel, Role,
                    RoleGrant)

logger = logging.getLogger(__name__)

BULLETIN_LEVELS = (RegionLevel.CITY, RegionLevel.DISTRICT, RegionLevel.STREET)
# A claim still `generating` after this long lost its task (a worker killed, a queue message lost).
STALE_AFTER = timedelta(minutes=30)
ERROR_MAX_CHARS = 500


def parse_kind(text: str, kind: str, *, field: str, example: str, what: str) -> Period:
    """A period of one kind (a month as `2026-11`, a quarter as `2026-Q4`); anything else is `invalid_period` (422)."""
    period = Period.parse(text)
    if period.kind != kind:
        raise DomainError("invalid_period", f"{what}格式应为 {example}", 422, fields={field: f"格式应为 {example}"})
    return period


def parse_month(text: str) -> Period:
    return parse_kind(text, MONTH, field="month", example="2026-11", what="通报月份")


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 of the content's canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def children_of(node: Region) -> list[Region]:
    """The children a bulletin ranks: the node's children that are not retired, by code."""
    return regions.children_of(node.id)


def nodes_with_children() -> list[int]:
    """Ids of every city, district and street that has a child not retired: the nodes that get a bulletin."""
    child = Region.__table__.alias("child")
    return list(db.session.scalars(
        select(Region.id).where(Region.level.in_(BULLETIN_LEVELS), Region.retired_at.is_(None),
                                exists().where(child.c.parent_id == Region.id, child.c.retired_at.is_(None)))
        .order_by(Region.id)))


def due_month(now: datetime) -> Period:
    """The latest month whose bulletin is due at `now`: last month from the freeze day and hour on, else the one before."""
    conf = settings()["bulletins"]
    local = to_local(now)
    this_month = Period.current(MONTH, now)
    turn = datetime(local.year, local.month, conf["freeze_day"], conf["freeze_hour"], tzinfo=SHANGHAI)
    return this_month.previous() if local >= turn else this_month.shift(-2)


def claim(region_id: int, month: Period, *, now: datetime) -> tuple[Bulletin, bool]:
    """The (region, month) bulletin row, inserted `generating` unless it exists; (row, whether new)."""
    new_id = insert_unless_present(Bulletin, {
        "region_id": region_id, "month": month.key, "status": BulletinStatus.GENERATING,
        "pdf_status": PdfStatus.PENDING, "created_at": now})
    row = db.session.scalar(select(Bulletin).where(Bulletin.region_id == region_id, Bulletin.month == month.key)
                            .execution_options(populate_existing=True))
    return row, new_id is not None


def retry_claim(bulletin_id: int, *, now: datetime) -> bool:
    """Take back a failed or stale claim for another run; whether this caller took it."""
    return db.session.execute(
        update(Bulletin).where(Bulletin.id == bulletin_id, (Bulletin.status == BulletinStatus.FAILED) | (
            (Bulletin.status == BulletinStatus.GENERATING) & (Bulletin.created_at < now - STALE_AFTER)))
        .values(status=BulletinStatus.GENERATING, created_at=now, error=None)
        .execution_options(synchronize_session=False)).rowcount == 1


def claim_due(month: Period, *, now: datetime) -> list[int]:
    """Claim the month's bulletin of every node with children; the ids to (re)compute: new, failed or stale claims."""
    existing = {row.region_id: row for row in db.session.scalars(select(Bulletin).where(Bulletin.month == month.key))}
    todo = []
    for region_id in nodes_with_children():
        row = existing.get(region_id)
        if row is None:
            row, new = claim(region_id, month, now=now)
            if new:
                todo.append(row.id)
        elif row.status is not BulletinStatus.FROZEN and retry_claim(row.id, now=now):
            todo.append(row.id)
    return todo


def to_freeze(month: Period) -> list[int]:
    """Ids of the month's bulletins not frozen yet (claimed, failed or stale), by id."""
    return list(db.session.scalars(select(Bulletin.id).where(Bulletin.month == month.key,
                                                             Bulletin.status != BulletinStatus.FROZEN)
                                   .order_by(Bulletin.id)))


def complete(bulletin_id: int, *, now: datetime, inputs: contents.Inputs | None = None) -> bool:
    """Compute and freeze the bulletin unless it is frozen; tell its readers; whether this call froze it.

    `inputs` (gathered for the row's month at `now`) spare the computation from the raw tables.
    """
    row = db.session.get(Bulletin, bulletin_id, populate_existing=True)
    if row is None or row.status is BulletinStatus.FROZEN:
        return False
    node = regions.get_region(row.region_id)
    month = Period.parse(row.month)
    body = contents.build(node, children_of(node), month, now=now, inputs=inputs)
    frozen = db.session.execute(
        update(Bulletin).where(Bulletin.id == bulletin_id, Bulletin.status != BulletinStatus.FROZEN)
        .values(status=BulletinStatus.FROZEN, content=body, content_sha256=content_hash(body), frozen_at=now,
                error=None)
        .execution_options(synchronize_session=False)).rowcount == 1
    if frozen:
        db.session.refresh(row)
        tell(row, now=now)
        logger.info("bulletin %s of region %s for %s frozen", row.id, row.region_id, row.month)
    return frozen


def mark_failed(bulletin_id: int, error: str) -> None:
    db.session.execute(update(Bulletin).where(Bulletin.id == bulletin_id, Bulletin.status == BulletinStatus.GENERATING)
                       .values(status=BulletinStatus.FAILED, error=error[:ERROR_MAX_CHARS])
                       .execution_options(synchronize_session=False))


def readers_told(node: Region) -> list[int]:
    """Who is told of a node's bulletin: its admins and the organisers of approved organisations in its subtree."""
    admins = select(RoleGrant.account_id).where(RoleGrant.role == Role.ADMIN, RoleGrant.region_id == node.id)
    organisers = (select(RoleGrant.account_id)
                  .join(Organization, Organization.id == RoleGrant.organization_id)
                  .join(Region, Region.id == Organization.region_id)
                  .where(RoleGrant.role == Role.ORGANIZER, Organization.status == OrganizationStatus.APPROVED,
                         Region.path.startswith(node.path, autoescape=True)))
    return sorted(set(db.session.scalars(admins)) | set(db.session.scalars(organisers)))


def tell(row: Bulletin, *, now: datetime) -> int:
    """Write the "bulletin published" message for everyone told; keyed by (bulletin, account): safe to repeat."""
    node = regions.get_region(row.region_id)
    body = row.content or {}
    text = (f"{body.get('title', '月月通报')}已生成。{body.get('summary', '')}"[:1200]
            + "请在管理后台“月月通报”中查看详情，可下载 Excel 和 PDF。")
    message = notifications.Message(
        kind=notifications.NotificationKind.BULLETIN_PUBLISHED, template="announcement",
        title=f"{contents.month_label(Period.parse(row.month))}月月通报",
        text=text, summary=f"{node.name}{contents.month_label(Period.parse(row.month))}志愿服务月月通报已生成，请查看。",
        fields={"thing1": f"{contents.month_label(Period.parse(row.month))}月月通报", "thing2": node.name, "time3": now},
        page=f"pages/bulletin/detail?id={row.id}")
    written, _ = notifications.notify_many(((account_id, (("b", row.id), ("a", account_id)))
                                            for account_id in readers_told(node)), message, now=now)
    return written
