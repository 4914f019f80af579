"""Builders for test data; each returns flushed model objects inside the current app context.

`World` is the common cast (region tree, organisations, organisers, teams, captains, admins, volunteers,
an activity) that most test modules start from; the `world` fixture of conftest.py hands one out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from app.extensions import db, settings
from app.services import accounts, checkin_displays, regions, roles, signups
from models import (Account, Activity, ActivityStatus, Organization, OrganizationStatus, Region, RegionLevel, Role, Team,
                    TeamKind, Volunteer, VolunteerStatus)


def region_tree(prefix: str = "T") -> dict[str, Region]:
    """city → district → street → two communities, plus a second district with its own community."""
    city = regions.add_region(f"{prefix}0", "测试市", RegionLevel.CITY, None, 1_000_000)
    district = regions.add_region(f"{prefix}1", "甲区", RegionLevel.DISTRICT, city, 300_000)
    street = regions.add_region(f"{prefix}2", "一街道", RegionLevel.STREET, district, 50_000)
    community = regions.add_region(f"{prefix}3", "一社区", RegionLevel.COMMUNITY, street, 8_000)
    community2 = regions.add_region(f"{prefix}4", "二社区", RegionLevel.COMMUNITY, street, 7_000)
    other_district = regions.add_region(f"{prefix}5", "乙区", RegionLevel.DISTRICT, city, 200_000)
    other_street = regions.add_region(f"{prefix}6", "二街道", RegionLevel.STREET, other_district, 40_000)
    other_community = regions.add_region(f"{prefix}7", "三社区", RegionLevel.COMMUNITY, other_street, 6_000)
    return {"city": city, "district": district, "street": street, "community": community,
            "community2": community2, "other_district": other_district, "other_street": other_street,
            "other_community": other_community}


def account(openid: str, now: datetime) -> Account:
    row = Account(mp_openid=openid, created_at=now, last_login_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def organization(name: str, region: Region, now: datetime, status: OrganizationStatus = OrganizationStatus.APPROVED) -> Organization:
    row = Organization(name=name, region_id=region.id, status=status, created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def team(org: Organization, name: str, now: datetime, kind: TeamKind = TeamKind.GENERAL) -> Team:
    row = Team(organization_id=org.id, name=name, kind=kind, created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def organizer(openid: str, org: Organization, now: datetime) -> Account:
    row = account(openid, now)
    roles.grant(row.id, Role.ORGANIZER, organization_id=org.id, now=now)
    return row


def admin(openid: str, region: Region, now: datetime) -> Account:
    row = account(openid, now)
    roles.grant(row.id, Role.ADMIN, region_id=region.id, now=now)
    return row


def captain(openid: str, team_row: Team, now: datetime) -> Account:
    row = account(openid, now)
    roles.grant(row.id, Role.CAPTAIN, team_id=team_row.id, now=now)
    return row


def approved_volunteer(openid: str, region: Region, now: datetime, **fields: Any) -> Volunteer:
    """A new account with an approved volunteer archive."""
    return volunteer(account(openid, now), region, now, status=VolunteerStatus.APPROVED, **fields)


def activity(org: Organization, region: Region, now: datetime, *, team_row: Team | None = None,
             starts_in: timedelta = timedelta(days=1), duration: timedelta = timedelta(hours=3),
             status: ActivityStatus = ActivityStatus.PUBLISHED, **fields: Any) -> Activity:
    values: dict[str, Any] = dict(title="敬老院陪伴服务", description="陪老人聊天、读报", address="一社区敬老院",
                                  capacity=20, themes=["空巢老人"])
    values.update(fields)
    starts_at = now + starts_in
    row = Activity(organization_id=org.id, team_id=team_row.id if team_row else None, region_id=region.id,
                   starts_at=starts_at, ends_at=starts_at + duration, status=status,
                   published_at=now if status is not ActivityStatus.DRAFT else None,
                   created_at=now, updated_at=now, **values)
    db.session.add(row)
    db.session.flush()
    return row


def volunteer(owner: Account, region: Region, now: datetime, **fields: Any) -> Volunteer:
    values: dict[str, Any] = dict(real_name="张三丰", mobile="13912345678", birth_date=date(1990, 1, 1),
                                  categories=["community"], skills=["急救"], status=VolunteerStatus.PENDING)
    values.update(fields)
    row = Volunteer(account_id=owner.id, region_id=region.id, created_at=now, updated_at=now, **values)
    db.session.add(row)
    db.session.flush()
    return row


def token_for(owner: Account) -> str:
    """A bearer token as POST /auth/login would issue it."""
    return accounts.issue_token(owner.id, settings()["app"]["secret_key"], generation=owner.token_generation)


def bearer(owner: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(owner)}"}


def subscribe_credit(owner: Account, purpose: str, now: datetime, count: int = 1) -> None:
    """Give the account `count` subscribe-message credits for the template of a purpose (wechat.templates)."""
    from models import SubscriptionCredit

    db.session.add(SubscriptionCredit(account_id=owner.id, template_id=settings()["wechat"]["templates"][purpose],
                                      remaining=count, updated_at=now))
    db.session.flush()


# The common cast, by member: the name of an organisation or team, the openid of a person.
CAST = {
    "org": "甲区志愿者协会", "other_org": "乙区志愿者协会", "team": "医疗队", "other_team": "乙队",
    "organizer": "sim_org", "other_organizer": "sim_other_org", "captain": "sim_captain",
    "other_captain": "sim_other_captain", "admin": "sim_admin", "other_admin": "sim_other_admin",
    "city_admin": "sim_city_admin", "alice": "sim_alice", "bob": "sim_bob",
}


class World:
    """The cast most tests need, each member built (and flushed) the first time it is read.

    `org` (in 甲区) has `organizer`, `team` (with `captain`) and `activity` (in 一社区, of the team, tomorrow);
    `other_org` (in 乙区) has `other_organizer`, `other_team` and `other_captain`; `admin` and
    `other_admin` administer the two districts, `city_admin` the city; `alice` and `bob` are approved
    volunteers of 一社区 (`volunteer` is `alice`). Keyword arguments rename members (`other_org="乙区协会"`,
    `other_organizer="sim_other"`). Members are built in the order they are read, so a fixture that
    lists them with `build(...)` fixes the order of their ids. Items work like attributes
    (`world["org"]`), and a test module may add its own (`world["pending"] = ...`).
    """

    def __init__(self, now: datetime, prefix: str = "T", **cast: str) -> None:
        unknown = set(cast) - set(CAST)
        if unknown:
            raise TypeError(f"no such member of the cast: {sorted(unknown)}")
        self.now = now
        self.prefix = prefix
        self.cast = {**CAST, **cast}

    def build(self, *members: str) -> World:
        """Build these members now, in this order."""
        for member in members:
            getattr(self, member)
        return self

    def __getitem__(self, member: str) -> Any:
        try:
            return getattr(self, member)
        except AttributeError:
            raise KeyError(member) from None

    def __setitem__(self, member: str, value: Any) -> None:
        setattr(self, member, value)

    def bearers(self, *members: str) -> dict[str, dict[str, str]]:
        """Authorization headers by member name (a volunteer's are its account's)."""
        return {member: bearer(_account_of(self[member])) for member in members}

    @cached_property
    def tree(self) -> dict[str, Region]:
        return region_tree(self.prefix)

    @cached_property
    def org(self) -> Organization:
        return organization(self.cast["org"], self.tree["district"], self.now)

    @cached_property
    def other_org(self) -> Organization:
        return organization(self.cast["other_org"], self.tree["other_district"], self.now)

    @cached_property
    def team(self) -> Team:
        return team(self.org, self.cast["team"], self.now)

    @cached_property
    def other_team(self) -> Team:
        return team(self.other_org, self.cast["other_team"], self.now)

    @cached_property
    def organizer(self) -> Account:
        return organizer(self.cast["organizer"], self.org, self.now)

    @cached_property
    def other_organizer(self) -> Account:
        return organizer(self.cast["other_organizer"], self.other_org, self.now)

    @cached_property
    def captain(self) -> Account:
        return captain(self.cast["captain"], self.team, self.now)

    @cached_property
    def other_captain(self) -> Account:
        return captain(self.cast["other_captain"], self.other_team, self.now)

    @cached_property
    def admin(self) -> Account:
        return admin(self.cast["admin"], self.tree["district"], self.now)

    @cached_property
    def other_admin(self) -> Account:
        return admin(self.cast["other_admin"], self.tree["other_district"], self.now)

    @cached_property
    def city_admin(self) -> Account:
        return admin(self.cast["city_admin"], self.tree["city"], self.now)

    @cached_property
    def alice(self) -> Volunteer:
        return approved_volunteer(self.cast["alice"], self.tree["community"], self.now)

    @cached_property
    def bob(self) -> Volunteer:
        return approved_volunteer(self.cast["bob"], self.tree["community"], self.now)

    @property
    def volunteer(self) -> Volunteer:
        return self.alice

    @cached_property
    def activity(self) -> Activity:
        return self.add_activity()

    def add_activity(self, *, of_team: bool = True, **fields: Any) -> Activity:
        """An activity of `org` in 一社区 (of `team` unless `of_team=False`); fields as for `activity()`."""
        return activity(self.org, self.tree["community"], self.now, team_row=self.team if of_team else None, **fields)

    def add_attended_activity(self) -> Activity:
        """An activity starting in an hour where `volunteer` signed up and served its first hour (one record, 60 min).

        The captain checked them in and out by hand, so the ledger holds one attendance record.
        """
        from app.services import checkins, signups

        rules = checkins.Rules(opens_minutes_before_start=60, checkout_grace_minutes=120, min_minutes_before_checkout=5)
        held = self.add_activity(starts_in=timedelta(hours=1))
        signups.apply(self.volunteer.account, held.id, join_waitlist=False, now=self.now)
        for nonce, at in (("in-1", held.starts_at), ("out-1", held.starts_at + timedelta(hours=1))):
            checkins.manual_entry(self.captain.id, held.id, volunteer_id=self.volunteer.id, reason="测试",
                                  nonce=nonce, rules=rules, now=at)
        return held


def _account_of(member: Account | Volunteer) -> Account:
    return member.account if isinstance(member, Volunteer) else member


def scan_ready(now: datetime) -> World:
    """A team's activity starting in an hour, its volunteer signed up with a personal check-in code, and the team's captain."""
    w = World(now).build("tree", "org", "team")
    w["activity"] = w.add_activity(starts_in=timedelta(hours=1))
    signups.apply(w.volunteer.account, w.activity.id, join_waitlist=False, now=now)
    checkin_displays.personal_code(w.volunteer.account, now=now)
    w.build("captain")
    return w
