"""Activity rules: who may create and change them, lifecycle, announcements of changes, search."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.extensions import db
from app.services import activities, signups
from models import ActivityStatus, Evaluation, Notification, OrganizationStatus
from tests import factories as f


@pytest.fixture
def world(world):
    return world.build("tree", "org", "organizer", "team")


def form(world, now, **extra):
    values = dict(organization_id=world["org"].id, region_id=world["tree"]["community"].id, title="重阳敬老",
                  address="一社区活动室", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=3),
                  capacity=10, themes=["空巢老人"])
    values.update(extra)
    return values


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def test_an_organiser_creates_a_draft_or_publishes_at_once(world, now):
    draft = activities.create(world["organizer"], form(world, now), now=now)
    published = activities.create(world["organizer"], form(world, now, publish=True), now=now)
    assert draft.status is ActivityStatus.DRAFT and published.status is ActivityStatus.PUBLISHED
    assert published.published_at == now and draft.seats_taken == 0


def test_only_an_organiser_of_an_approved_organisation_creates(world, now):
    other = f.organization("乙区协会", world["tree"]["other_district"], now)
    stranger = f.organizer("sim_stranger", other, now)
    assert code_of(lambda: activities.create(stranger, form(world, now), now=now)) == "not_organizer"
    pending_org = f.organization("待审协会", world["tree"]["district"], now, status=OrganizationStatus.PENDING)
    pending_organizer = f.organizer("sim_pending", pending_org, now)
    assert code_of(lambda: activities.create(pending_organizer, form(world, now, organization_id=pending_org.id),
                                             now=now)) == "organization_not_approved"


@pytest.mark.parametrize("extra, field", [
    (lambda w, now: {"ends_at": now + timedelta(days=1)}, "ends_at"),
    (lambda w, now: {"region_id": w["tree"]["street"].id}, "region_id"),
    (lambda w, now: {"checkin_radius_m": 200}, "checkin_radius_m"),
    (lambda w, now: {"latitude": 29.5}, "latitude"),
])
def test_invalid_activities_name_the_field(world, now, extra, field):
    with pytest.raises(DomainError) as caught:
        activities.create(world["organizer"], form(world, now, **extra(world, now)), now=now)
    assert caught.value.code == "invalid_activity" and field in caught.value.fields


def test_a_team_of_another_organisation_is_refused(world, now):
    other = f.organization("乙区协会", world["tree"]["other_district"], now)
    foreign_team = f.team(other, "外队", now)
    with pytest.raises(DomainError) as caught:
        activities.create(world["organizer"], form(world, now, team_id=foreign_team.id), now=now)
    assert "team_id" in caught.value.fields


def test_capacity_cannot_drop_below_sign_ups(world, now):
    activity = f.activity(world["org"], world["tree"]["community"], now, capacity=3)
    for i in range(2):
        signups.apply(f.approved_volunteer(f"sim_v{i}", world["tree"]["community"], now).account, activity.id,
                      join_waitlist=False, now=now)
    assert code_of(lambda: activities.update(world["organizer"], activity.id, {"capacity": 1},
                                             now=now)) == "capacity_below_signups"
    assert activities.update(world["organizer"], activity.id, {"capacity": 2}, now=now).capacity == 2


def test_a_new_time_is_announced_to_everyone_signed_up(world, now):
    activity = f.activity(world["org"], world["tree"]["community"], now)
    volunteer = f.approved_volunteer("sim_alice", world["tree"]["community"], now)
    signups.apply(volunteer.account, activity.id, join_waitlist=False, now=now)
    activities.update(world["organizer"], activity.id, {"title": "新名字"}, now=now)
    changes = select(Notification).where(Notification.kind != "signup_result")  # the sign-up's confirmation
    assert db.session.scalars(changes).all() == []
    moved = activity.starts_at + timedelta(hours=1)
    activities.update(world["organizer"], activity.id, {"starts_at": moved, "ends_at": moved + timedelta(hours=2)},
                      now=now)
    [told] = db.session.scalars(changes).all()
    assert told.account_id == volunteer.account_id and told.kind == "activity_time_changed"


def test_cancel_withdraws_when_nobody_signed_up_and_cancels_with_notice_otherwise(world, now):
    empty = f.activity(world["org"], world["tree"]["community"], now)
    assert activities.cancel(world["organizer"], empty.id, reason="场地变更", now=now).status is ActivityStatus.WITHDRAWN
    busy = f.activity(world["org"], world["tree"]["community"], now, title="有人报名的活动")
    volunteer = f.approved_volunteer("sim_alice", world["tree"]["community"], now)
    signups.apply(volunteer.account, busy.id, join_waitlist=False, now=now)
    cancelled = activities.cancel(world["organizer"], busy.id, reason="暴雨预警", now=now)
    assert cancelled.status is ActivityStatus.CANCELLED and cancelled.cancel_reason == "暴雨预警"
    [told] = db.session.scalars(select(Notification).where(Notification.kind != "signup_result")).all()
    assert told.kind == "activity_cancelled" and "暴雨预警" in told.payload["text"]
    assert code_of(lambda: activities.cancel(world["organizer"], busy.id, reason="again", now=now)) == "activity_closed"
    assert code_of(lambda: activities.update(world["organizer"], busy.id, {"title": "改名"}, now=now)) == "activity_closed"


def test_status_follows_the_clock_and_evaluation_waits_for_the_end(world, now):
    activity = f.activity(world["org"], world["tree"]["community"], now)
    assert activities.effective_status(activity, now) is ActivityStatus.PUBLISHED
    assert activities.effective_status(activity, activity.starts_at) is ActivityStatus.ONGOING
    assert activities.effective_status(activity, activity.ends_at) is ActivityStatus.FINISHED
    assert code_of(lambda: activities.evaluate(world["organizer"], activity.id, Evaluation.EXCELLENT,
                                               now=activity.starts_at)) == "not_finished"
    rated = activities.evaluate(world["organizer"], activity.id, Evaluation.EXCELLENT, now=activity.ends_at)
    assert rated.status is ActivityStatus.EVALUATED and rated.evaluation is Evaluation.EXCELLENT


def test_publish_only_drafts_that_have_not_started(world, now):
    draft = activities.create(world["organizer"], form(world, now), now=now)
    assert code_of(lambda: activities.publish(world["organizer"], draft.id,
                                              now=draft.starts_at + timedelta(minutes=1))) == "starts_in_the_past"
    assert activities.publish(world["organizer"], draft.id, now=now).status is ActivityStatus.PUBLISHED
    assert code_of(lambda: activities.publish(world["organizer"], draft.id, now=now)) == "not_a_draft"


def test_drafts_are_visible_only_to_their_organisers(world, now):
    draft = activities.create(world["organizer"], form(world, now), now=now)
    assert activities.visible(world["organizer"], draft.id).id == draft.id
    someone = f.account("sim_someone", now)
    assert code_of(lambda: activities.visible(someone, draft.id)) == "activity_not_found"


def test_search_filters(world, now):
    tree = world["tree"]
    near = f.activity(world["org"], tree["community"], now, title="近处", latitude=29.56, longitude=106.57,
                      themes=["空巢老人", "党员"])
    far = f.activity(world["org"], tree["other_community"], now, title="远处", latitude=30.5, longitude=107.5,
                     themes=["文明交通"], starts_in=timedelta(days=10))
    full = f.activity(world["org"], tree["community2"], now, title="满员", capacity=1, themes=["留守儿童"])
    full.seats_taken = 1
    f.activity(world["org"], tree["community"], now, title="草稿", status=ActivityStatus.DRAFT)

    def titles(**filters):
        rows, total = activities.search(activities.Filters(**filters), page=1, per_page=50)
        assert total == len(rows)
        return [a.title for a in rows]

    assert titles() == ["近处", "满员", "远处"]
    assert titles(region_id=tree["street"].id) == ["近处", "满员"]
    assert titles(region_id=tree["city"].id) == ["近处", "满员", "远处"]
    assert titles(theme="党员") == ["近处"]
    assert titles(theme="文明上网") == []
    assert titles(has_seats=True) == ["近处", "远处"]
    assert titles(near=(29.57, 106.58, 5)) == ["近处"]
    assert titles(starts_from=now + timedelta(days=5)) == ["远处"]
    assert titles(starts_until=now + timedelta(days=5)) == ["近处", "满员"]
    assert activities.distance_km(near, 29.57, 106.58) == pytest.approx(1.45, abs=0.1)
    assert activities.distance_km(full, 29.57, 106.58) is None
    assert far.id and near.id
