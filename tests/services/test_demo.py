"""The demo data: enough to make the console worth opening, with consistent ledgers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services import demo
from models import (Account, Activity, ActivityStatus, Announcement, AnnouncementStatus, Campaign, Notification,
                    NotificationStatus, Organization, Region, RegionLevel, Role, RoleGrant,
                    ServiceRecord, Signup, SignupStatus, Team, Volunteer, VolunteerStatus)


@pytest.fixture
def seeded(app_context, now):
    return demo.seed(now=now)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _a_district_with_three_streets_and_their_communities_with_populations(seeded, now):
    district = db.session.scalar(select(Region).where(Region.code == demo.DISTRICT_CODE))
    streets = db.session.scalars(select(Region).where(Region.parent_id == district.id)).all()
    assert len(streets) == 3
    for street in streets:
        communities = db.session.scalars(select(Region).where(Region.parent_id == street.id)).all()
        assert communities and all(c.level is RegionLevel.COMMUNITY and c.population for c in communities)
    assert district.population and all(street.population for street in streets)


def _four_organisations_one_applying_teams_with_captains(seeded, now):
    statuses = sorted(status.value for status in db.session.scalars(select(Organization.status)))
    assert statuses == ["approved", "approved", "approved", "pending"]
    kinds = {team.kind for team in db.session.scalars(select(Team))}
    assert len(kinds) >= 4 and any(kind.is_professional for kind in kinds)
    assert count(RoleGrant, RoleGrant.role == Role.CAPTAIN) >= 4


def _the_demo_accounts_hold_their_roles(seeded, now):
    def grants(openid):
        return {(g.role, g.region_id is not None) for g in db.session.scalars(
            select(RoleGrant).join(Account, Account.id == RoleGrant.account_id).where(Account.mp_openid == openid))}

    assert grants(demo.DEMO_ORGANIZER) == {(Role.ORGANIZER, False)}
    assert grants(demo.DEMO_ADMIN) == {(Role.ADMIN, True)}
    assert grants(demo.DEMO_CAPTAIN) == {(Role.CAPTAIN, False)}
    admin_region = db.session.scalar(select(Region).join(RoleGrant, RoleGrant.region_id == Region.id)
                                     .join(Account, Account.id == RoleGrant.account_id)
                                     .where(Account.mp_openid == demo.DEMO_ADMIN))
    assert admin_region.level is RegionLevel.DISTRICT


def _about_two_hundred_volunteers_with_valid_mobiles_and_no_id_numbers(seeded, now):
    volunteers = db.session.scalars(select(Volunteer)).all()
    assert 190 <= len(volunteers) <= 220
    assert 10 <= sum(v.status is VolunteerStatus.PENDING for v in volunteers) <= 20
    assert all(re.fullmatch(r"1[3-9]\d{9}", v.mobile) for v in volunteers)
    assert len({v.mobile for v in volunteers}) == len(volunteers)
    assert all(v.id_number_encrypted is None and v.id_number_digest is None for v in volunteers)
    assert all(2 <= len(v.real_name) <= 3 for v in volunteers)


def _past_activities_over_twelve_weeks_with_consistent_ledgers(seeded, now):
    past = db.session.scalars(select(Activity).where(Activity.ends_at < now)).all()
    assert len(past) >= 20
    assert (now - min(a.starts_at for a in past)).days >= 7 * (demo.HISTORY_WEEKS - 1)
    assert count(ServiceRecord) >= 100
    assert sum(a.status is ActivityStatus.EVALUATED for a in past) >= len(past) - 3
    assert count(ServiceRecord, ServiceRecord.confirmed_at.is_(None)) > 0  # last week's wait for confirmation
    for volunteer in db.session.scalars(select(Volunteer)):
        minutes = db.session.scalar(select(func.coalesce(func.sum(ServiceRecord.minutes), 0))
                                    .where(ServiceRecord.volunteer_id == volunteer.id))
        assert volunteer.total_service_minutes == minutes
        balances = db.session.scalar(select(func.coalesce(func.sum(Signup.service_minutes), 0))
                                     .where(Signup.volunteer_id == volunteer.id))
        assert balances == minutes


def _coming_activities_an_open_one_sign_ups_to_decide_a_campaign_and_an_announcement(seeded, now):
    assert "is open for check-in" in seeded
    coming = db.session.scalars(select(Activity).where(Activity.starts_at > now)).all()
    assert len(coming) >= 4
    assert count(Signup, Signup.status == SignupStatus.PENDING) > 0
    campaign = db.session.scalars(select(Campaign)).one()
    assert count(Activity, Activity.campaign_id == campaign.id) == 2
    announcement = db.session.scalars(select(Announcement)).one()
    assert announcement.status is AnnouncementStatus.FANNED_OUT and announcement.recipient_count > 0
    sent = count(Notification, Notification.announcement_id == announcement.id,
                 Notification.status == NotificationStatus.SENT)
    assert sent == announcement.recipient_count - announcement.unreachable_count > 0
    # Nothing is left for the worker to send when `make run` starts.
    assert count(Notification, Notification.status == NotificationStatus.PENDING) == 0


def _seeding_twice_adds_nothing(seeded, now):
    volunteers, activities = count(Volunteer), count(Activity)
    assert "already present" in demo.seed(now=now)
    assert (count(Volunteer), count(Activity)) == (volunteers, activities)


def test_the_demo_data(seeded, now):
    """One seeded database for every check (seeding takes a few seconds)."""
    _a_district_with_three_streets_and_their_communities_with_populations(seeded, now)
    _four_organisations_one_applying_teams_with_captains(seeded, now)
    _the_demo_accounts_hold_their_roles(seeded, now)
    _about_two_hundred_volunteers_with_valid_mobiles_and_no_id_numbers(seeded, now)
    _past_activities_over_twelve_weeks_with_consistent_ledgers(seeded, now)
    _coming_activities_an_open_one_sign_ups_to_decide_a_campaign_and_an_announcement(seeded, now)
    _seeding_twice_adds_nothing(seeded, now)
