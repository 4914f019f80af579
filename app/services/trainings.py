"""Quarterly trainings: every professional team and every street trains at least once a quarter.

A team or a street "has a training" in a quarter when a training activity of that team
(`activities.team_id`), or placed in that street's region subtree, starts within the quarter and
is not a draft, withdrawn or cancelled. Quarters are Shanghai calendar quarters. Those without one
are reminded at the start of the quarter and again four weeks before its end: a team's captains
(its organisation's organisers when it has no captain: someone must be told, and organisers are
the ones who create activities), a street's admins. The compliance list says who trained and who
did not; at the end of a quarter every admin gets the summary of their region.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import func, or_, select

from app.errors import DomainError
from app.extensions import db
from app.services import access, notifications, regions
from app.texts import day_text
from app.timeutil import SHANGHAI, to_local
from models import (Activity, ActivityKind, ActivityStatus, Checkin, Organization, OrganizationStatus, Region,
                    RegionLevel, Role, RoleGrant, Team, TeamKind)
from models.teams import TEAM_KIND_LABELS

QUARTER_START = "quarter_start"
BEFORE_END = "before_end"
STAGES = (QUARTER_START, BEFORE_END)
# The second reminder goes this long before the quarter ends.
BEFORE_END_LEAD = timedelta(weeks=4)
# Activities in these states are no training: a draft is not scheduled, the others were called off.
_NOT_HELD = (ActivityStatus.DRAFT, ActivityStatus.WITHDRAWN, ActivityStatus.CANCELLED)
# Untrained names listed in an admin's end-of-quarter summary; the rest are in the compliance list.
_SUMMARY_NAMES = 5


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter in Asia/Shanghai."""

    year: int
    number: int  # 1..4

    @classmethod
    def of(cls, moment: datetime | date) -> Quarter:
        """The quarter of a moment (as a Shanghai day) or of a calendar day."""
        day = to_local(moment).date() if isinstance(moment, datetime) else moment
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: Shanghai midnight of the first day and of the next quarter's first day."""
        return local_midnight(self.first_day), local_midnight(self.next().first_day)

    def before_end_day(self) -> date:
        """The Shanghai day of the second reminder: four weeks before the quarter ends."""
        return self.next().first_day - BEFORE_END_LEAD

    def stage_window(self, stage: str) -> tuple[datetime, datetime]:
        """[from, until) in UTC in which the stage's reminder is due."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        start, end = self.bounds()
        turn = local_midnight(self.before_end_day())
        return (start, turn) if stage == QUARTER_START else (turn, end)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    @property
    def key(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def label(self) -> str:
        return f"{self.year}年第{self.number}季度"


def local_midnight(day: date) -> datetime:
    """00:00 of a Shanghai day, in UTC (16:00 UTC of the day before)."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(timezone.utc)


# --- reminders ---------------------------------------------------------------------------------

def remind(*, now: datetime, stage: str) -> int:
    """Remind those without a training this quarter, if the stage is due; return how many messages were written.

    Idempotent by (quarter, stage, team or street, recipient): the notify key holds all four, so a
    second run, or two schedulers, write nothing twice, while someone who became captain since the
    last run is still told. Outside the stage's window (e.g. the second stage before its day) it
    writes nothing.
    """
    quarter = Quarter.of(now)
    opens, closes = quarter.stage_window(stage)
    if not opens <= now < closes:
        return 0
    written = 0
    for team in _untrained_teams(quarter):
        for account_id in team["recipients"]:
            written += _remind_one(account_id, f"{quarter.key}:{stage}:t{team['id']}:a{account_id}", quarter, stage,
                                   f"{team['name']}（{TEAM_KIND_LABELS[team['kind']]}队伍）", now,
                                   page=f"pages/activity/create?kind=training&team_id={team['id']}")
    for street in _untrained_streets(quarter):
        for account_id in street["recipients"]:
            written += _remind_one(account_id, f"{quarter.key}:{stage}:r{street['id']}:a{account_id}", quarter, stage,
                                   street["name"], now, page="pages/activity/create?kind=training")
    return written


def _remind_one(account_id: int, key: str, quarter: Quarter, stage: str, who: str, now: datetime, *,
                page: str) -> int:
    when = "本季度" if stage == QUARTER_START else "距本季度结束只剩四周，"
    text = (f"{when}{who}尚未安排培训。按要求每支专业志愿服务队伍和每个街道每季度至少开展一次培训，"
            f"请在{day_text(quarter.last_day)}前发布培训活动。")
    return notifications.notify(account_id, key, notifications.Message(
        kind="training_reminder", template="training_reminder", title=f"{quarter.label}培训提醒", text=text,
        fields={"thing1": who, "thing2": quarter.label, "date3": quarter.last_day}, page=page,
    ), now=now) is not None


def _untrained_teams(quarter: Quarter) -> list[dict[str, Any]]:
    """Professional teams of approved organisations without a training this quarter, with whom to tell."""
    start, end = quarter.bounds()
    trained = select(Activity.id).where(Activity.team_id == Team.id, *_held_within(start, end)).exists()
    rows = db.session.execute(
        select(Team.id, Team.name, Team.kind, Team.organization_id, RoleGrant.account_id)
        .join(Organization, Organization.id == Team.organization_id)
        .outerjoin(RoleGrant, (RoleGrant.team_id == Team.id) & (RoleGrant.role == Role.CAPTAIN))
        .where(Team.kind != TeamKind.GENERAL, Organization.status == OrganizationStatus.APPROVED, ~trained)
        .order_by(Team.id, RoleGrant.account_id)
    ).all()
    teams: dict[int, dict[str, Any]] = {}
    for team_id, name, kind, organization_id, account_id in rows:
        team = teams.setdefault(team_id, {"id": team_id, "name": name, "kind": kind,
                                          "organization_id": organization_id, "recipients": []})
        if account_id is not None:
            team["recipients"].append(account_id)
    captainless = {team["organization_id"] for team in teams.values() if not team["recipients"]}
    if captainless:
        organizers = defaultdict(list)
        for organization_id, account_id in db.session.execute(
                select(RoleGrant.organization_id, RoleGrant.account_id).where(
                    RoleGrant.role == Role.ORGANIZER, RoleGrant.organization_id.in_(captainless))
                .order_by(RoleGrant.account_id)):
            organizers[organization_id].append(account_id)
        for team in teams.values():
            if not team["recipients"]:
                team["recipients"] = organizers[team["organization_id"]]
    return list(teams.values())


def _untrained_streets(quarter: Quarter) -> list[dict[str, Any]]:
    """Streets without a training in their subtree this quarter, with their admins."""
    start, end = quarter.bounds()
    trained = _streets_of_paths(db.session.scalars(
        select(Region.path).join(Activity, Activity.region_id == Region.id).where(*_held_within(start, end))))
    rows = db.session.execute(
        select(Region.id, Region.name, RoleGrant.account_id)
        .join(RoleGrant, (RoleGrant.region_id == Region.id) & (RoleGrant.role == Role.ADMIN))
        .where(Region.level == RegionLevel.STREET).order_by(Region.id, RoleGrant.account_id)
    ).all()
    streets: dict[int, dict[str, Any]] = {}
    for region_id, name, account_id in rows:
        if region_id not in trained:
            streets.setdefault(region_id, {"id": region_id, "name": name, "recipients": []})["recipients"].append(
                account_id)
    return list(streets.values())


def _held_within(start: datetime, end: datetime) -> tuple:
    return (Activity.kind == ActivityKind.TRAINING, Activity.status.not_in(_NOT_HELD),
            Activity.starts_at >= start, Activity.starts_at < end)


def _street_of_path(path: str) -> int | None:
    # Paths run city/district/street/community, so a street is the third id of its subtree's paths.
    parts = path.strip("/").split("/")
    return int(parts[2]) if len(parts) >= 3 else None


def _ids_of_path(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/")]


def _streets_of_paths(paths) -> set[int]:
    return {street for street in map(_street_of_path, paths) if street is not None}


# --- compliance --------------------------------------------------------------------------------

def compliance(account_id: int, *, year: int, quarter: int, region_id: int | None = None,
               organization_id: int | None = None) -> dict[str, Any]:
    """Who trained in a quarter and who did not, for an admin's region or an organisation.

    A region's list (its admins and admins above it) has the professional teams of organisations in
    the region's subtree and the streets in it; an organisation's list (its organisers and admins
    above it) has its professional teams only.
    """
    if (region_id is None) == (organization_id is None):
        raise DomainError("region_or_organization_required", "请指定地区或组织（二选一）", 422,
                          fields={"region_id": "地区或组织必填其一", "organization_id": "地区或组织必填其一"})
    if not 1 <= quarter <= 4:
        raise DomainError("invalid_quarter", "季度应为 1 至 4", 422, fields={"quarter": "应为 1 至 4"})
    if region_id is not None:
        region = access.require_admin_over(account_id, regions.get_region(region_id), doing="查看培训情况")
        return report(Quarter(year, quarter), region=region)
    organization = access.require_overseer(account_id, access.organization(organization_id), doing="查看培训情况")
    return report(Quarter(year, quarter), organization_id=organization.id)


def report(quarter: Quarter, *, region: Region | None = None, organization_id: int | None = None) -> dict[str, Any]:
    """The compliance list of a quarter: every team and street in scope, trained or not, with its trainings.

    No scope: the whole platform. Each training carries its sign-ups and how many checked in.
    """
    start, end = quarter.bounds()
    team_scope = (select(Team.id).join(Organization, Organization.id == Team.organization_id)
                  .join(Region, Region.id == Organization.region_id)
                  .where(Team.kind != TeamKind.GENERAL, Organization.status == OrganizationStatus.APPROVED))
    if organization_id is not None:
        team_scope = team_scope.where(Organization.id == organization_id)
    elif region is not None:
        team_scope = team_scope.where(Region.path.startswith(region.path, autoescape=True))
    teams = db.session.execute(
        select(Team.id, Team.name, Team.kind, Organization.id, Organization.name, Region.path)
        .join(Organization, Organization.id == Team.organization_id)
        .join(Region, Region.id == Organization.region_id)
        .where(Team.id.in_(team_scope)).order_by(Team.id)
    ).all()
    with_streets = organization_id is None
    streets = db.session.execute(
        select(Region.id, Region.name, Region.path).where(
            Region.level == RegionLevel.STREET,
            *((Region.path.startswith(region.path, autoescape=True),) if region is not None else ()))
        .order_by(Region.id)
    ).all() if with_streets else []

    in_scope = Activity.team_id.in_(team_scope)
    if with_streets:
        in_scope = or_(in_scope, Activity.region_id.in_(
            select(Region.id).where(Region.path.startswith(region.path, autoescape=True)))
            if region is not None else Activity.id.is_not(None))
    training_rows = db.session.execute(
        select(Activity.id, Activity.title, Activity.starts_at, Activity.ends_at, Activity.status,
               Activity.seats_taken, Activity.team_id, Region.path)
        .join(Region, Region.id == Activity.region_id)
        .where(*_held_within(start, end), in_scope).order_by(Activity.starts_at, Activity.id)
    ).all()
    attended = dict(db.session.execute(
        select(Checkin.activity_id, func.count()).where(
            Checkin.activity_id.in_(select(Activity.id).where(*_held_within(start, end), in_scope)))
        .group_by(Checkin.activity_id)
    ).all())
    by_team: dict[int, list[dict[str, Any]]] = defaultdict(list)
    by_street: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for activity_id, title, starts_at, ends_at, status, seats_taken, team_id, path in training_rows:
        item = {"id": activity_id, "title": title, "starts_at": starts_at, "ends_at": ends_at,
                "status": status.value, "signed_up": seats_taken, "attended": attended.get(activity_id, 0)}
        if team_id is not None:
            by_team[team_id].append(item)
        street = _street_of_path(path)
        if street is not None:
            by_street[street].append(item)
    team_items = [{"id": team_id, "name": name, "kind": kind.value, "kind_label": TEAM_KIND_LABELS[kind],
                   "organization_id": org_id, "organization_name": org_name, "region_path": path,
                   "trained": bool(by_team[team_id]), "trainings": by_team[team_id]}
                  for team_id, name, kind, org_id, org_name, path in teams]
    street_items = [{"id": street_id, "name": name, "region_path": path, "trained": bool(by_street[street_id]),
                     "trainings": by_street[street_id]} for street_id, name, path in streets]
    return {
        "year": quarter.year, "quarter": quarter.number, "label": quarter.label,
        "starts_on": quarter.first_day, "ends_on": quarter.last_day,
        "teams": team_items, "streets": street_items,
        "summary": {"teams": len(team_items), "teams_trained": sum(t["trained"] for t in team_items),
                    "streets": len(street_items), "streets_trained": sum(s["trained"] for s in street_items)},
    }


def tell_admins(quarter: Quarter, *, now: datetime) -> tuple[int, dict[str, int]]:
    """Send every admin the quarter's compliance summary of their region; (messages written, platform totals).

    One report over the platform is aggregated up each team's and street's path, so this costs the
    same for ten admins as for ten thousand. Keyed by (quarter, region, admin): safe to run twice.
    Admins of regions with neither professional teams nor streets get nothing.
    """
    full = report(quarter)
    tally: dict[int, dict[str, Any]] = defaultdict(lambda: {"teams": 0, "teams_trained": 0, "streets": 0,
                                                            "streets_trained": 0, "untrained": []})
    for kind, items in (("teams", full["teams"]), ("streets", full["streets"])):
        for item in items:
            for region_id in _ids_of_path(item["region_path"]):
                counts = tally[region_id]
                counts[kind] += 1
                counts[f"{kind}_trained"] += item["trained"]
                if not item["trained"] and len(counts["untrained"]) < _SUMMARY_NAMES:
                    counts["untrained"].append(item["name"])
    admins = db.session.execute(
        select(RoleGrant.account_id, Region.id, Region.name).join(Region, Region.id == RoleGrant.region_id)
        .where(RoleGrant.role == Role.ADMIN).order_by(RoleGrant.id)).all()
    written = 0
    for account_id, region_id, region_name in admins:
        counts = tally.get(region_id)
        if counts is None:
            continue
        missing = counts["teams"] - counts["teams_trained"] + counts["streets"] - counts["streets_trained"]
        text = (f"{region_name}{quarter.label}培训情况：专业队伍 {counts['teams_trained']}/{counts['teams']} 支已培训，"
                f"街道 {counts['streets_trained']}/{counts['streets']} 个已培训。")
        if missing:
            more = "等" if missing > len(counts["untrained"]) else ""
            text += f"未培训：{'、'.join(counts['untrained'])}{more}，共 {missing} 个。完整名单请查看培训达标情况。"
        else:
            text += "全部达标。"
        written += notifications.notify(account_id, f"{quarter.key}:r{region_id}:a{account_id}", notifications.Message(
            kind="training_compliance", template="training_reminder", title=f"{quarter.label}培训达标情况",
            text=text, fields={"thing1": region_name, "thing2": quarter.label, "date3": quarter.last_day},
            page=f"pages/training/compliance?year={quarter.year}&quarter={quarter.number}&region_id={region_id}",
        ), now=now) is not None
    return written, full["summary"]
