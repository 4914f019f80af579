"""Who may read a node's bulletins, the list, one bulletin, and the admin's "freeze it now".

Readers of a node's bulletins: the admins of the node or of a node above it, and the organisers of
an approved organisation whose region lies in the node's subtree (they are the ones told of it).
Organisers see frozen bulletins only; admins also see one being generated or failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.services import access, regions
from app.services.bulletins import freeze
from models import Bulletin, BulletinStatus, Organization, OrganizationStatus, Region, Role, RoleGrant


def not_bulletin_reader() -> Forbidden:
    return Forbidden("not_bulletin_reader", "只有该地区（或上级地区）的管理员和辖区内组织的组织者可以查看月月通报")


def organises_within(account_id: int, node: Region) -> bool:
    """Whether the account organises an approved organisation in the node's subtree."""
    return db.session.scalar(
        select(RoleGrant.id).join(Organization, Organization.id == RoleGrant.organization_id)
        .join(Region, Region.id == Organization.region_id)
        .where(RoleGrant.account_id == account_id, RoleGrant.role == Role.ORGANIZER,
               Organization.status == OrganizationStatus.APPROVED,
               Region.path.startswith(node.path, autoescape=True)).limit(1)) is not None


def _reader(account_id: int, node: Region) -> str:
    """'admin' or 'organizer'; refuse anyone else."""
    if access.is_admin_over(account_id, node):
        return "admin"
    if organises_within(account_id, node):
        return "organizer"
    raise not_bulletin_reader()


def list_for(account_id: int, region_id: int) -> list[Bulletin]:
    """The node's bulletins, newest month first."""
    node = regions.get_region(region_id)
    query = select(Bulletin).where(Bulletin.region_id == node.id).order_by(Bulletin.month.desc())
    if _reader(account_id, node) == "organizer":
        query = query.where(Bulletin.status == BulletinStatus.FROZEN)
    return list(db.session.scalars(query))


def bulletin_not_found() -> NotFound:
    return NotFound("bulletin_not_found", "找不到该月月通报")


def get_for(account_id: int, bulletin_id: int) -> Bulletin:
    """One bulletin, if the account may read its node's bulletins (organisers: frozen ones only)."""
    row = db.session.get(Bulletin, bulletin_id)
    if row is None:
        raise bulletin_not_found()
    if _reader(account_id, regions.get_region(row.region_id)) == "organizer" and row.status is not BulletinStatus.FROZEN:
        raise bulletin_not_found()
    return row


def frozen_for(account_id: int, bulletin_id: int) -> Bulletin:
    """A bulletin to download: 409 `bulletin_not_ready` until it is frozen."""
    row = get_for(account_id, bulletin_id)
    if row.status is not BulletinStatus.FROZEN:
        raise DomainError("bulletin_not_ready", "月月通报正在生成，请稍后再试", 409)
    return row


def request_freeze(account_id: int, region_id: int, month_text: str, *, now: datetime) -> tuple[Bulletin, bool]:
    """An admin's "freeze this past month now" for a node over which they are admin; (row, whether to enqueue).

    Idempotent by (node, month): an existing frozen bulletin is returned as it is; a failed or
    stale one is taken back for another run.
    """
    node = access.require_admin_over(account_id, regions.get_region(region_id), doing="生成月月通报")
    month = freeze.parse_month(month_text)
    if node.level not in freeze.BULLETIN_LEVELS or not freeze.children_of(node):
        raise DomainError("region_has_no_bulletin", "只有有下级单位的市、区（县）、街道（镇）才有月月通报", 422,
                          fields={"region_id": "没有下级单位"})
    if month.end > now:
        raise DomainError("month_not_closed", "只能生成已经结束的月份的通报", 422, fields={"month": "该月尚未结束"})
    row, new = freeze.claim(node.id, month, now=now)
    return row, new or freeze.retry_claim(row.id, now=now)


def view(row: Bulletin, *, with_content: bool) -> dict[str, Any]:
    node = regions.get_region(row.region_id)
    content = row.content or {}
    return {"id": row.id, "region_id": row.region_id, "region_name": node.name, "month": row.month,
            "status": row.status.value, "title": content.get("title"), "summary": content.get("summary"),
            "frozen_at": row.frozen_at, "content_sha256": row.content_sha256, "pdf_status": row.pdf_status.value,
            "created_at": row.created_at, "content": content if with_content and row.content else None}
