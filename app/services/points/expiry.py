"""Points expire `expiry_months` after they were earned (rules of the volunteer's home region; 0 = never).

First in, first out: what a volunteer spent (gifts, redemptions, earlier expiries, corrections) is
taken from the oldest points first. So at `now`, with `cutoff = now - N months`:

    gained        = earn + bonus + gift received, net of their corrections     (all time)
    gained_old    = the same, for transfers with event_at < cutoff
    consumed      = gained - balance                                            (everything that left)
    expiring      = min(balance, max(0, gained_old - consumed))

Expired points move to the home region's expiry account with the key "expire:<volunteer>:<day>" (the
Shanghai day of the pass), so a second pass the same day does nothing; and since an expiry counts as
consumed, a later pass finds nothing left to expire for the same points either: idempotent twice over.
"""

from __future__ import annotations

import logging
from datetime import datetime

from dateutil.relativedelta import relativedelta
from sqlalchemy import case, func, select
from sqlalchemy.orm import aliased

from app.db import unit_of_work
from app.extensions import db
from app.services.points import ledger
from app.services.points import rules as points_rules
from app.timeutil import to_local
from models import PointsAccount, PointsAccountKind, PointsTransfer, TransferCode, Volunteer

logger = logging.getLogger(__name__)
GAINS = (TransferCode.EARN, TransferCode.BONUS, TransferCode.GIFT)


def expiring(account_id: int, balance: int, cutoff: datetime) -> int:
    gain = aliased(PointsTransfer)
    fix = aliased(PointsTransfer)
    old = case((gain.event_at < cutoff, 1), else_=0)
    gained, gained_old = db.session.execute(select(
        func.coalesce(func.sum(gain.amount), 0), func.coalesce(func.sum(gain.amount * old), 0))
        .where(gain.credit_account_id == account_id, gain.code.in_(GAINS))).one()
    fixed, fixed_old = db.session.execute(select(
        func.coalesce(func.sum(fix.amount), 0), func.coalesce(func.sum(fix.amount * old), 0))
        .join(gain, gain.id == fix.corrects_transfer_id)
        .where(gain.credit_account_id == account_id, gain.code.in_(GAINS))).one()
    gained, gained_old = int(gained) - int(fixed), int(gained_old) - int(fixed_old)
    consumed = gained - balance
    return max(0, min(balance, gained_old - consumed))


def expire_due(*, now: datetime) -> dict[str, int]:
    """Expire what is due for every volunteer with points, each volunteer in its own transaction."""
    day = to_local(now).date().isoformat()
    with unit_of_work():
        rows = db.session.execute(select(PointsAccount.id, PointsAccount.owner_id, Volunteer.region_id)
                                  .join(Volunteer, Volunteer.id == PointsAccount.owner_id)
                                  .where(PointsAccount.kind == PointsAccountKind.VOLUNTEER, PointsAccount.balance > 0)
                                  .order_by(PointsAccount.id)).all()
        cache: dict = {}
        months = {region_id: points_rules.in_force_by_id(region_id, cache).expiry_months
                  for region_id in {row.region_id for row in rows}}
    expired = volunteers = 0
    for account_id, volunteer_id, region_id in rows:
        if not months[region_id]:
            continue
        cutoff = now - relativedelta(months=months[region_id])
        with unit_of_work():
            key = f"expire:{volunteer_id}:{day}"
            if ledger._by_key(key) is not None:
                continue
            ledger._lock(account_id)
            amount = expiring(account_id, ledger.balance(account_id), cutoff)
            if amount > 0:
                ledger.expire_points(key, region_id, volunteer_id, amount, f"expiry:{day}", now)
                expired += amount
                volunteers += 1
    if expired:
        logger.info("points expired: %d from %d volunteers", expired, volunteers)
    return {"expired": expired, "volunteers": volunteers}
