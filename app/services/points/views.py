"""What a volunteer reads of the ledger: the balance and the lines of their own account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.services import paging
from app.services.volunteers import own_volunteer
from models import Account
from models.points import PointsAccount, PointsAccountKind, PointsEntry, PointsTransfer

CODE_LABELS = {
    "earn": "服务积分", "fund": "积分拨付", "bonus": "组织奖励", "gift": "积分转赠", "correct": "积分更正",
    "expire": "积分过期", "hold": "兑换冻结", "post": "兑换完成", "void": "兑换取消", "hold_expire": "兑换过期退回",
}

HISTORY = paging.Keyset((PointsEntry.id,), descending=True)


def mine(account: Account, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """The caller's balance and a page of their lines, newest first; a volunteer who never earned has 0."""
    volunteer = own_volunteer(account)
    points_account = db.session.scalar(select(PointsAccount).where(
        PointsAccount.kind == PointsAccountKind.VOLUNTEER, PointsAccount.owner_id == volunteer.id))
    if points_account is None:
        return {"balance": 0, "items": [], "next_cursor": None}
    entries, next_cursor = paging.keyset_page(select(PointsEntry).where(PointsEntry.account_id == points_account.id),
                                              HISTORY, limit=limit, cursor=cursor)
    transfers = {t.id: t for t in db.session.scalars(select(PointsTransfer).where(
        PointsTransfer.id.in_([e.transfer_id for e in entries])))}
    items = []
    for entry in entries:
        row = transfers[entry.transfer_id]
        items.append({"id": entry.id, "transfer_id": row.id, "amount": entry.amount, "balance_after": entry.balance_after,
                      "code": str(row.code), "code_label": CODE_LABELS[str(row.code)], "reference": row.reference,
                      "event_at": row.event_at})
    return {"balance": points_account.balance, "items": items, "next_cursor": next_cursor}
