"""An organisation's own figures for a period, computed directly: its scope is small.

Everything counts by the activity's start in Shanghai inside [period start, cap). Records of
volunteers who deleted their account stay: the organisation did hold that service.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select

from app.extensions import db
from app.services.kpi.catalogue import CARE_THEME_MINIMUMS
from app.services.kpi.compute import held
from app.services.kpi.periods import Period
from models import Activity, ActivityKind, Campaign, Organization, ServiceRecord, Team, TeamKind


def organization_figures(organization: Organization, period: Period, *, now: datetime) -> dict[str, Any]:
    """Volunteers who served (distinct), hours, activities held, care themes, festivals, trainings, team kinds."""
    window = (Activity.organization_id == organization.id, *held(period.start, period.cap(now)))
    nets = (select(func.sum(ServiceRecord.minutes).label("net"))
            .join(Activity, Activity.id == ServiceRecord.activity_id).where(*window)
            .group_by(ServiceRecord.volunteer_id).subquery())
    served, minutes = db.session.execute(
        select(func.count(), func.coalesce(func.sum(nets.c.net), 0)).where(nets.c.net > 0)).one()
    by_kind = dict(db.session.execute(select(Activity.kind, func.count()).where(*window).group_by(Activity.kind)).all())
    themes = {theme: 0 for theme in CARE_THEME_MINIMUMS}
    for themes_text, count in db.session.execute(
            select(cast(Activity.themes, String), func.count()).where(*window).group_by(cast(Activity.themes, String))):
        for theme in set(json.loads(themes_text) or ()) & themes.keys():
            themes[theme] += count
    festivals = sorted(db.session.scalars(select(Campaign.festival_key).join(
        Activity, Activity.campaign_id == Campaign.id).where(*window).distinct()))
    kinds = sorted(kind.value for kind in db.session.scalars(
        select(Team.kind).join(Activity, Activity.team_id == Team.id).where(*window, Team.kind != TeamKind.GENERAL)
        .distinct()))
    return {
        "organization_id": organization.id, "period": period.key,
        "volunteers_served": served, "hours": round(int(minutes) / 60, 1), "minutes": int(minutes),
        "activities_held": sum(by_kind.values()), "trainings_held": by_kind.get(ActivityKind.TRAINING, 0),
        "care_themes": themes, "festival_campaigns": festivals, "professional_team_kinds": kinds,
    }
