"""The stars' scheduled passes: open applications for who qualifies (daily), award after publicity (every 5 min).

`open_qualified` reads every approved volunteer's minutes by source in one grouped query and the
rules once per home region, then opens an application for the highest star qualified for, above
the one held, when the volunteer has no application open (a higher one waits until the open one
is decided) and never had one for that star (a rejected or revoked star is not reopened by the job
every night; the volunteer may apply again). A second run opens nothing: the unique index on open
applications and the checks above make it idempotent, beside the (job, day) claim in `job_runs`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from app.db import unit_of_work
from app.extensions import db
from app.services import regions
from app.services.stars import flow, hours, rules as star_rules
from models import StarApplication, StarOrigin, StarStatus, Volunteer, VolunteerStatus
from models.stars import OPEN_STAR_STATUSES

logger = logging.getLogger(__name__)


def open_qualified(*, now: datetime) -> dict[str, int]:
    with unit_of_work():
        by_source = hours.minutes_by_source()
        held = dict(db.session.execute(select(StarApplication.volunteer_id, func.max(StarApplication.level)).where(
            StarApplication.status == StarStatus.AWARDED).group_by(StarApplication.volunteer_id)).all())
        tried: set[tuple[int, int]] = set(db.session.execute(
            select(StarApplication.volunteer_id, StarApplication.level)).all())
        busy = set(db.session.scalars(select(StarApplication.volunteer_id).where(
            StarApplication.status.in_(OPEN_STAR_STATUSES))))
        volunteers = db.session.scalars(select(Volunteer).where(
            Volunteer.status == VolunteerStatus.APPROVED, Volunteer.id.in_(list(by_source) or [0]))
            .order_by(Volunteer.id)).all()
        rules_of: dict[int, star_rules.Rules] = {}
        opened = 0
        for volunteer in volunteers:
            if volunteer.id in busy:
                continue
            if volunteer.region_id not in rules_of:
                rules_of[volunteer.region_id] = star_rules.in_force(regions.get_region(volunteer.region_id))
            rules = rules_of[volunteer.region_id]
            minutes = hours.counted_minutes(by_source[volunteer.id], rules)
            level = hours.qualified_level(minutes, hours.months_registered(volunteer, now), rules)
            if level <= held.get(volunteer.id, 0) or (volunteer.id, level) in tried:
                continue
            _, made = flow.open_application(volunteer, level, origin=StarOrigin.JOB, now=now, minutes=minutes,
                                            rules=rules)
            opened += made
    if opened:
        logger.info("star applications opened: %d", opened)
    return {"opened": opened}


def award_due(*, now: datetime) -> dict[str, int]:
    """Award every star whose publicity is over with no objection open, each in its own transaction."""
    with unit_of_work():
        due = flow.due_for_award(now)
    awarded = 0
    for application_id in due:
        with unit_of_work():
            awarded += flow.award(application_id, now=now)
    if awarded:
        logger.info("stars awarded: %d", awarded)
    return {"awarded": awarded}
