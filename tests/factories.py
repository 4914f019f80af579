"""Builders for test data; each returns flushed model objects inside the current app context."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from app.extensions import db, settings
from app.services import accounts, regions, roles
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
