"""Festival campaigns: drafts made ahead once, opened by organisers and admins, the yearly count."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.services import campaigns
from models import ActivityStatus, Campaign, Notification, OrganizationStatus
from tests import factories as f

SEPT_20 = datetime(2026, 9, 19, 16, 0, tzinfo=timezone.utc)  # 2026-09-20 00:00 in Shanghai


@pytest.fixture
def world(app_context, now):
    tree = f.region_tree()
    org = f.organization("甲区志愿者协会", tree["district"], now)
    other_org = f.organization("乙区志愿者协会", tree["other_district"], now)
    pending = f.organization("待审协会", tree["district"], now, status=OrganizationStatus.PENDING)
    return {"tree": tree, "org": org, "other_org": other_org, "pending": pending,
            "organizer": f.organizer("sim_org", org, now), "second_organizer": f.organizer("sim_org_2", org, now),
            "other_organizer": f.organizer("sim_other_org", other_org, now),
            "admin": f.admin("sim_admin", tree["district"], now),
            "other_admin": f.admin("sim_other_admin", tree["other_district"], now)}


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_drafts_are_made_for_the_coming_days_once_and_organisers_asked_once(world):
    made = campaigns.make_drafts(now=SEPT_20, days_ahead=30)
    mine = db.session.scalars(select(Campaign).where(Campaign.organization_id == world["org"].id)
                              .order_by(Campaign.day)).all()
    # 公民道德宣传日 9-20, 中秋 9-25, 国庆 10-1, 扶贫日 10-17, 重阳 10-18; approved organisations only.
    assert [(c.festival_key, c.day) for c in mine] == [
        ("civic_morality_day", date(2026, 9, 20)), ("mid_autumn", date(2026, 9, 25)),
        ("national_day", date(2026, 10, 1)), ("poverty_day", date(2026, 10, 17)),
        ("double_ninth", date(2026, 10, 18))]
    assert made == 10 and count(Campaign, Campaign.organization_id == world["pending"].id) == 0
    assert all(c.automatic and c.status.value == "draft" and c.lead for c in mine)
    asked = count(Notification, Notification.kind == "campaign_planning")
    assert asked == 5 * 2 + 5  # two organisers here, one in the other organisation
    assert campaigns.make_drafts(now=SEPT_20 + timedelta(hours=1), days_ahead=30) == 0
    assert count(Notification, Notification.kind == "campaign_planning") == asked
    assert count(Campaign) == 10


def test_drafts_cross_the_new_year(world):
    campaigns.make_drafts(now=datetime(2026, 12, 20, 2, 0, tzinfo=timezone.utc), days_ahead=30)
    keys = set(db.session.execute(select(Campaign.festival_key, Campaign.year)
                                  .where(Campaign.organization_id == world["org"].id)).all())
    assert ("new_year", 2027) in keys and ("volunteer_day", 2026) not in keys  # 12-5 has passed


def refused(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def test_organisers_open_their_own_campaign_once_and_admins_region_wide_ones(world, now):
    def open_(who, **fields):
        values = dict(festival_key="double_ninth", year=2026, organization_id=None, region_id=None, theme=None,
                      lead=None)
        return campaigns.create(world[who].id, now=now, **{**values, **fields})

    mine = open_("organizer", organization_id=world["org"].id)
    assert (mine.day, mine.region_id, mine.lead) == (date(2026, 10, 18), world["org"].region_id, "区老龄办")
    assert refused(lambda: open_("second_organizer", organization_id=world["org"].id)) == "campaign_exists"
    assert refused(lambda: open_("other_organizer", organization_id=world["org"].id)) == "not_organizer"
    wide = open_("admin", region_id=world["tree"]["district"].id, theme="全区重阳敬老")
    assert wide.organization_id is None and wide.theme == "全区重阳敬老"
    assert refused(lambda: open_("other_admin", region_id=world["tree"]["district"].id)) == "not_admin_of_region"
    assert refused(lambda: open_("organizer")) == "organization_or_region_required"
    assert refused(lambda: open_("organizer", organization_id=world["org"].id, festival_key="nope")) == \
        "festival_not_found"
    assert count(Campaign) == 2


def test_linked_activities_make_campaigns_count_toward_the_year(world, now):
    org, tree = world["org"], world["tree"]
    own = campaigns.create(world["organizer"].id, festival_key="mid_autumn", year=2026, organization_id=org.id,
                           region_id=None, theme=None, lead=None, now=now)
    wide = campaigns.create(world["admin"].id, festival_key="double_ninth", year=2026, organization_id=None,
                            region_id=tree["district"].id, theme=None, lead=None, now=now)
    spare = campaigns.create(world["organizer"].id, festival_key="national_day", year=2026, organization_id=org.id,
                             region_id=None, theme=None, lead=None, now=now)
    first = f.activity(org, tree["community"], now)
    second = f.activity(org, tree["community"], now)
    cancelled = f.activity(org, tree["community"], now, status=ActivityStatus.CANCELLED)
    campaigns.link_activity(world["organizer"].id, own.id, first.id, now=now)
    campaigns.link_activity(world["organizer"].id, wide.id, second.id, now=now)
    assert own.status.value == "planned"
    assert refused(lambda: campaigns.link_activity(world["organizer"].id, spare.id, cancelled.id, now=now)) == \
        "activity_closed"
    theirs = f.activity(world["other_org"], tree["other_community"], now)
    assert refused(lambda: campaigns.link_activity(world["other_organizer"].id, own.id, theirs.id, now=now)) == \
        "campaign_not_yours"
    assert refused(lambda: campaigns.link_activity(world["other_organizer"].id, wide.id, theirs.id, now=now)) == \
        "campaign_not_yours"
    assert refused(lambda: campaigns.link_activity(world["organizer"].id, own.id, theirs.id, now=now)) == \
        "not_organizer"

    progress = campaigns.yearly_progress(world["organizer"].id, org.id, 2026)
    assert (progress["counted"], progress["target"], progress["reached"]) == (2, 10, False)
    assert [(item["campaign"].festival_key, item["activities"]) for item in progress["items"]] == [
        ("mid_autumn", 1), ("national_day", 0), ("double_ninth", 1)]
    assert campaigns.yearly_progress(world["admin"].id, org.id, 2026)["counted"] == 2
    assert refused(lambda: campaigns.yearly_progress(world["other_admin"].id, org.id, 2026)) == "not_organizer"
    assert campaigns.yearly_progress(world["organizer"].id, org.id, 2027)["counted"] == 0
