"""Rankings of points earned, per organisation or region, with masked names, and the volunteer's consent.

What ranks: points earned from service (`points_earnings`, net of corrections) at the organisation's
activities or at activities in the region's subtree, in a Shanghai calendar year (default: this one).
Spending, gifts and bonuses do not move a volunteer in the ranking: it shows service, not wealth.

Consent: opt-in. A public list of names with figures is a disclosure of personal information, which
PIPL art. 23/25 ties to the person's separate consent; so a volunteer appears only after turning
`PUT /me/points/ranking-consent` on, and disappears at once when turning it off (rankings are read
live, nothing is cached). Even then the name is masked (张*三) and no number or id is shown; the
caller sees their own rank and figure whether or not they consented.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.pii import mask_name
from app.services import access, regions
from app.timeutil import to_local
from models import Activity, Region, Volunteer
from models.points_rules import PointsEarning, PointsRankingConsent


def consent(volunteer: Volunteer) -> bool:
    row = db.session.get(PointsRankingConsent, volunteer.id)
    return bool(row and row.consented)


def set_consent(volunteer: Volunteer, consented: bool, *, now: datetime) -> bool:
    row = db.session.get(PointsRankingConsent, volunteer.id)
    if row is None:
        row = PointsRankingConsent(volunteer_id=volunteer.id)
        db.session.add(row)
    row.consented, row.updated_at = bool(consented), now
    db.session.flush()
    return row.consented


def ranking(*, organization_id: int | None = None, region_id: int | None = None, year: int | None = None,
            limit: int = 50, me: Volunteer | None = None, now: datetime) -> dict[str, Any]:
    """The top `limit` consenting volunteers by points earned in the year; `me`'s own figure beside."""
    year = year or to_local(now).year
    scope = select(Activity.id)
    if organization_id is not None:
        access.organization(organization_id)
        scope = scope.where(Activity.organization_id == organization_id)
    else:
        region = regions.get_region(region_id)
        scope = scope.join(Region, Region.id == Activity.region_id).where(Region.path.startswith(region.path))
    total = func.sum(PointsEarning.points).label("points")
    base = (select(PointsEarning.volunteer_id, total)
            .where(PointsEarning.year == year, PointsEarning.activity_id.in_(scope))
            .group_by(PointsEarning.volunteer_id).having(total > 0))
    per = base.subquery()
    ranked = (select(Volunteer.real_name, per.c.points).join(per, per.c.volunteer_id == Volunteer.id)
              .join(PointsRankingConsent, PointsRankingConsent.volunteer_id == Volunteer.id)
              .where(PointsRankingConsent.consented.is_(True))
              .order_by(per.c.points.desc(), Volunteer.id).limit(limit))
    items, rank, previous = [], 0, None
    for position, (name, points) in enumerate(db.session.execute(ranked), start=1):
        if points != previous:  # equal figures share a rank (1, 2, 2, 4)
            rank, previous = position, points
        items.append({"rank": rank, "name": mask_name(name), "points": int(points)})
    mine = None
    if me is not None:
        per = base.subquery()
        own = db.session.scalar(select(per.c.points).where(per.c.volunteer_id == me.id))
        if own:
            # Rank among those shown, as if the caller were shown too.
            ahead = db.session.scalar(select(func.count()).select_from(per)
                                      .join(PointsRankingConsent, PointsRankingConsent.volunteer_id == per.c.volunteer_id)
                                      .where(PointsRankingConsent.consented.is_(True), per.c.points > own,
                                             per.c.volunteer_id != me.id))
            mine = {"rank": int(ahead) + 1, "points": int(own), "shown": consent(me)}
    return {"year": year, "items": items, "me": mine}
