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
# From FIXED_NOW (11-23 10:00 in Shanghai) to 12-02 10:00: inside the windows of 12-3, 12-4 and 12-5.
DEC_2 = timedelta(days=9)


@pytest.fixture
def world(world):
    world.build("tree", "org", "other_org")
    world["pending"] = f.organization("待审协会", world.tree["district"], world.now, status=OrganizationStatus.PENDING)
    world.build("organizer")
    world["second_organizer"] = f.organizer("sim_org_2", world.org, world.now)
    return world.build("other_organizer", "admin", "other_admin")


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
    assert (mine.day, mine.region_id, mine.lead) == (date(2026, 10, 18), world["org"].region_id, "区卫生健康委")
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
    own = campaigns.create(world["organizer"].id, festival_key="disabled_persons_day", year=2026, organization_id=org.id,
                           region_id=None, theme=None, lead=None, now=now)
    wide = campaigns.create(world["admin"].id, festival_key="constitution_day", year=2026, organization_id=None,
                            region_id=tree["district"].id, theme=None, lead=None, now=now)
    spare = campaigns.create(world["organizer"].id, festival_key="volunteer_day", year=2026, organization_id=org.id,
                             region_id=None, theme=None, lead=None, now=now)
    first = f.activity(org, tree["community"], now, starts_in=DEC_2)
    second = f.activity(org, tree["community"], now, starts_in=DEC_2)
    cancelled = f.activity(org, tree["community"], now, starts_in=DEC_2, status=ActivityStatus.CANCELLED)
    campaigns.link_activity(world["organizer"].id, own.id, first.id, now=now)
    campaigns.link_activity(world["organizer"].id, wide.id, second.id, now=now)
    assert own.status.value == "planned"
    assert refused(lambda: campaigns.link_activity(world["organizer"].id, spare.id, cancelled.id, now=now)) == \
        "activity_closed"
    theirs = f.activity(world["other_org"], tree["other_community"], now, starts_in=DEC_2)
    assert refused(lambda: campaigns.link_activity(world["other_organizer"].id, own.id, theirs.id, now=now)) == \
        "campaign_not_yours"
    assert refused(lambda: campaigns.link_activity(world["other_organizer"].id, wide.id, theirs.id, now=now)) == \
        "campaign_not_yours"
    assert refused(lambda: campaigns.link_activity(world["organizer"].id, own.id, theirs.id, now=now)) == \
        "not_organizer"

    progress = campaigns.yearly_progress(world["organizer"].id, org.id, 2026)
    assert (progress["counted"], progress["target"], progress["reached"]) == (2, 10, False)
    assert [(item["campaign"].festival_key, item["activities"]) for item in progress["items"]] == [
        ("disabled_persons_day", 1), ("constitution_day", 1), ("volunteer_day", 0)]
    assert campaigns.yearly_progress(world["admin"].id, org.id, 2026)["counted"] == 2
    assert refused(lambda: campaigns.yearly_progress(world["other_admin"].id, org.id, 2026)) == "not_organizer_or_admin"
    assert campaigns.yearly_progress(world["organizer"].id, org.id, 2027)["counted"] == 0


# --- the calendar window and the campaign's state ----------------------------------------------------

SHANGHAI_MIDNIGHT_DEC_1 = datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of December 2026 in Shanghai, in UTC."""
    return SHANGHAI_MIDNIGHT_DEC_1 + timedelta(days=day - 1, hours=hour, minutes=minute)


def refused_atomically(call) -> DomainError:
    """Run a call the way a request does: its writes roll back with the refusal."""
    with pytest.raises(DomainError) as caught:
        with db.session.begin_nested():
            call()
    db.session.expire_all()
    return caught.value


def open_own(world, now, festival_key):
    return campaigns.create(world["organizer"].id, festival_key=festival_key, year=2026,
                            organization_id=world["org"].id, region_id=None, theme=None, lead=None, now=now)


@pytest.mark.parametrize("starts_at, counts", [
    (at(1, 0) - timedelta(days=3, minutes=1), False),  # 11-27 23:59, eight days before 12-5
    (at(1, 0) - timedelta(days=3), True),              # 11-28 00:00, seven days before
    (at(8, 23, 30), True),                              # 12-8, three days after
    (at(9, 0, 30), False),                              # 12-9, four days after
])
def test_an_activity_counts_for_a_festival_only_within_its_window(world, now, starts_at, counts):
    campaign = open_own(world, now, "volunteer_day")  # 国际志愿者日, 12-5
    activity = f.activity(world["org"], world["tree"]["community"], now, starts_in=starts_at - now)
    if counts:
        campaigns.link_activity(world["organizer"].id, campaign.id, activity.id, now=now)
        assert (activity.campaign_id, campaign.status.value) == (campaign.id, "planned")
        return
    error = refused_atomically(lambda: campaigns.link_activity(world["organizer"].id, campaign.id, activity.id,
                                                               now=now))
    assert (error.code, error.status, list(error.fields)) == ("outside_campaign_window", 422, ["activity_id"])
    assert "11月28日至12月8日" in error.message and "12月5日" in error.message
    assert activity.campaign_id is None and campaign.status.value == "draft"


def test_the_window_is_configured(make_app, now):
    app = make_app(campaigns={"window_days_before": 0, "window_days_after": 0})
    with app.app_context():
        tree = f.region_tree()
        org = f.organization("甲区志愿者协会", tree["district"], now)
        organizer = f.organizer("sim_org", org, now)
        campaign = campaigns.create(organizer.id, festival_key="volunteer_day", year=2026, organization_id=org.id,
                                    region_id=None, theme=None, lead=None, now=now)
        day_before = f.activity(org, tree["community"], now, starts_in=at(4, 10) - now)
        on_the_day = f.activity(org, tree["community"], now, starts_in=at(5, 10) - now)
        assert refused(lambda: campaigns.link_activity(organizer.id, campaign.id, day_before.id, now=now)) == \
            "outside_campaign_window"
        campaigns.link_activity(organizer.id, campaign.id, on_the_day.id, now=now)
        assert campaign.status.value == "planned"


def test_moving_an_activity_to_another_campaign_updates_both(world, now):
    constitution = open_own(world, now, "constitution_day")    # 12-4
    volunteers_day = open_own(world, now, "volunteer_day")      # 12-5
    activity = f.activity(world["org"], world["tree"]["community"], now, starts_in=at(4, 9) - now)
    campaigns.link_activity(world["organizer"].id, constitution.id, activity.id, now=now)
    assert (constitution.status.value, volunteers_day.status.value) == ("planned", "draft")
    campaigns.link_activity(world["organizer"].id, volunteers_day.id, activity.id, now=now)
    assert (constitution.status.value, volunteers_day.status.value) == ("draft", "planned")
    progress = campaigns.yearly_progress(world["organizer"].id, world["org"].id, 2026)
    assert [(i["campaign"].festival_key, i["activities"]) for i in progress["items"]] == [
        ("constitution_day", 0), ("volunteer_day", 1)]
    campaigns.unlink_activity(world["organizer"].id, volunteers_day.id, activity.id, now=now)
    assert activity.campaign_id is None and volunteers_day.status.value == "draft"
    assert refused(lambda: campaigns.unlink_activity(world["organizer"].id, volunteers_day.id, activity.id,
                                                     now=now)) == "activity_not_linked"
    assert refused(lambda: campaigns.unlink_activity(world["other_organizer"].id, constitution.id, activity.id,
                                                     now=now)) == "not_organizer"


def test_only_a_published_activity_makes_a_campaign_planned(world, now):
    from app.services import activities

    campaign = open_own(world, now, "volunteer_day")
    draft = f.activity(world["org"], world["tree"]["community"], now, starts_in=at(5, 9) - now,
                       status=ActivityStatus.DRAFT)
    campaigns.link_activity(world["organizer"].id, campaign.id, draft.id, now=now)
    assert draft.campaign_id == campaign.id and campaign.status.value == "draft"
    assert campaigns.yearly_progress(world["organizer"].id, world["org"].id, 2026)["counted"] == 0
    activities.publish(world["organizer"], draft.id, now=now)
    assert campaign.status.value == "planned"
    activities.cancel(world["organizer"], draft.id, reason="场地不能使用", now=now)  # nobody signed up: withdrawn
    assert campaign.status.value == "draft"
    assert campaigns.yearly_progress(world["organizer"].id, world["org"].id, 2026)["counted"] == 0


def test_a_linked_activity_cannot_move_out_of_its_window(world, now):
    from app.services import activities

    campaign = open_own(world, now, "volunteer_day")
    activity = f.activity(world["org"], world["tree"]["community"], now, starts_in=at(5, 9) - now)
    campaigns.link_activity(world["organizer"].id, campaign.id, activity.id, now=now)
    starts_at = activity.starts_at
    late = at(20, 9)
    error = refused_atomically(lambda: activities.update(
        world["organizer"], activity.id, {"starts_at": late, "ends_at": late + timedelta(hours=2)}, now=now))
    assert (error.code, list(error.fields)) == ("outside_campaign_window", ["starts_at"])
    assert activity.starts_at == starts_at and activity.campaign_id == campaign.id
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.kind == "activity_time_changed")) == 0
    # Inside the window the time moves; unlinked, it moves anywhere.
    activities.update(world["organizer"], activity.id, {"starts_at": at(7, 9), "ends_at": at(7, 11)}, now=now)
    campaigns.unlink_activity(world["organizer"].id, campaign.id, activity.id, now=now)
    activities.update(world["organizer"], activity.id, {"starts_at": late, "ends_at": late + timedelta(hours=2)},
                      now=now)
    assert activity.starts_at == late
