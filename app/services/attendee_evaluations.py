"""Evaluations of attendees (志愿者评价): an activity's captains and organisers rate each attendee
优秀 / 合格 / 不合格 with a note; the volunteer sees theirs in the archive.

History is kept: a change is a new revision of (activity, volunteer), never an edit; the current
rating is the latest revision. Writers of one activity take its row lock first (PostgreSQL; SQLite
has one writer), so "compare with the current revision, append the next" cannot interleave, and the
unique (activity, volunteer, revision) refuses a duplicate revision whatever happens. The same
rating and note again append nothing, so a repeated PUT changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, union

from app import pii
from app.errors import Conflict, DomainError, ValidationFailed
from app.extensions import db
from app.services import access, audit
from models import (Account, Activity, ActivityStatus, AttendeeEvaluation, Checkin, Evaluation, ServiceRecord,
                    Volunteer)

EVALUATION_LABELS = {Evaluation.EXCELLENT: "优秀", Evaluation.QUALIFIED: "合格", Evaluation.UNQUALIFIED: "不合格"}
# Activities in these states were never held: nobody attended them.
NOT_HELD = (ActivityStatus.DRAFT, ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED)


@dataclass(frozen=True)
class Rating:
    volunteer_id: int
    rating: Evaluation
    note: str = ""


def require_held(activity: Activity, now: datetime, *, doing: str) -> None:
    """Refuse an activity that has not started, or was never held (a draft, withdrawn, cancelled)."""
    if activity.status in NOT_HELD or now < activity.starts_at:
        raise Conflict("activity_not_held", f"活动开始后才能{doing}（草稿、已撤回或已取消的活动不能{doing}）")


def attendee_ids(activity_id: int) -> set[int]:
    """Volunteers who attended: a check-in, or any ledger entry there (bulk entry, declaration, 补录)."""
    query = union(select(Checkin.volunteer_id).where(Checkin.activity_id == activity_id),
                  select(ServiceRecord.volunteer_id).where(ServiceRecord.activity_id == activity_id))
    return set(db.session.scalars(select(query.subquery().c[0])))


def evaluate(account: Account, activity_id: int, ratings: Sequence[Rating], *,
             now: datetime) -> tuple[Activity, list[dict[str, Any]], int]:
    """Rate attendees of a held activity; the activity, every attendee's current evaluation and how many changed."""
    activity = access.activity(activity_id, lock=True)
    access.require_activity_manager(account.id, activity, doing="评价志愿者")
    require_held(activity, now, doing="评价志愿者")
    seen: set[int] = set()
    for index, item in enumerate(ratings):
        if item.volunteer_id in seen:
            raise ValidationFailed({f"items[{index}].volunteer_id": "同一志愿者只能出现一次"})
        seen.add(item.volunteer_id)
    attendees = attendee_ids(activity.id)
    absent = {f"items[{i}].volunteer_id": "未参加本活动" for i, item in enumerate(ratings)
              if item.volunteer_id not in attendees}
    if absent:
        raise DomainError("not_an_attendee", "只能评价参加了本活动的志愿者", 422, fields=absent)
    current = _current(activity.id)
    changed = 0
    for item in ratings:
        latest = current.get(item.volunteer_id)
        if latest is not None and latest.rating is item.rating and latest.note == item.note:
            continue
        db.session.add(AttendeeEvaluation(activity_id=activity.id, volunteer_id=item.volunteer_id,
                                          revision=(latest.revision + 1) if latest else 1, rating=item.rating,
                                          note=item.note, evaluated_by_account_id=account.id, created_at=now))
        changed += 1
    db.session.flush()
    if changed:
        audit.record(account.id, "activity.attendees_evaluated", "activity", activity.id, now=now, changed=changed,
                     volunteer_ids=sorted(item.volunteer_id for item in ratings))
    return activity, roster(activity), changed


def listing(account: Account, activity_id: int) -> tuple[Activity, list[dict[str, Any]]]:
    """Every attendee of the activity with their current evaluation, for its captains and organisers."""
    activity = access.activity(activity_id)
    access.require_activity_manager(account.id, activity, doing="查看志愿者评价")
    return activity, roster(activity)


def roster(activity: Activity) -> list[dict[str, Any]]:
    """Attendees (masked names, volunteer numbers) and their current evaluations, by volunteer id."""
    attendees = attendee_ids(activity.id)
    current = _current(activity.id)
    people = {v.id: v for v in db.session.scalars(select(Volunteer).where(Volunteer.id.in_(attendees)))} \
        if attendees else {}
    lines = []
    for volunteer_id in sorted(attendees):
        volunteer, latest = people[volunteer_id], current.get(volunteer_id)
        lines.append({"volunteer_id": volunteer_id, "name": pii.mask_name(volunteer.real_name) or "",
                      "volunteer_number": volunteer.volunteer_number,
                      "rating": latest.rating.value if latest else None, "note": latest.note if latest else None,
                      "revision": latest.revision if latest else 0,
                      "evaluated_at": latest.created_at if latest else None})
    return lines


def _current(activity_id: int) -> dict[int, AttendeeEvaluation]:
    latest: dict[int, AttendeeEvaluation] = {}
    for row in db.session.scalars(select(AttendeeEvaluation).where(AttendeeEvaluation.activity_id == activity_id)
                                  .order_by(AttendeeEvaluation.revision)):
        latest[row.volunteer_id] = row
    return latest


def evaluations_of(volunteer_id: int) -> list[dict[str, Any]]:
    """A volunteer's evaluations, one per activity (the latest revision, with the earlier ones), newest activity first."""
    from app.services.archive import names_of

    rows = db.session.execute(
        select(AttendeeEvaluation, Activity).join(Activity, Activity.id == AttendeeEvaluation.activity_id)
        .where(AttendeeEvaluation.volunteer_id == volunteer_id)
        .order_by(Activity.starts_at.desc(), Activity.id.desc(), AttendeeEvaluation.revision.desc())).all()
    names = names_of({row.evaluated_by_account_id for row, _ in rows})
    by_activity: dict[int, dict[str, Any]] = {}
    for row, activity in rows:
        revision = {"rating": row.rating.value, "label": EVALUATION_LABELS[row.rating], "note": row.note,
                    "revision": row.revision, "evaluated_by": names.get(row.evaluated_by_account_id),
                    "evaluated_at": row.created_at}
        found = by_activity.get(activity.id)
        if found is None:
            by_activity[activity.id] = {**revision, "activity": {"id": activity.id, "title": activity.title,
                                                                 "starts_at": activity.starts_at},
                                        "history": []}
        else:
            found["history"].append(revision)
    return list(by_activity.values())
