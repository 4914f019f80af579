"""Publishing rewards: organisers of the station's (or sponsor's) organisation publish, edit and withdraw.

Stock is edited as an absolute number of units still available, applied by a conditional UPDATE so
an edit never lands below what concurrent holds already took: the CHECK (stock >= 0) is the last word.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app.errors import DomainError, NotFound
from app.extensions import db
from app.services import access, audit, paging
from models import Region, Reward, RewardKind, RewardPublisher, RewardStatus, Volunteer

EDITABLE = frozenset({"title", "description", "points_price", "stock", "limit_per_person", "valid_from", "valid_until",
                      "pickup_place", "hold_minutes", "sponsor_name"})


def reward_not_found() -> NotFound:
    return NotFound("reward_not_found", "找不到该奖励")


def get(reward_id: int) -> Reward:
    row = db.session.get(Reward, reward_id)
    if row is None:
        raise reward_not_found()
    return row


def _check_validity(valid_from: datetime, valid_until: datetime) -> None:
    if valid_until <= valid_from:
        raise DomainError("reward_validity_invalid", "有效期结束时间须晚于开始时间", 422,
                          fields={"valid_until": "须晚于 valid_from"})


def publish(account_id: int, organization_id: int, fields: Mapping[str, Any], *, now: datetime) -> Reward:
    organization = access.require_organizer(account_id, organization_id, doing="发布积分奖励")
    region_id = fields.get("region_id") or organization.region_id
    region = db.session.get(Region, region_id)
    if region is None:
        raise NotFound("region_not_found", "找不到该地区")
    _check_validity(fields["valid_from"], fields["valid_until"])
    row = Reward(organization_id=organization.id, publisher=RewardPublisher(fields.get("publisher", "station")),
                 sponsor_name=fields.get("sponsor_name"), kind=RewardKind(fields["kind"]), title=fields["title"],
                 description=fields.get("description"), points_price=fields["points_price"], stock=fields["stock"],
                 limit_per_person=fields.get("limit_per_person", 1), valid_from=fields["valid_from"],
                 valid_until=fields["valid_until"], pickup_place=fields["pickup_place"], region_id=region.id,
                 hold_minutes=fields.get("hold_minutes"), status=RewardStatus.PUBLISHED,
                 created_by_account_id=account_id, created_at=now, updated_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record(account_id, "reward.published", "reward", row.id, now=now)
    return row


def edit(account_id: int, reward_id: int, changes: Mapping[str, Any], *, now: datetime) -> Reward:
    row = db.session.scalar(select(Reward).where(Reward.id == reward_id).with_for_update())
    if row is None:
        raise reward_not_found()
    access.require_organizer(account_id, row.organization_id, doing="修改积分奖励")
    refused = sorted(set(changes) - EDITABLE)
    if refused:
        raise DomainError("field_not_editable", "这些字段不能修改", 422, fields={name: "不可修改" for name in refused})
    _check_validity(changes.get("valid_from", row.valid_from), changes.get("valid_until", row.valid_until))
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = now
    db.session.flush()
    audit.record(account_id, "reward.edited", "reward", row.id, now=now)
    return row


def withdraw(account_id: int, reward_id: int, *, now: datetime) -> Reward:
    """No new redemptions; live holds stay valid until fulfilled, voided or expired."""
    row = get(reward_id)
    access.require_organizer(account_id, row.organization_id, doing="下架积分奖励")
    row.status = RewardStatus.WITHDRAWN
    row.updated_at = now
    db.session.flush()
    audit.record(account_id, "reward.withdrawn", "reward", row.id, now=now)
    return row


NEWEST_FIRST = paging.Keyset((Reward.id,), descending=True)
ENDING_FIRST = paging.Keyset((Reward.valid_until, Reward.id))


def _page(where: list, keyset: paging.Keyset, *, limit: int, cursor: str | None) -> tuple[list[Reward], str | None, int]:
    total = db.session.scalar(select(func.count()).select_from(Reward).where(*where)) or 0
    rows, next_cursor = paging.keyset_page(select(Reward).where(*where), keyset, limit=limit, cursor=cursor)
    return rows, next_cursor, total


def of_organization(account_id: int, organization_id: int, *, limit: int, cursor: str | None,
                    ) -> tuple[list[Reward], str | None, int]:
    """A page of every reward the organisation published, newest first (its organisers)."""
    access.require_organizer(account_id, organization_id, doing="查看本组织的积分奖励", approved=False)
    return _page([Reward.organization_id == organization_id], NEWEST_FIRST, limit=limit, cursor=cursor)


def available_to(volunteer: Volunteer, *, now: datetime, limit: int, cursor: str | None,
                 ) -> tuple[list[Reward], str | None, int]:
    """Published, within validity, and published for the volunteer's region or one above it; ending soonest first."""
    return _page([Reward.status == RewardStatus.PUBLISHED, Reward.region_id.in_(region_ids_above(volunteer)),
                  Reward.valid_from <= now, Reward.valid_until > now], ENDING_FIRST, limit=limit, cursor=cursor)


def region_ids_above(volunteer: Volunteer) -> list[int]:
    """The volunteer's region and every region above it (its materialised path "/1/4/9/")."""
    own_path = db.session.scalar(select(Region.path).where(Region.id == volunteer.region_id)) or ""
    return [int(part) for part in own_path.strip("/").split("/") if part] or [volunteer.region_id]
