"""Small builders for the KPI tests: a tree with two streets in one district, held activities, records."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.extensions import db
from app.services import regions
from models import (ActivityKind, ActivityStatus, Campaign, RecordKind, RegionLevel, ServiceRecord, TeamKind,
                    VolunteerStatus)
from tests import factories


class Town:
    """factories.region_tree plus a second street (with one community) in the first district."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.t = factories.region_tree("K")
        self.t["street2"] = regions.add_region("K8", "二街道甲", RegionLevel.STREET, self.t["district"], 30_000)
        self.t["community3"] = regions.add_region("K9", "四社区", RegionLevel.COMMUNITY, self.t["street2"], 5_000)
        self.org = factories.organization("统计测试协会", self.t["district"], now)
        self.medical = factories.team(self.org, "医疗队", now, TeamKind.MEDICAL)
        self.legal = factories.team(self.org, "法律队", now, TeamKind.LEGAL)
        self._people = 0

    def __getitem__(self, name: str):
        return self.t[name]

    def volunteer(self, region: str, *, days_ago: int = 60, status: VolunteerStatus = VolunteerStatus.APPROVED,
                  **fields):
        self._people += 1
        joined = self.now - timedelta(days=days_ago)
        row = factories.volunteer(factories.account(f"kpi_v{self._people}", joined), self.t[region], joined,
                                  status=status, mobile=f"139{self._people:08d}",
                                  reviewed_at=joined if status is not VolunteerStatus.PENDING else None, **fields)
        return row

    def activity(self, region: str, *, at: datetime, status: ActivityStatus = ActivityStatus.FINISHED,
                 team=None, kind: ActivityKind = ActivityKind.SERVICE, themes=(), campaign: Campaign | None = None):
        return factories.activity(self.org, self.t[region], self.now, team_row=team, starts_in=at - self.now,
                                  status=status, kind=kind, themes=list(themes),
                                  campaign_id=campaign.id if campaign else None)

    def record(self, volunteer, activity, minutes: int, *, kind: RecordKind = RecordKind.ATTENDANCE,
               written: datetime | None = None) -> ServiceRecord:
        row = ServiceRecord(volunteer_id=volunteer.id, activity_id=activity.id, kind=kind, minutes=minutes,
                            created_at=written or self.now)
        db.session.add(row)
        db.session.flush()
        return row

    def campaign(self, festival_key: str, region: str = "district") -> Campaign:
        row = Campaign(festival_key=festival_key, year=2026, name=festival_key, day=self.now.date(),
                       organization_id=None, region_id=self.t[region].id, theme="主题", lead="文明办",
                       created_at=self.now)
        db.session.add(row)
        db.session.flush()
        return row
