"""Announcements: the audience, what the organiser is told before sending, and a fan-out that resumes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.extensions import db
from app.services import broadcasts, group_robots, subscriptions
from models import (Announcement, AnnouncementStatus, MembershipStatus, Notification, NotificationChannel,
                    NotificationStatus, OfficialFollower, Signup, SignupStatus, TeamMembership, VolunteerStatus)
from tests import factories as f

TEMPLATE = "sim_tmpl_announcement"


def member(team, volunteer, now, status=MembershipStatus.ACTIVE):
    db.session.add(TeamMembership(team_id=team.id, volunteer_id=volunteer.id, status=status, created_at=now))
    db.session.flush()


@pytest.fixture
def world(app, app_context, now):
    world = f.World(now, team="应急救援队").build("tree", "org", "team", "other_team")
    tree, team, other_team = world.tree, world.team, world.other_team
    people = {
        # in the team, credit → subscribe message
        "credit": f.approved_volunteer("sim_credit", tree["community"], now, categories=["youth"], skills=["急救"]),
        # in the team, follows the official account → template message
        "follower": f.approved_volunteer("sim_follower", tree["community2"], now, categories=["elderly"], skills=[]),
        # in the team, neither → inbox only
        "inbox": f.approved_volunteer("sim_inbox", tree["community"], now, categories=["youth"], skills=["英语"]),
        # only in the other organisation's team
        "outsider": f.approved_volunteer("sim_outsider", tree["other_community"], now),
        # pending archive, in the team: not a recipient
        "pending": f.volunteer(f.account("sim_pending", now), tree["community"], now, status=VolunteerStatus.PENDING),
        # asked to join, not yet a member
        "applicant": f.approved_volunteer("sim_applicant", tree["community"], now),
    }
    for key in ("credit", "follower", "inbox", "pending"):
        member(team, people[key], now)
    member(team, people["applicant"], now, MembershipStatus.REQUESTED)
    member(other_team, people["outsider"], now)
    f.subscribe_credit(people["credit"].account, "announcement", now)
    follower_account = people["follower"].account
    follower_account.oa_openid = "oa_sim_follower"
    db.session.add(OfficialFollower(openid="oa_sim_follower", is_subscribed=True, subscribed_at=now))
    world["people"] = people
    world.build("organizer")
    db.session.commit()
    return world


def names(world, audience: broadcasts.Audience) -> set[str]:
    ids = {row.id for row in db.session.execute(broadcasts.recipients_query(audience))}
    return {key for key, person in world["people"].items() if person.id in ids}


def test_audiences_hold_approved_active_members_in_scope(world):
    org, team, tree = world["org"], world["team"], world["tree"]
    assert names(world, broadcasts.Audience("organization", org.id)) == {"credit", "follower", "inbox"}
    assert names(world, broadcasts.Audience("team", team.id)) == {"credit", "follower", "inbox"}
    assert names(world, broadcasts.Audience("region", tree["district"].id)) == {"credit", "follower", "inbox", "applicant"}
    assert names(world, broadcasts.Audience("region", tree["community2"].id)) == {"follower"}
    assert names(world, broadcasts.Audience("region", tree["city"].id)) == {
        "credit", "follower", "inbox", "applicant", "outsider"}


def test_category_and_skill_filters_match_any_listed_value(world):
    team = world["team"]
    assert names(world, broadcasts.Audience("team", team.id, categories=("youth",))) == {"credit", "inbox"}
    assert names(world, broadcasts.Audience("team", team.id, skills=("急救", "英语"))) == {"credit", "inbox"}
    assert names(world, broadcasts.Audience("team", team.id, categories=("youth",), skills=("英语",))) == {"inbox"}
    assert names(world, broadcasts.Audience("team", team.id, skills=("焊接",))) == set()


def test_activity_audience_is_its_sign_ups(world, now):
    activity = f.activity(world["org"], world["tree"]["community"], now)
    for key, status in (("credit", SignupStatus.APPROVED), ("inbox", SignupStatus.WAITLISTED),
                        ("follower", SignupStatus.CANCELLED)):
        db.session.add(Signup(activity_id=activity.id, volunteer_id=world["people"][key].id, status=status,
                              created_at=now, updated_at=now))
    db.session.flush()
    assert names(world, broadcasts.Audience("activity", activity.id)) == {"credit", "inbox"}


def test_preview_counts_who_only_the_inbox_reaches(world):
    reach = broadcasts.preview(broadcasts.Audience("team", world["team"].id))
    assert (reach.recipients, reach.unreachable) == (3, 1)


def fan_out(now, batch_size: int) -> int:
    """One fan-out batch as the worker runs it: its own unit of work."""
    with unit_of_work():
        return broadcasts.fan_out_next(now=now, batch_size=batch_size)


def queue(world, now, batch_audience=None) -> Announcement:
    announcement = Announcement(organization_id=world["org"].id, author_account_id=world["organizer"].id,
                                title="周末集合", body="周六 8 点在社区广场集合。",
                                audience=(batch_audience or broadcasts.Audience("team", world["team"].id)).as_dict(),
                                status=AnnouncementStatus.QUEUED, recipient_count=0, unreachable_count=0,
                                fanout_cursor=0, created_at=now)
    db.session.add(announcement)
    db.session.commit()
    return announcement


def test_fan_out_writes_one_row_per_recipient_on_the_right_channel(world, now):
    announcement = queue(world, now)
    while fan_out(now, 2):
        pass
    rows = {row.account_id: row for row in db.session.scalars(select(Notification))}
    people = world["people"]
    assert rows[people["credit"].account_id].channel is NotificationChannel.MINIPROGRAM_SUBSCRIBE
    assert rows[people["follower"].account_id].channel is NotificationChannel.OFFICIAL_TEMPLATE
    assert rows[people["inbox"].account_id].channel is NotificationChannel.INBOX
    assert rows[people["inbox"].account_id].status is NotificationStatus.SKIPPED
    assert len(rows) == 3
    db.session.refresh(announcement)
    assert announcement.status is AnnouncementStatus.FANNED_OUT
    assert (announcement.recipient_count, announcement.unreachable_count) == (3, 1)
    assert subscriptions.credits(people["credit"].account_id) == {TEMPLATE: 0}
    assert broadcasts.progress(announcement) == {
        "miniprogram_subscribe": {"queued": 1, "sent": 0, "failed": 0, "skipped": 0, "ambiguous": 0},
        "official_template": {"queued": 1, "sent": 0, "failed": 0, "skipped": 0, "ambiguous": 0},
        "inbox": {"queued": 0, "sent": 0, "failed": 0, "skipped": 1, "ambiguous": 0},
    }


def test_fan_out_resumes_at_its_cursor_and_never_writes_twice(world, now):
    announcement_id = queue(world, now).id
    assert fan_out(now, 2) == 2
    # A worker died here; the next one carries on from the committed cursor.
    db.session.remove()
    assert fan_out(now, 2) == 1
    assert fan_out(now, 2) == 0
    assert fan_out(now, 2) == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 3
    assert db.session.get(Announcement, announcement_id).recipient_count == 3


def test_a_re_run_of_a_batch_spends_no_second_credit(world, now):
    announcement = queue(world, now)
    while fan_out(now, 10):
        pass
    # Force the cursor back, as a bug or a manual re-run would: the keys stop a second row.
    announcement.status, announcement.fanout_cursor = AnnouncementStatus.QUEUED, 0
    subscriptions.grant(world["people"]["credit"].account_id, TEMPLATE, source="app", dedup_key="again",
                        granted_at=now, now=now)
    db.session.commit()
    fan_out(now, 10)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 3
    assert subscriptions.credits(world["people"]["credit"].account_id) == {TEMPLATE: 1}


def test_teams_with_a_robot_get_the_announcement_in_their_group_chat(app, world, now):
    group_robots.set_webhook(world["team"], "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
                             pii_key=app.extensions["settings"]["app"]["pii_key"])
    db.session.commit()

    class PassingGateway:
        def check_text_security(self, openid, content, scene=3):
            return "pass"

    draft = broadcasts.prepare(world["organizer"].id, world["org"].id, title="集合", body="周六集合",
                               audience=broadcasts.Audience("organization", world["org"].id), activity_id=None)
    db.session.commit()
    announcement, reach = broadcasts.create(world["organizer"].id, broadcasts.check_security(PassingGateway(), draft),
                                            now=now)
    db.session.commit()
    [post] = db.session.scalars(select(Notification).where(Notification.channel == NotificationChannel.WECOM_ROBOT))
    assert post.team_id == world["team"].id and post.announcement_id == announcement.id
    assert "周六集合" in post.payload["text"]
    assert reach.recipients == 3
