"""Demo data for `make run`: a small region tree, organisations, teams and role holders."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from app.db import unit_of_work
from app.extensions import db, settings
from app.services import regions, roles
from app.timeutil import now_utc
from models import (Account, Activity, ActivityStatus, Organization, OrganizationStatus, Region, RegionLevel, Role,
                    Signup, SignupStatus, Team, TeamKind, Volunteer, VolunteerStatus)

# (code, name, population, children)
REGION_TREE = (
    ("500000", "重庆市", 32_000_000, (
        ("500103", "渝中区", 589_000, (
            ("500103001", "解放碑街道", 72_000, (
                ("500103001001", "解放碑社区", 8_200, ()),
                ("500103001002", "较场口社区", 9_600, ()),
            )),
            ("500103002", "七星岗街道", 61_000, (
                ("500103002001", "领事巷社区", 7_400, ()),
            )),
        )),
        ("500106", "沙坪坝区", 1_480_000, (
            ("500106001", "磁器口街道", 45_000, (
                ("500106001001", "磁器口社区", 6_100, ()),
            )),
        )),
    )),
)
LEVELS = (RegionLevel.CITY, RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY)

# Demo accounts log in from the mini-program with code X, which the simulator maps to openid sim_X.
DEMO_ORGANIZER = "sim_organizer"
DEMO_ADMIN = "sim_admin"
DEMO_CAPTAIN = "sim_captain"
DEMO_VOLUNTEER = "sim_demo_zhao"
MEDICAL_TEAM = "医疗卫生志愿服务队"


DEMO_ACTIVITY_TITLE = "社区义诊"


def seed(*, now: datetime) -> str:
    """Insert the demo data unless it is there already, and keep an activity open for check-in; a summary."""
    with unit_of_work():
        if db.session.scalar(select(Region.id).where(Region.code == "500000")):
            loaded = "demo data already present"
        else:
            _seed_once(now)
            loaded = ("demo data loaded: 10 regions, 2 organisations, 3 teams, 2 pending volunteers; log in with code "
                      "'organizer' (organiser of 渝中区志愿者协会), 'admin' (admin of 重庆市), 'captain' (captain of "
                      "the medical team) or 'demo_zhao' (a signed-up volunteer)")
        activity = _open_activity(now)
    return f"{loaded}; activity {activity.id} 「{DEMO_ACTIVITY_TITLE}」 is open for check-in with 赵敏 signed up"


def _seed_once(now: datetime) -> None:
    by_code: dict[str, Region] = {}
    _add_tree(REGION_TREE, None, 0, by_code)
    association = Organization(name="渝中区志愿者协会", region_id=by_code["500103"].id,
                               status=OrganizationStatus.APPROVED, approved_at=now, created_at=now)
    station = Organization(name="磁器口街道志愿服务站", region_id=by_code["500106001"].id,
                           status=OrganizationStatus.APPROVED, approved_at=now, created_at=now)
    db.session.add_all([association, station])
    db.session.flush()
    medical = Team(organization_id=association.id, name=MEDICAL_TEAM, kind=TeamKind.MEDICAL, created_at=now)
    db.session.add_all([
        medical,
        Team(organization_id=association.id, name="法律援助志愿服务队", kind=TeamKind.LEGAL, created_at=now),
        Team(organization_id=station.id, name="社区综合志愿服务队", kind=TeamKind.GENERAL, created_at=now),
    ])
    db.session.flush()
    organizer, admin, captain = (_account(openid, now) for openid in (DEMO_ORGANIZER, DEMO_ADMIN, DEMO_CAPTAIN))
    roles.grant(organizer.id, Role.ORGANIZER, organization_id=association.id, now=now)
    roles.grant(admin.id, Role.ADMIN, region_id=by_code["500000"].id, now=now)
    roles.grant(captain.id, Role.CAPTAIN, team_id=medical.id, now=now)
    for openid, name, mobile, community in (("sim_demo_li", "李明", "13800000001", "500103001001"),
                                            ("sim_demo_wang", "王芳", "13800000002", "500103001002")):
        account = _account(openid, now)
        db.session.add(Volunteer(account_id=account.id, real_name=name, mobile=mobile, birth_date=date(1990, 5, 1),
                                 categories=["community"], skills=["急救"], region_id=by_code[community].id,
                                 status=VolunteerStatus.PENDING, created_at=now, updated_at=now))
    db.session.add(Volunteer(account_id=_account(DEMO_VOLUNTEER, now).id, real_name="赵敏", mobile="13800000003",
                             birth_date=date(1992, 3, 8), categories=["professional"], skills=["急救"],
                             region_id=by_code["500103001001"].id, status=VolunteerStatus.APPROVED,
                             created_at=now, updated_at=now))
    db.session.flush()


def _open_activity(now: datetime) -> Activity:
    """The medical team's demo activity open for check-in now; a new one starting in 30 minutes if none is.

    The demo is started at any time, days after it was first seeded: a captain must always find an
    activity to scan 赵敏 into, so each start makes sure one is open.
    """
    medical = db.session.scalar(select(Team).where(Team.name == MEDICAL_TEAM))
    opens_before = timedelta(minutes=settings()["checkin"]["opens_minutes_before_start"])
    # Still open for check-in for at least an hour, so the README's scans work when it is read.
    open_now = db.session.scalar(select(Activity).where(
        Activity.team_id == medical.id, Activity.title == DEMO_ACTIVITY_TITLE,
        Activity.status == ActivityStatus.PUBLISHED, Activity.starts_at <= now + opens_before,
        Activity.ends_at > now + timedelta(hours=1)).order_by(Activity.id.desc()).limit(1))
    if open_now is not None:
        return open_now
    zhao = db.session.scalar(select(Volunteer).join(Account, Account.id == Volunteer.account_id)
                             .where(Account.mp_openid == DEMO_VOLUNTEER))
    organizer = _account(DEMO_ORGANIZER, now)
    starts_at = now.replace(second=0, microsecond=0) + timedelta(minutes=30)
    activity = Activity(organization_id=medical.organization_id, team_id=medical.id, region_id=zhao.region_id,
                        title=DEMO_ACTIVITY_TITLE, description="为社区老人测血压、讲解用药常识", themes=["空巢老人"],
                        address="解放碑社区服务中心", starts_at=starts_at, ends_at=starts_at + timedelta(hours=3),
                        capacity=20, seats_taken=1, status=ActivityStatus.PUBLISHED, published_at=now,
                        created_by_account_id=organizer.id, created_at=now, updated_at=now)
    db.session.add(activity)
    db.session.flush()
    db.session.add(Signup(activity_id=activity.id, volunteer_id=zhao.id, status=SignupStatus.APPROVED,
                          created_at=now, updated_at=now))
    db.session.flush()
    return activity


def grant_by_openid(openid: str, role: str, scope_id: int) -> str:
    """Grant a role to the account with this mini-program openid (created if it never logged in)."""
    scope, model = {"captain": ("team_id", Team), "organizer": ("organization_id", Organization),
                    "admin": ("region_id", Region)}[role]
    with unit_of_work():
        if db.session.get(model, scope_id) is None:
            raise LookupError(f"no {model.__tablename__[:-1]} with id {scope_id}")
        now = now_utc()
        account = _account(openid, now)
        roles.grant(account.id, Role(role), now=now, **{scope: scope_id})
    return f"granted {role} on {scope}={scope_id} to {openid}"


def _add_tree(nodes, parent: Region | None, depth: int, by_code: dict[str, Region]) -> None:
    for code, name, population, children in nodes:
        region = regions.add_region(code, name, LEVELS[depth], parent, population)
        by_code[code] = region
        _add_tree(children, region, depth + 1, by_code)


def _account(openid: str, now) -> Account:
    account = db.session.scalar(select(Account).where(Account.mp_openid == openid))
    if account is None:
        account = Account(mp_openid=openid, created_at=now, last_login_at=now)
        db.session.add(account)
        db.session.flush()
    return account
