"""The demo data: enough to make the console worth opening, with consistent ledgers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import credit_code
from app.extensions import db
from app.services import access, demo, organizations
from app.timeutil import to_local
from models import (Account, Activity, ActivityStatus, Announcement, AnnouncementStatus, AuditLog, Campaign,
                    Notification, NotificationStatus, Organization, OrganizationKind, OrganizationStatus, Region,
                    RegionLevel, RegionPopulation, Role, RoleGrant, ServiceRecord, Signup, SignupStatus, Team,
                    Volunteer, VolunteerStatus)


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
    # Every demo region's figure of this year is stored per year, as an admin would set it.
    year = to_local(now).year
    figures = dict(db.session.execute(select(RegionPopulation.region_id, RegionPopulation.population)
                                      .where(RegionPopulation.year == year)).all())
    every = db.session.scalars(select(Region)).all()
    assert len(every) == 15 and {region.id: region.population for region in every} == figures
    assert figures[district.id] == 589_000


def _four_organisations_one_applying_teams_with_captains(seeded, now):
    statuses = sorted(status.value for status in db.session.scalars(select(Organization.status)))
    assert statuses == ["approved", "approved", "approved", "pending"]
    kinds = {team.kind for team in db.session.scalars(select(Team))}
    assert len(kinds) >= 4 and any(kind.is_professional for kind in kinds)
    assert count(RoleGrant, RoleGrant.role == Role.CAPTAIN) >= 4


def _the_application_waits_with_a_valid_credit_code_and_a_volunteer_applicant(seeded, now):
    waiting = db.session.scalars(select(Organization).where(Organization.status == OrganizationStatus.PENDING)).one()
    assert credit_code.is_valid(waiting.credit_code) and waiting.kind is OrganizationKind.SOCIAL
    assert waiting.contact_name and re.fullmatch(r"1[3-9]\d{9}", waiting.contact_mobile)
    applicant = db.session.get(Account, waiting.applicant_account_id)
    assert applicant.mp_openid == demo.DEMO_APPLICANT
    archive = db.session.scalars(select(Volunteer).where(Volunteer.account_id == applicant.id)).one()
    assert archive.status is VolunteerStatus.APPROVED
    # No role, yet the console lets them in, and their list shows the application.
    assert count(RoleGrant, RoleGrant.account_id == applicant.id) == 0
    assert access.is_console_user(applicant.id)
    rows, total = organizations.list_visible(applicant, status=None, page=1, per_page=20)
    assert [row.id for row in rows] == [waiting.id] and total == 1
    assert count(AuditLog, AuditLog.action == "organization.applied", AuditLog.target_id == waiting.id) == 1


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


def _one_of_each_records_queue_waits_for_the_people_who_decide_it(seeded, now):
    from app.services import workbench
    from models import RetroactiveEntry

    organizer, admin = (db.session.scalar(select(Account).where(Account.mp_openid == openid))
                        for openid in (demo.DEMO_ORGANIZER, demo.DEMO_ADMIN))
    association = db.session.scalar(select(Organization).where(Organization.name == "渝中区志愿者协会"))
    counts = workbench.attention(workbench.scope(organizer, organization_id=association.id, region_id=None),
                                 now=now)["counts"]
    assert (counts["pending_declarations"], counts["certificates_to_handle"], counts["pending_transfers"]) == (1, 1, 1)
    district = db.session.scalar(select(Region).where(Region.code == demo.DISTRICT_CODE))
    assert workbench.attention(workbench.scope(admin, organization_id=None, region_id=district.id),
                               now=now)["counts"]["retroactive_to_approve"] == 1
    entry = db.session.scalars(select(RetroactiveEntry)).one()
    assert entry.evidence_upload_ids and entry.created_by_account_id != admin.id


def _seeding_twice_adds_nothing(seeded, now):
    volunteers, activities, populations = count(Volunteer), count(Activity), count(RegionPopulation)
    assert "already present" in demo.seed(now=now)
    assert (count(Volunteer), count(Activity), count(RegionPopulation)) == (volunteers, activities, populations)
    # A new year: the next run stores that year's figures too, once.
    next_year = now + timedelta(days=366)
    demo.seed(now=next_year)
    demo.seed(now=next_year)
    assert count(RegionPopulation) == 2 * populations
    assert count(RegionPopulation, RegionPopulation.year == to_local(next_year).year) == populations


def _an_application_seeded_without_its_applicant_is_completed(seeded, now):
    waiting = db.session.scalars(select(Organization).where(Organization.status == OrganizationStatus.PENDING)).one()
    waiting.applicant_account_id, waiting.credit_code, waiting.kind = None, None, None
    db.session.flush()
    demo.seed(now=now)
    assert waiting.applicant_account_id == db.session.scalar(select(Account.id).where(
        Account.mp_openid == demo.DEMO_APPLICANT)) and credit_code.is_valid(waiting.credit_code)
    assert count(Volunteer, Volunteer.account_id == waiting.applicant_account_id) == 1


def test_the_demo_data(seeded, now):
    """One seeded database for every check (seeding takes a few seconds)."""
    _a_district_with_three_streets_and_their_communities_with_populations(seeded, now)
    _four_organisations_one_applying_teams_with_captains(seeded, now)
    _the_application_waits_with_a_valid_credit_code_and_a_volunteer_applicant(seeded, now)
    _the_demo_accounts_hold_their_roles(seeded, now)
    _about_two_hundred_volunteers_with_valid_mobiles_and_no_id_numbers(seeded, now)
    _past_activities_over_twelve_weeks_with_consistent_ledgers(seeded, now)
    _coming_activities_an_open_one_sign_ups_to_decide_a_campaign_and_an_announcement(seeded, now)
    _one_of_each_records_queue_waits_for_the_people_who_decide_it(seeded, now)
    _seeding_twice_adds_nothing(seeded, now)
    _an_application_seeded_without_its_applicant_is_completed(seeded, now)
