"""What people read of the ledger: a volunteer their own account; an admin any account in their region.

One description of a line for every reader: its kind, the amount and the balance after it, the
other side of the transfer in words (「XX社区 积分发行」, 「志愿者 张*三」), where it came from in
words (a service record, a redemption, an activity, an expiry day) and the giver's memo (a bonus's
reason). The lines of a page are described with a few batched reads, never one per line.

Admins find an account by the region they administer: a volunteer's (by volunteer number) if the
volunteer's home region is in their subtree, the pools and sponsor accounts of organisations in it,
the system accounts (issuance, redemptions, expiry, holds) of the regions in it. Reading one checks the
owner's region with `access.require_admin_over`, whoever asks by id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from app.errors import NotFound
from app.extensions import db
from app.pii import mask_name
from app.services import access, paging, regions
from models import Account, Activity, Organization, Region, ServiceRecord, Volunteer
from models.points import SYSTEM_KINDS, PointsAccount, PointsAccountKind, PointsEntry, PointsTransfer
from models.rewards import Redemption, Reward

Kind = PointsAccountKind

CODE_LABELS = {
    "earn": "服务积分", "fund": "积分拨付", "bonus": "组织奖励", "gift": "积分转赠", "correct": "积分更正",
    "expire": "积分过期", "hold": "兑换冻结", "post": "兑换完成", "void": "兑换取消", "hold_expire": "兑换过期退回",
}
KIND_LABELS = {
    "volunteer": "志愿者积分账户", "org_pool": "组织奖励积分池", "sponsor": "赞助方账户", "issuance": "积分发行",
    "redemptions": "积分兑换", "expiry": "积分过期", "holds": "兑换冻结",
}
# A region's system accounts are named after it: 「XX社区 积分发行」.
_SYSTEM_SUFFIX = {"issuance": "积分发行", "redemptions": "积分兑换", "expiry": "积分过期", "holds": "兑换冻结"}

HISTORY = paging.Keyset((PointsEntry.id,), descending=True)
ACCOUNTS = paging.Keyset((PointsAccount.id,))


# ------------------------------------------------------------------------------------------ names

def account_names(accounts: list[Any]) -> dict[int, str]:
    """Each account described in Chinese; a volunteer by their masked name."""
    return names_of(list({row.id for row in accounts}))


def names_of(account_ids: list[int]) -> dict[int, str]:
    """The accounts' names, read with their owners in one statement."""
    if not account_ids:
        return {}
    owned_by_organization = PointsAccount.kind.in_([Kind.ORG_POOL, Kind.SPONSOR])
    owned_by_region = PointsAccount.kind.in_([Kind(kind) for kind in SYSTEM_KINDS])
    rows = db.session.execute(
        select(PointsAccount.id, PointsAccount.kind, Volunteer.real_name, Organization.name.label("organization"),
               Region.name.label("region"))
        .outerjoin(Volunteer, (PointsAccount.kind == Kind.VOLUNTEER) & (Volunteer.id == PointsAccount.owner_id))
        .outerjoin(Organization, owned_by_organization & (Organization.id == PointsAccount.owner_id))
        .outerjoin(Region, owned_by_region & (Region.id == PointsAccount.owner_id))
        .where(PointsAccount.id.in_(account_ids)))
    names = {}
    for row in rows:
        kind = str(row.kind)
        if kind == Kind.VOLUNTEER:
            names[row.id] = f"志愿者 {mask_name(row.real_name) or '（已注销）'}"
        elif kind in (Kind.ORG_POOL, Kind.SPONSOR):
            names[row.id] = f"{row.organization or '（已删除的组织）'} {KIND_LABELS[kind]}"
        else:
            names[row.id] = f"{row.region or '（已撤销的地区）'} {_SYSTEM_SUFFIX[kind]}"
    return names


def _origins(transfers: list[Any]) -> dict[int, str]:
    """Where each transfer came from, in words, from its reference (and, for a redemption, its hold),
    keyed by `transfer_id` (rows of `LINE_COLUMNS`)."""
    record_ids, activity_ids, hold_ids = set(), set(), set()
    for row in transfers:
        noun, _, value = (row.reference or "").partition(":")
        if noun == "service_record" and value.isdigit():
            record_ids.add(int(value))
        elif noun == "activity" and value.isdigit():
            activity_ids.add(int(value))
        elif noun == "reward":
            hold_ids.add(row.pending_transfer_id or row.transfer_id)
    records = dict(db.session.execute(select(ServiceRecord.id, Activity.title).join(
        Activity, Activity.id == ServiceRecord.activity_id).where(ServiceRecord.id.in_(record_ids))).all()) \
        if record_ids else {}
    titles = dict(db.session.execute(select(Activity.id, Activity.title).where(Activity.id.in_(activity_ids))).all()) \
        if activity_ids else {}
    redemptions = {hold: (rid, title) for hold, rid, title in db.session.execute(
        select(Redemption.hold_transfer_id, Redemption.id, Reward.title).join(Reward, Reward.id == Redemption.reward_id)
        .where(Redemption.hold_transfer_id.in_(hold_ids)))} if hold_ids else {}
    found = {}
    for row in transfers:
        noun, _, value = (row.reference or "").partition(":")
        if noun == "service_record" and value.isdigit():
            title = records.get(int(value))
            found[row.transfer_id] = f"服务记录 #{value}" + (f"（{title}）" if title else "")
        elif noun == "activity" and value.isdigit() and int(value) in titles:
            found[row.transfer_id] = f"活动「{titles[int(value)]}」"
        elif noun == "reward" and (row.pending_transfer_id or row.transfer_id) in redemptions:
            rid, title = redemptions[row.pending_transfer_id or row.transfer_id]
            found[row.transfer_id] = f"兑换单 #{rid}（{title}）"
        elif noun == "expiry" and value:
            found[row.transfer_id] = f"{value} 到期处理"
    return found


# ------------------------------------------------------------------------------------------ lines

# An account's lines are read as plain rows (entry and transfer in one statement, no ORM objects):
# the volunteer's history is the hottest read of the ledger.
LINE_COLUMNS = (PointsEntry.id, PointsEntry.amount, PointsEntry.balance_after, PointsTransfer.id.label("transfer_id"),
                PointsTransfer.code, PointsTransfer.debit_account_id, PointsTransfer.credit_account_id,
                PointsTransfer.reference, PointsTransfer.memo, PointsTransfer.event_at, PointsTransfer.pending_transfer_id)


def lines_query(account_id: int):
    return (select(*LINE_COLUMNS).join(PointsTransfer, PointsTransfer.id == PointsEntry.transfer_id)
            .where(PointsEntry.account_id == account_id))


def lines_before(account_id: int, *, limit: int, before: int | None) -> list[Any]:
    """The account's lines newest first, below entry id `before` (the pool's paging)."""
    query = lines_query(account_id).order_by(PointsEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(PointsEntry.id < before)
    return list(db.session.execute(query))


def describe(account_id: int, lines: list[Any]) -> list[dict[str, Any]]:
    """The account's lines (rows of `LINE_COLUMNS`) as readers see them, newest first as given."""
    other_ids = {row.credit_account_id if row.debit_account_id == account_id else row.debit_account_id
                 for row in lines}
    names = names_of(list(other_ids))
    origins = _origins(lines)
    items = []
    for row in lines:
        other = row.credit_account_id if row.debit_account_id == account_id else row.debit_account_id
        code = str(row.code)
        items.append({"id": row.id, "transfer_id": row.transfer_id, "amount": row.amount,
                      "balance_after": row.balance_after, "code": code,
                      "code_label": CODE_LABELS[code], "counterparty": names.get(other),
                      "origin": origins.get(row.transfer_id), "memo": row.memo, "reference": row.reference,
                      "event_at": row.event_at})
    return items


def _page(points_account_id: int, *, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    rows, next_cursor = paging.keyset_page(lines_query(points_account_id), HISTORY, limit=limit, cursor=cursor)
    return describe(points_account_id, rows), next_cursor


def mine(account: Account, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """The caller's balance and a page of their lines, newest first; a volunteer who never earned has 0."""
    # One statement for the volunteer and their account, with no ORM object (and no PII decrypted).
    found = db.session.execute(
        select(Volunteer.id.label("volunteer_id"), PointsAccount.id, PointsAccount.balance)
        .outerjoin(PointsAccount, (PointsAccount.kind == PointsAccountKind.VOLUNTEER)
                   & (PointsAccount.owner_id == Volunteer.id))
        .where(Volunteer.account_id == account.id)).first()
    if found is None:
        raise NotFound("not_registered", "您还没有注册为志愿者")
    if found.id is None:
        return {"balance": 0, "items": [], "next_cursor": None}
    items, next_cursor = _page(found.id, limit=limit, cursor=cursor)
    return {"balance": found.balance, "items": items, "next_cursor": next_cursor}


# ------------------------------------------------------------------------------------------ admins

def _owner_region(points_account: PointsAccount) -> Region:
    kind = str(points_account.kind)
    if kind == Kind.VOLUNTEER:
        region_id = db.session.scalar(select(Volunteer.region_id).where(Volunteer.id == points_account.owner_id))
    elif kind in (Kind.ORG_POOL, Kind.SPONSOR):
        region_id = db.session.scalar(select(Organization.region_id).where(Organization.id == points_account.owner_id))
    else:
        region_id = points_account.owner_id
    if region_id is None:
        raise NotFound("points_account_not_found", "找不到该积分账户")
    return regions.get_region(region_id)


def _summary(row: PointsAccount, name: str) -> dict[str, Any]:
    return {"id": row.id, "kind": str(row.kind), "kind_label": KIND_LABELS[str(row.kind)], "name": name,
            "balance": row.balance}


def find_accounts(account_id: int, region_id: int, *, volunteer_number: str | None, limit: int,
                  cursor: str | None) -> dict[str, Any]:
    """Accounts an admin of the region may read: one volunteer's by number, or the system accounts of the
    regions in its subtree (each community's issuance, …) and the pools and sponsor accounts of its organisations."""
    region = access.require_admin_over(account_id, regions.get_region(region_id), doing="查看积分账户流水")
    if volunteer_number is not None:
        volunteer = db.session.scalar(select(Volunteer).where(Volunteer.volunteer_number == volunteer_number.strip()))
        if volunteer is None:
            raise NotFound("volunteer_not_found", "找不到该志愿者编号对应的志愿者")
        # A volunteer who lives outside the chosen region is refused like any account out of scope.
        home = regions.get_region(volunteer.region_id)
        if not regions.is_within(home, region.path):
            access.require_admin_over(account_id, home, doing="查看该志愿者的积分账户")
        query = select(PointsAccount).where(PointsAccount.kind == Kind.VOLUNTEER,
                                            PointsAccount.owner_id == volunteer.id)
    else:
        subtree = select(Region.id).where(Region.path.startswith(region.path, autoescape=True))
        organizations = select(Organization.id).where(Organization.region_id.in_(subtree))
        query = select(PointsAccount).where(or_(
            PointsAccount.kind.in_([Kind(k) for k in SYSTEM_KINDS]) & PointsAccount.owner_id.in_(subtree),
            PointsAccount.kind.in_([Kind.ORG_POOL, Kind.SPONSOR]) & PointsAccount.owner_id.in_(organizations)))
    rows, next_cursor = paging.keyset_page(query, ACCOUNTS, limit=limit, cursor=cursor)
    names = account_names(rows)
    return {"items": [_summary(row, names[row.id]) for row in rows], "next_cursor": next_cursor}


def account_ledger(account_id: int, points_account_id: int, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """Any account's balance and lines, newest first, for admins over its owner's region."""
    points_account = db.session.get(PointsAccount, points_account_id)
    if points_account is None:
        raise NotFound("points_account_not_found", "找不到该积分账户")
    access.require_admin_over(account_id, _owner_region(points_account), doing="查看积分账户流水")
    items, next_cursor = _page(points_account.id, limit=limit, cursor=cursor)
    return {"account": _summary(points_account, account_names([points_account])[points_account.id]),
            "balance": points_account.balance, "items": items, "next_cursor": next_cursor}
