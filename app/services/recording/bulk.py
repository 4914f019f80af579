"""Bulk entry of an activity's attendance by its captain or organiser: a table, or a sign-in sheet.

The table (from the console, built from the sign-ups) is credited row by row at once. A sheet is
read into a preview that says, for each row, who it matched and what is wrong (by the sheet's row
number); committing the preview credits its good rows, each checked again under the ledger's limits
(something may have been credited since the preview). A row refused leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from app import pii
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db, settings
from app.services import access, audit
from app.services.recording import ledger, sheets
from app.timeutil import as_utc, to_local
from models import (Account, Activity, ActivityStatus, BulkPreview, RecordSource, Signup, SignupStatus,
                    Volunteer)

MAX_TABLE_ROWS = 500


@dataclass
class TableRow:
    volunteer_id: int
    started_at: datetime | None = None
    ended_at: datetime | None = None


def held_activity(account: Account, activity_id: int, *, now: datetime, doing: str) -> Activity:
    """The activity, if the account captains or organises it and it has started (and was not called off)."""
    activity = access.require_activity_manager(account.id, access.activity(activity_id), doing=doing)
    require_held(activity, now)
    return activity


def require_held(activity: Activity, now: datetime) -> None:
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.WITHDRAWN):
        raise Conflict("activity_cancelled", "活动已取消，不能记录时长")
    if now < as_utc(activity.starts_at):
        raise Conflict("activity_not_started", "活动开始后才能记录时长")


def _error(exc: DomainError) -> dict[str, str]:
    return {"code": exc.code, "message": exc.message}


def enter_table(account: Account, activity_id: int, rows: Sequence[TableRow], *, now: datetime) -> dict:
    """Credit each row (an approved sign-up's volunteer and their times; blank times: the activity's)."""
    activity = held_activity(account, activity_id, now=now, doing="批量录入时长")
    approved = _approved_volunteer_ids(activity.id)
    results = []
    for number, row in enumerate(rows, start=1):
        starts_at = row.started_at or activity.starts_at
        ends_at = row.ended_at or activity.ends_at
        if row.volunteer_id not in approved:
            results.append(_refused(number, row.volunteer_id, DomainError(
                "not_signed_up", "该志愿者未通过本活动报名，不能录入时长", 409)))
            continue
        results.append(_credit_row(activity, number, row.volunteer_id, starts_at, ends_at, account, now))
    return _finish(account, activity, results, now, preview_id=None)


def _credit_row(activity: Activity, number: int, volunteer_id: int, starts_at: datetime, ends_at: datetime,
                account: Account, now: datetime) -> dict:
    try:
        record = ledger.credit(activity, volunteer_id, starts_at, ends_at, source=RecordSource.BULK,
                               account_id=account.id, now=now, reason="批量录入")
    except DomainError as exc:
        return _refused(number, volunteer_id, exc)
    return {"row": number, "volunteer_id": volunteer_id, "status": "recorded", "record_id": record.id,
            "minutes": record.minutes, "error": None}


def _refused(number: int, volunteer_id: int | None, exc: DomainError) -> dict:
    return {"row": number, "volunteer_id": volunteer_id, "status": "refused", "record_id": None, "minutes": 0,
            "error": _error(exc)}


def _finish(account: Account, activity: Activity, results: list[dict], now: datetime, *,
            preview_id: int | None) -> dict:
    recorded = sum(1 for row in results if row["status"] == "recorded")
    refused = sum(1 for row in results if row["status"] == "refused")
    skipped = sum(1 for row in results if row["status"] == "skipped")
    audit.record(account.id, "service_records.bulk_entered", "activity", activity.id, now=now, recorded=recorded,
                 refused=refused, preview_id=preview_id)
    return {"activity_id": activity.id, "preview_id": preview_id, "recorded": recorded, "refused": refused,
            "skipped": skipped, "minutes": sum(row["minutes"] for row in results), "rows": results}


def _approved_volunteer_ids(activity_id: int) -> set[int]:
    return set(db.session.scalars(select(Signup.volunteer_id).where(
        Signup.activity_id == activity_id, Signup.status == SignupStatus.APPROVED)))


# --- the sign-in sheet ------------------------------------------------------------------------------

def preview_sheet(account: Account, activity_id: int, data: bytes, *, filename: str, now: datetime) -> BulkPreview:
    """Read the sheet and keep each row's match, times and problems; nothing is credited yet."""
    activity = held_activity(account, activity_id, now=now, doing="上传签到表")
    parsed = sheets.read(data)
    if not parsed:
        raise DomainError("empty_spreadsheet", "签到表中没有志愿者记录", 422)
    attendees = db.session.execute(
        select(Volunteer.id, Volunteer.real_name, Volunteer.mobile_last4, Volunteer.volunteer_number)
        .join(Signup, Signup.volunteer_id == Volunteer.id)
        .where(Signup.activity_id == activity.id, Signup.status == SignupStatus.APPROVED)).all()
    taken: dict[int, list[tuple[datetime, datetime, int]]] = {}
    rows = [_preview_row(activity, row, attendees, taken) for row in parsed]
    # Previews never committed hold names and mobiles' last digits from the sheet: gone once expired.
    db.session.execute(delete(BulkPreview).where(BulkPreview.expires_at < now, BulkPreview.committed_at.is_(None))
                       .execution_options(synchronize_session=False))
    hours = settings()["records"]["preview_hours"]
    preview = BulkPreview(activity_id=activity.id, account_id=account.id, filename=filename[:200], rows=rows,
                          created_at=now, expires_at=now + timedelta(hours=hours))
    db.session.add(preview)
    db.session.flush()
    audit.record(account.id, "bulk_preview.created", "activity", activity.id, now=now, preview_id=preview.id,
                 rows=len(rows))
    return preview


def sheet_template(account: Account, activity_id: int) -> tuple[Activity, bytes]:
    """The activity's sign-in sheet to print and fill (before or after it is held), its sign-ups listed."""
    activity = access.require_activity_manager(account.id, access.activity(activity_id), doing="下载签到表")
    attendees = db.session.execute(
        select(Volunteer.real_name, Volunteer.volunteer_number).join(Signup, Signup.volunteer_id == Volunteer.id)
        .where(Signup.activity_id == activity.id, Signup.status == SignupStatus.APPROVED).order_by(Signup.id)).all()
    day = to_local(activity.starts_at).date().isoformat()
    return activity, sheets.template(activity.title, day, [(pii.mask_name(name) or "", number)
                                                         for name, number in attendees])


def _preview_row(activity: Activity, row: sheets.SheetRow, attendees: list, taken: dict) -> dict:
    problems: list[dict[str, str]] = []
    result = {"row": row.row, "name": row.name, "volunteer_id": None, "volunteer_name": None,
              "volunteer_number": None, "started_at": None, "ended_at": None, "minutes": 0}

    def problem(code: str, message: str) -> dict:
        problems.append({"code": code, "message": message})
        return {**result, "status": "problem", "problems": problems}

    match = _match(row, attendees)
    if isinstance(match, DomainError):
        problem(match.code, match.message)
    else:
        result.update(volunteer_id=match.id, volunteer_name=pii.mask_name(match.real_name),
                      volunteer_number=match.volunteer_number)
    day = to_local(activity.starts_at).date()
    try:
        starts_at = sheets.moment(row.start, day) or as_utc(activity.starts_at)
        ends_at = sheets.moment(row.end, day) or as_utc(activity.ends_at)
    except ValueError:
        return problem("invalid_times", "签到或签退时间无法识别（请写成 8:30 或 2026-12-05 08:30）")
    if ends_at <= starts_at and row.end is not None and not isinstance(row.end, datetime):
        ends_at += timedelta(days=1)  # a sign-out after midnight written as a time of day
    try:
        start, end, minutes = ledger.clip(activity, starts_at, ends_at)
    except DomainError as exc:
        return problem(exc.code, exc.message)
    result.update(started_at=start.isoformat(), ended_at=end.isoformat(), minutes=minutes)
    if problems:
        return {**result, "status": "problem", "problems": problems}
    earlier = taken.setdefault(match.id, [])
    for other_start, other_end, other_row, _ in earlier:
        if other_start < end and other_end > start:
            return problem("overlapping_service", f"与第 {other_row} 行为同一志愿者，时间重叠")
    try:
        ledger.check_overlap(match.id, start, end)
        ledger.check_room(activity, match.id, minutes + sum(m for *_, m in earlier))
    except DomainError as exc:
        return problem(exc.code, exc.message)
    earlier.append((start, end, row.row, minutes))
    return {**result, "status": "ok", "problems": []}


def _match(row: sheets.SheetRow, attendees: list):
    """The approved sign-up's volunteer a row names: by volunteer number, else by name and mobile's last four."""
    if row.number:
        found = [a for a in attendees if a.volunteer_number and a.volunteer_number == row.number]
        if found:
            return found[0]
        if not (row.name and row.mobile_last4):
            return DomainError("volunteer_not_matched", f"本活动已通过的报名中没有志愿者编号 {row.number}", 422)
    if not row.name:
        return DomainError("volunteer_not_matched", "缺少姓名或志愿者编号", 422)
    if len(row.mobile_last4) != 4:
        return DomainError("volunteer_not_matched", "请填写手机后四位（或志愿者编号）以确认身份", 422)
    found = [a for a in attendees if a.real_name == row.name and a.mobile_last4 == row.mobile_last4]
    if len(found) > 1:
        return DomainError("ambiguous_match", "有多位报名者姓名和手机后四位相同，请改填志愿者编号", 422)
    if not found:
        return DomainError("volunteer_not_matched", "本活动已通过的报名中找不到姓名与手机后四位都相符的志愿者", 422)
    return found[0]


def preview(account: Account, activity_id: int, preview_id: int) -> BulkPreview:
    row = db.session.get(BulkPreview, preview_id)
    if row is None or row.activity_id != activity_id:
        raise NotFound("preview_not_found", "找不到该签到表预览，请重新上传")
    access.require_activity_manager(account.id, access.activity(activity_id), doing="查看签到表预览")
    return row


def commit_preview(account: Account, activity_id: int, preview_id: int, *, now: datetime) -> dict:
    """Credit the preview's good rows once; each is checked again, and a row refused now says why."""
    row = preview(account, activity_id, preview_id)
    activity = held_activity(account, activity_id, now=now, doing="提交签到表")
    if now >= as_utc(row.expires_at):
        raise Conflict("preview_expired", "预览已过期，请重新上传签到表")
    claimed = db.session.execute(
        update(BulkPreview).where(BulkPreview.id == row.id, BulkPreview.committed_at.is_(None))
        .values(committed_at=now, committed_by_account_id=account.id).execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        raise Conflict("preview_already_committed", "该签到表已提交，不能重复提交")
    approved = _approved_volunteer_ids(activity.id)
    results = []
    for item in row.rows:
        if item["status"] != "ok":
            results.append({"row": item["row"], "volunteer_id": item["volunteer_id"], "status": "skipped",
                            "record_id": None, "minutes": 0, "error": item["problems"][0]})
        elif item["volunteer_id"] not in approved:
            results.append(_refused(item["row"], item["volunteer_id"], DomainError(
                "not_signed_up", "该志愿者的报名已不是通过状态，不能录入时长", 409)))
        else:
            results.append(_credit_row(activity, item["row"], item["volunteer_id"],
                                       datetime.fromisoformat(item["started_at"]),
                                       datetime.fromisoformat(item["ended_at"]), account, now))
    answer = _finish(account, activity, results, now, preview_id=row.id)
    db.session.execute(update(BulkPreview).where(BulkPreview.id == row.id).values(result=answer)
                       .execution_options(synchronize_session=False))
    return answer
