"""The service-hour ledger: records are appended, never changed; totals move in the same transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from app.extensions import db
from models import Activity, Checkin, RecordKind, ServiceRecord, Volunteer


def credited_minutes(activity: Activity, checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Whole minutes of [check-in, check-out] that fall inside [start - margin, end + margin]."""
    margin = timedelta(minutes=activity.credit_margin_minutes)
    start = max(checked_in_at, activity.starts_at - margin)
    end = min(checked_out_at, activity.ends_at + margin)
    return max(int((end - start).total_seconds() // 60), 0)


def record_attendance(checkin: Checkin, activity: Activity, *, account_id: int | None, now: datetime) -> ServiceRecord:
    """Write the attendance record of a closed check-in and add it to the volunteer's totals.

    The caller has just closed the check-in with a conditional UPDATE, so this runs once per
    check-in; the unique checkin_id would refuse a second record all the same.
    """
    minutes = credited_minutes(activity, checkin.checked_in_at, checkin.checked_out_at)
    record = ServiceRecord(volunteer_id=checkin.volunteer_id, activity_id=activity.id, checkin_id=checkin.id,
                           kind=RecordKind.ATTENDANCE, minutes=minutes, created_by_account_id=account_id,
                           created_at=now)
    db.session.add(record)
    db.session.flush()
    _add_to_totals(checkin.volunteer_id, minutes)
    return record


def _add_to_totals(volunteer_id: int, minutes: int) -> None:
    # An UPDATE relative to the stored value: concurrent records of one volunteer cannot lose each other.
    db.session.execute(
        update(Volunteer).where(Volunteer.id == volunteer_id)
        .values(total_service_minutes=Volunteer.total_service_minutes + minutes,
                service_record_count=Volunteer.service_record_count + 1)
        .execution_options(synchronize_session=False)
    )


def records_of(account_id: int, *, page: int, per_page: int) -> tuple[Volunteer, list[ServiceRecord], int, dict[int, dict[str, int]]]:
    """A volunteer's records, newest first, with the count and minutes per year (Shanghai time)."""
    from sqlalchemy import func, select

    from app.errors import NotFound
    from app.timeutil import to_local

    volunteer = db.session.scalar(select(Volunteer).where(Volunteer.account_id == account_id))
    if volunteer is None:
        raise NotFound("volunteer_not_found", "请先注册成为志愿者")
    query = select(ServiceRecord).where(ServiceRecord.volunteer_id == volunteer.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(ServiceRecord.created_at.desc(), ServiceRecord.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all()
    by_year: dict[int, dict[str, int]] = {}
    # Per volunteer this is a few hundred rows at most: summing here keeps the year rule (the
    # activity's start, in Shanghai) in one place for every backend.
    for minutes, kind, starts_at in db.session.execute(
        select(ServiceRecord.minutes, ServiceRecord.kind, Activity.starts_at)
        .join(Activity, Activity.id == ServiceRecord.activity_id).where(ServiceRecord.volunteer_id == volunteer.id)
    ):
        year = by_year.setdefault(to_local(starts_at).year, {"minutes": 0, "records": 0})
        year["minutes"] += minutes
        if kind is RecordKind.ATTENDANCE:
            year["records"] += 1
    return volunteer, list(rows), total, by_year
