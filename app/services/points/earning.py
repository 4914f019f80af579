"""Points from service records, outside the scan's transaction: a catch-up pass earns for every record
that has no earning yet (an outbox read off the records themselves).

Why not in the scan: the check-out path holds the volunteer's crediting lock and must stay a few
statements (issue 14); writing points there would add the issuance account's row lock, which every
earning in the region shares, to every scan. So a record is committed first and earns on the next
pass of `points_earn_catch_up` (every minute). Nothing can be missed: the pass selects records
with no `points_earnings` row (an anti-join on its primary key), so a crashed pass, a missed minute
or a record written by any path (scan, bulk entry, declaration, 补录, import, correction) is picked
up next time. Nothing can be earned twice: the earning row's primary key is the record id and the
transfer's idempotency key is "earn:record:<id>", both written in the same transaction. A pass earns
a chunk of records per transaction (one commit, shared reads, every account locked up front in id
order); a chunk that fails for any reason is undone whole and its records are earned one by one.

- A record earns `points_for(minutes, grade)` under the rules of the activity's region, if its
  source earns (a correction counts under the source of the record it corrects), within the
  volunteer's yearly cap (Shanghai calendar year of the record; net of what was taken back).
- A correction that takes minutes back makes correcting transfers against the earnings of the same
  volunteer at the same activity, newest first, with keys "earn:record:<correction id>:<transfer id>".
  It never takes back more than was earned there, nor more than the volunteer holds now (points
  already gifted or redeemed stay spent): the earning row says `clamped_to_earned` or
  `clamped_to_balance` and keeps what the rules alone would have taken (`computed_points`).
- A record of an activity that started (Shanghai date) before the region's `earning_starts_on`
  earns nothing: its earning row is written with note `before_earning_start`, so no pass looks at
  it again. A correction of such a record is at the same activity, so it is skipped the same way.
- The activity's row is read FOR SHARE: an organiser's change of the points grade (which locks it
  FOR UPDATE and is refused once a record earned) waits for an earning in flight, or it waits for
  the change; so no record earns under a grade that is then changed.
- Points never change hours: this module only reads service records.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import aliased

from app.db import unit_of_work
from app.errors import DomainError
from app.extensions import db
from app.services.points import ledger
from app.services.points import rules as points_rules
from app.timeutil import to_local
from models import Activity, PointsAccountKind, PointsTransfer, ServiceRecord, TransferCode
from models.points_rules import PointsEarning

logger = logging.getLogger(__name__)
BATCH = 500
# Records earned in one transaction: one commit and a few shared reads for the lot.
CHUNK = 50
_original = aliased(ServiceRecord)


def earn_key(record_id: int) -> str:
    return f"earn:record:{record_id}"


def _net(*where) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(PointsEarning.points), 0)).where(*where)) or 0)


def earn_record(record_id: int, *, now: datetime, cache: dict | None = None) -> PointsEarning | None:
    """Earn (or take back) the points of one record once; None if it was handled already."""
    if db.session.get(PointsEarning, record_id) is not None:
        return None
    record = db.session.get(ServiceRecord, record_id)
    activity = db.session.scalar(select(Activity).where(Activity.id == record.activity_id)
                                 .with_for_update(read=True).execution_options(populate_existing=True))
    source = record.source
    if record.corrects_record_id is not None:
        source = db.session.scalar(select(ServiceRecord.source).where(ServiceRecord.id == record.corrects_record_id))
    return _earn(record, activity, source, now=now, cache={} if cache is None else cache, locked=False)


def _account_id(kind: PointsAccountKind, owner_id: int, now: datetime, cache: dict) -> int:
    """An account's id, looked up (or created) once per pass: accounts are never deleted or re-keyed."""
    ids = cache.setdefault("accounts", {})
    if (kind, owner_id) not in ids:
        ids[(kind, owner_id)] = ledger.account(kind, owner_id, now).id
    return ids[(kind, owner_id)]


def _forget_accounts(cache: dict) -> None:
    """After a rollback: an account created in the undone transaction is gone, so its cached id is too."""
    cache.pop("accounts", None)


def _earn(record: ServiceRecord, activity: Activity, source, *, now: datetime, cache: dict,
          locked: bool) -> PointsEarning:
    """With `locked`, the caller holds the locks of the volunteer's and the issuance account (a chunk)."""
    rules = points_rules.in_force_by_id(activity.region_id, cache)
    year = to_local(record.created_at).year
    earning = PointsEarning(record_id=record.id, volunteer_id=record.volunteer_id, activity_id=activity.id, year=year,
                            points=0, computed_points=0, note=None, created_at=now)
    db.session.add(earning)
    if not locked:
        # Claim the record first: a concurrent pass waits here on the primary key and then fails its insert.
        # A chunk needs no early claim: it holds the accounts' locks, so a concurrent chunk waits for its
        # commit and then fails on the same key, and its records are tried one by one.
        db.session.flush()
    if rules.earning_starts_on is not None and to_local(activity.starts_at).date() < rules.earning_starts_on:
        earning.note = "before_earning_start"
        return earning
    if getattr(source, "value", source) not in rules.sources:
        earning.note = "source_not_earning"
        return earning
    computed = rules.points_for(record.minutes, activity.points_grade)
    earning.computed_points = computed
    if computed == 0:
        return earning
    volunteer_account_id = _account_id(PointsAccountKind.VOLUNTEER, record.volunteer_id, now, cache)
    # The volunteer's account lock serialises the cap and clamp reads with other earnings and spends.
    if not locked:
        ledger._lock(volunteer_account_id)
    if computed > 0:
        amount = computed
        if rules.yearly_cap:
            room = max(0, rules.yearly_cap - _net(PointsEarning.volunteer_id == record.volunteer_id,
                                                  PointsEarning.year == year, PointsEarning.record_id != record.id))
            if room < amount:
                amount, earning.note = room, "yearly_cap"
        if amount > 0:
            issuance_account_id = _account_id(PointsAccountKind.ISSUANCE, activity.region_id, now, cache)
            if locked:
                ledger.earn_locked(earn_key(record.id), issuance_account_id, volunteer_account_id, amount,
                                   f"service_record:{record.id}", now)
            else:
                ledger.transfer(earn_key(record.id), issuance_account_id, volunteer_account_id, amount,
                                TransferCode.EARN, f"service_record:{record.id}", now)
        earning.points = amount
        return earning
    wanted = -computed
    earned_here = _net(PointsEarning.volunteer_id == record.volunteer_id, PointsEarning.activity_id == activity.id,
                       PointsEarning.record_id != record.id)
    take = min(wanted, max(0, earned_here))
    if take < wanted:
        earning.note = "clamped_to_earned"
    held = ledger.balance(volunteer_account_id)
    if held < take:
        take, earning.note = held, "clamped_to_balance"
    earning.points = -take
    _take_back(record, activity.id, take, now)
    return earning


def _take_back(record: ServiceRecord, activity_id: int, amount: int, now: datetime) -> None:
    """Correct the pair's earn transfers, newest first, until `amount` is reversed."""
    if amount <= 0:
        return
    keys = [earn_key(rid) for rid in db.session.scalars(select(PointsEarning.record_id).where(
        PointsEarning.volunteer_id == record.volunteer_id, PointsEarning.activity_id == activity_id,
        PointsEarning.points > 0))]
    corrected = aliased(PointsTransfer)
    rows = db.session.execute(
        select(PointsTransfer.id, PointsTransfer.amount,
               select(func.coalesce(func.sum(corrected.amount), 0)).where(corrected.corrects_transfer_id == PointsTransfer.id)
               .scalar_subquery())
        .where(PointsTransfer.idempotency_key.in_(keys or [""]), PointsTransfer.code == TransferCode.EARN)
        .order_by(PointsTransfer.id.desc())).all()
    left = amount
    for transfer_id, original, done in rows:
        part = min(left, original - int(done))
        if part <= 0:
            continue
        ledger.correct(f"{earn_key(record.id)}:{transfer_id}", transfer_id, part, f"service_record:{record.id}", now)
        left -= part
        if left == 0:
            break


def has_earned(activity_id: int) -> bool:
    """Whether any record of the activity moved points (its grade is then frozen)."""
    return db.session.scalar(select(PointsEarning.record_id).where(
        PointsEarning.activity_id == activity_id, PointsEarning.points != 0).limit(1)) is not None


def pending_record_ids(limit: int = BATCH, window: int | None = None) -> list[int]:
    """Records without an earning, oldest first; with `window`, only among ids above the highest earned
    minus `window` (the minutely pass: an index range instead of an anti-join over every record ever)."""
    query = select(ServiceRecord.id).where(~exists().where(PointsEarning.record_id == ServiceRecord.id))
    if window is not None:
        highest = db.session.scalar(select(func.max(PointsEarning.record_id)))
        if highest is not None:
            query = query.where(ServiceRecord.id > highest - window)
    return list(db.session.scalars(query.order_by(ServiceRecord.id).limit(limit)))


def catch_up(*, now: datetime, limit: int = BATCH, window: int | None = None) -> dict[str, int]:
    """Earn for records without an earning, a chunk per transaction; idempotent, safe to run twice at once.

    The minutely job passes a `window` (records are committed roughly in id order; a transaction that
    commits a lower id late by more than the window is left to the nightly full pass, `window=None`).
    """
    with unit_of_work():
        ids = pending_record_ids(limit, window)
    cache: dict = {}
    tally = {"earned": 0, "taken": 0, "skipped": 0, "failed": 0}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        try:
            with unit_of_work():
                outcomes = _earn_chunk(chunk, now=now, cache=cache)
        except (IntegrityError, DomainError, OperationalError) as exc:
            # A concurrent pass claimed one of these records, the ledger refused one, or the database
            # broke a lock cycle: nothing of the chunk was kept, and each record is tried on its own.
            logger.info("points: a chunk of %d records earns record by record (%s)", len(chunk), type(exc).__name__)
            _forget_accounts(cache)
            outcomes = [_earn_alone(record_id, now=now, cache=cache) for record_id in chunk]
        for outcome in outcomes:
            if outcome is None or isinstance(outcome, str):
                tally[outcome or "skipped"] += 1
            elif outcome.points > 0:
                tally["earned"] += outcome.points
            else:
                tally["taken"] -= outcome.points
    earned, taken = tally["earned"], tally["taken"]
    if earned or taken:
        logger.info("points earned from records: +%d −%d over %d records", earned, taken, len(ids))
    result = {"records": len(ids), "earned": earned, "taken_back": taken, "skipped": tally["skipped"]}
    if tally["failed"]:
        result["failed"] = tally["failed"]
    return result


def _earn_chunk(record_ids: list[int], *, now: datetime, cache: dict) -> list[PointsEarning | None]:
    """Earn for a chunk of records in the caller's transaction, statements shared across the chunk.

    Every account the chunk moves is locked first, in ascending id order like every other transfer
    (ledger._lock), so a chunk holding many volunteers' accounts cannot deadlock with a gift or a
    redemption; an account it did not foresee (a correction of a transfer made under another region)
    is locked when reached, and a lock cycle that follows is broken by the database and retried
    record by record.
    """
    handled = set(db.session.scalars(select(PointsEarning.record_id).where(PointsEarning.record_id.in_(record_ids))))
    records = [record for record in db.session.scalars(
        select(ServiceRecord).where(ServiceRecord.id.in_(record_ids)).order_by(ServiceRecord.id))
        if record.id not in handled]
    if not records:
        return [None] * len(record_ids)
    activities = {activity.id: activity for activity in db.session.scalars(
        select(Activity).where(Activity.id.in_({record.activity_id for record in records}))
        .with_for_update(read=True).execution_options(populate_existing=True))}
    corrected = [record.corrects_record_id for record in records if record.corrects_record_id is not None]
    sources = dict(db.session.execute(select(ServiceRecord.id, ServiceRecord.source)
                                      .where(ServiceRecord.id.in_(corrected))).tuples().all()) if corrected else {}
    account_ids = set()
    for record in records:
        account_ids.add(_account_id(PointsAccountKind.VOLUNTEER, record.volunteer_id, now, cache))
        account_ids.add(_account_id(PointsAccountKind.ISSUANCE, activities[record.activity_id].region_id, now, cache))
    ledger._lock(*account_ids)
    outcomes: list[PointsEarning | None] = [None] * (len(record_ids) - len(records))
    for record in records:
        source = sources[record.corrects_record_id] if record.corrects_record_id is not None else record.source
        outcomes.append(_earn(record, activities[record.activity_id], source, now=now, cache=cache, locked=True))
    return outcomes


def _earn_alone(record_id: int, *, now: datetime, cache: dict) -> PointsEarning | str | None:
    """One record in its own transaction: None if handled already, "failed" if the ledger refused it."""
    try:
        with unit_of_work():
            return earn_record(record_id, now=now, cache=cache)
    except IntegrityError:
        # Another pass claimed the record between our read and our insert: it is handled.
        _forget_accounts(cache)
        return None
    except DomainError:
        _forget_accounts(cache)
        # Refused by the ledger (should not happen: amounts are clamped under the lock). Logged and
        # left without an earning, so the next pass retries it; one bad record never blocks the rest.
        logger.exception("points: record %d could not earn", record_id)
        return "failed"
