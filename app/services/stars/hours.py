"""What counts toward a star: service minutes by the counted sources, and whole months registered.

- Minutes are summed from the service-record ledger (`service_records`), by record source. A
  correction that names the record it corrects (`corrects_record_id`) counts under that record's
  source, so excluding manual entries does not drop the corrections of scanned hours; a correction
  standing alone (an approved correction request) is a manual entry.
- Trainings do not count: a training (活动类型「培训」) is preparation for service, not service; its
  hours stay on the certificate's training part and in the volunteer's totals, but not toward a star.
- The sum is never below zero (a correction cannot make a star harder than having served nothing).
- Months registered run from the registration (`volunteers.created_at`), counted in whole calendar
  months on the Shanghai calendar: registered 2026-03-15 → 8 months on 2026-11-15, 7 on 2026-11-14.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.services.stars.rules import Rules
from app.timeutil import to_local
from models import Activity, ActivityKind, ServiceRecord, Volunteer

_original = aliased(ServiceRecord)


def _source_column():
    return func.coalesce(_original.source, ServiceRecord.source)


def minutes_by_source(volunteer_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
    """volunteer id → source → minutes of service (trainings left out), for some volunteers or all."""
    source = _source_column()
    query = (select(ServiceRecord.volunteer_id, source, func.sum(ServiceRecord.minutes))
             .join(Activity, Activity.id == ServiceRecord.activity_id)
             .outerjoin(_original, _original.id == ServiceRecord.corrects_record_id)
             .where(Activity.kind != ActivityKind.TRAINING)
             .group_by(ServiceRecord.volunteer_id, source))
    if volunteer_ids is not None:
        query = query.where(ServiceRecord.volunteer_id.in_(list(volunteer_ids)))
    found: dict[int, dict[str, int]] = {}
    for volunteer_id, source_value, minutes in db.session.execute(query):
        key = getattr(source_value, "value", source_value)
        found.setdefault(volunteer_id, {})[key] = int(minutes or 0)
    return found


def counted_minutes(by_source: dict[str, int], rules: Rules) -> int:
    return max(0, sum(minutes for source, minutes in by_source.items() if source in rules.sources))


def qualifying_minutes(volunteer: Volunteer, rules: Rules) -> int:
    return counted_minutes(minutes_by_source([volunteer.id]).get(volunteer.id, {}), rules)


def months_registered(volunteer: Volunteer, now: datetime) -> int:
    start, today = to_local(volunteer.created_at).date(), to_local(now).date()
    months = (today.year - start.year) * 12 + today.month - start.month - (1 if today.day < start.day else 0)
    return max(0, months)


def qualified_level(minutes: int, months: int, rules: Rules) -> int:
    """The highest star the minutes and months reach under the rules (0 for none)."""
    if months < rules.min_months:
        return 0
    return sum(1 for hours in rules.thresholds_hours if minutes >= hours * 60)
