"""An organisation's activities in every state, an activity's attendance sheet, the announcements' history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models import (ActivityStatus, Announcement, AnnouncementStatus, Checkin, CheckinMethod, Notification,
                    NotificationChannel, NotificationStatus, ServiceRecord, Signup, SignupStatus)
from tests import factories as f


@pytest.fixture
def world(world, app):
    app.extensions["clock"] = lambda: world.now
    world.build("tree", "org", "other_org", "team", "other_team", "organizer", "other_organizer", "captain",
                "other_captain", "admin", "other_admin", "city_admin", "alice", "bob")
    now, org, community = world.now, world.org, world.tree["community"]
    world["second_team"] = f.team(org, "二队", now)
    world["second_captain"] = f.captain("sim_second_captain", world["second_team"], now)
    world["street_admin"] = f.admin("sim_street_admin", world.tree["other_street"], now)
    world["draft"] = world.add_activity(status=ActivityStatus.DRAFT, title="草稿活动", starts_in=timedelta(days=3))
    world["soon"] = world.add_activity(title="明天的活动")
    world["running"] = world.add_activity(title="进行中的活动", starts_in=timedelta(hours=-1))
    world["over"] = world.add_activity(title="结束的活动", starts_in=timedelta(days=-2))
    world["called_off"] = f.activity(org, community, now, team_row=world["second_team"], title="取消的活动",
                                     status=ActivityStatus.CANCELLED, starts_in=timedelta(days=5))
    world["elsewhere"] = f.activity(world.other_org, world.tree["other_community"], now, team_row=world.other_team,
                                    title="乙区活动")
    db.session.add_all([
        Signup(activity_id=world["soon"].id, volunteer_id=world.alice.id, status=SignupStatus.APPROVED,
               created_at=now, updated_at=now),
        Signup(activity_id=world["soon"].id, volunteer_id=world.bob.id, status=SignupStatus.PENDING,
               created_at=now, updated_at=now),
    ])
    db.session.commit()
    return world


def titles(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["title"] for item in response.json["items"]]


def test_organisers_see_every_state_with_counts_and_the_clock_moves_the_status(client, world):
    url = f"/api/v1/organizations/{world.org.id}/activities"
    page = client.get(url, headers=f.bearer(world["organizer"]))
    assert titles(page) == ["取消的活动", "草稿活动", "明天的活动", "进行中的活动", "结束的活动"]
    assert page.json["total"] == 5 and page.json["next_cursor"] is None
    assert page.json["counts"] == {"draft": 1, "published": 1, "ongoing": 1, "finished": 1, "evaluated": 0,
                                   "withdrawn": 0, "cancelled": 1}
    by_title = {item["title"]: item for item in page.json["items"]}
    assert by_title["进行中的活动"]["status"] == "ongoing" and by_title["结束的活动"]["status"] == "finished"
    soon = by_title["明天的活动"]
    assert (soon["signed_up"], soon["pending"], soon["checked_in"]) == (1, 1, 0)
    assert soon["team"] == {"id": world.team.id, "name": world.team.name}
    assert titles(client.get(url + "?status=ongoing", headers=f.bearer(world["organizer"]))) == ["进行中的活动"]
    assert titles(client.get(url + "?status=finished", headers=f.bearer(world["organizer"]))) == ["结束的活动"]
    assert titles(client.get(url + "?q=取消", headers=f.bearer(world["organizer"]))) == ["取消的活动"]
    filtered = client.get(url + f"?team_id={world['second_team'].id}", headers=f.bearer(world["organizer"]))
    assert titles(filtered) == ["取消的活动"] and filtered.json["counts"]["cancelled"] == 1
    assert filtered.json["counts"]["published"] == 0


def test_pages_by_cursor_and_time_window(client, world, now):
    url = f"/api/v1/organizations/{world.org.id}/activities?limit=2&sort=starts_at"
    seen, cursor = [], None
    while True:
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=f.bearer(world["organizer"]))
        seen += titles(page)
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    assert seen == ["结束的活动", "进行中的活动", "明天的活动", "草稿活动", "取消的活动"]
    since = (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    window = client.get(f"/api/v1/organizations/{world.org.id}/activities?starts_from={since}&sort=starts_at",
                        headers=f.bearer(world["organizer"]))
    assert titles(window) == ["明天的活动", "草稿活动", "取消的活动"]


def test_captains_see_their_teams_and_admins_everything_but_drafts(client, world):
    url = f"/api/v1/organizations/{world.org.id}/activities"
    assert titles(client.get(url, headers=f.bearer(world["captain"]))) == ["明天的活动", "进行中的活动", "结束的活动"]
    captain_counts = client.get(url, headers=f.bearer(world["captain"])).json["counts"]
    assert "draft" not in captain_counts and captain_counts["cancelled"] == 0
    assert titles(client.get(url, headers=f.bearer(world["second_captain"]))) == ["取消的活动"]
    for admin in ("admin", "city_admin"):
        assert "草稿活动" not in titles(client.get(url, headers=f.bearer(world[admin])))
    assert titles(client.get(url + "?status=draft", headers=f.bearer(world["captain"]))) == []


@pytest.mark.parametrize("who", ["other_organizer", "other_captain", "other_admin", "street_admin", "alice"])
def test_outsiders_cannot_list_an_organisations_activities(client, world, who):
    caller = world[who].account if who == "alice" else world[who]
    response = client.get(f"/api/v1/organizations/{world.org.id}/activities", headers=f.bearer(caller))
    assert response.status_code == 403 and response.json["error"]["code"] == "not_organizer_or_admin"
    assert client.get("/api/v1/organizations/999999/activities", headers=f.bearer(caller)).status_code == 404


def test_the_attendance_sheet(client, world, now):
    held = world.add_attended_activity()  # alice: in and out by the captain, 60 minutes
    db.session.add(Signup(activity_id=held.id, volunteer_id=world.bob.id, status=SignupStatus.APPROVED,
                          created_at=now + timedelta(seconds=1), updated_at=now))
    db.session.flush()
    db.session.add(Checkin(activity_id=held.id, volunteer_id=world.bob.id, checked_in_at=held.starts_at,
                           checkin_method=CheckinMethod.MANUAL, checked_out_at=held.ends_at,
                           checkout_method=CheckinMethod.AUTO_CLOSE, needs_review=True))
    db.session.commit()
    for who in ("organizer", "captain"):
        response = client.get(f"/api/v1/activities/{held.id}/attendance", headers=f.bearer(world[who]))
        assert response.status_code == 200, response.json
    sheet = response.json
    alice, bob = sheet["items"]
    assert alice["volunteer"]["name"] == "张*丰" and alice["volunteer"]["mobile"] == "139****5678"
    assert alice["signup_status"] == "approved" and alice["service_minutes"] == 60
    assert alice["checked_in_at"] and alice["checked_out_at"] and alice["flags"] == ["unconfirmed"]
    assert bob["flags"] == ["needs_review", "forgotten_checkout"] and bob["checkout_method"] == "auto_close"
    totals = sheet["totals"]
    assert (totals["signups"], totals["checked_in"], totals["checked_out"], totals["needs_review"],
            totals["service_minutes"]) == (2, 2, 2, 1, 60)
    # Each line names the attendance record a correction points at; none before the check-out wrote one.
    record_id = db.session.scalar(select(ServiceRecord.id).where(ServiceRecord.activity_id == held.id,
                                                                 ServiceRecord.volunteer_id == world.alice.id))
    assert alice["record_id"] == record_id and bob["record_id"] is None
    corrected = client.post(f"/api/v1/service-records/{alice['record_id']}/corrections",
                            json={"minutes_delta": 30, "reason": "补记", "nonce": "fix-attendance-1"},
                            headers=f.bearer(world["organizer"]))
    assert corrected.status_code == 201, corrected.json
    again = client.get(f"/api/v1/activities/{held.id}/attendance", headers=f.bearer(world["organizer"])).json
    # The correction is a new entry: the line still names the attendance record, with the minutes moved.
    assert again["items"][0]["record_id"] == record_id and again["items"][0]["service_minutes"] == 90


def test_the_sheet_shows_no_shows_once_the_activity_is_over(client, world):
    over = world["over"]
    db.session.add(Signup(activity_id=over.id, volunteer_id=world.alice.id, status=SignupStatus.APPROVED,
                          created_at=world.now, updated_at=world.now))
    db.session.commit()
    sheet = client.get(f"/api/v1/activities/{over.id}/attendance", headers=f.bearer(world["organizer"])).json
    assert sheet["items"][0]["flags"] == ["no_show"] and sheet["totals"]["no_show"] == 1
    assert sheet["items"][0]["record_id"] is None


@pytest.mark.parametrize("who, status", [("other_organizer", 403), ("other_captain", 403), ("second_captain", 403),
                                         ("admin", 403), ("street_admin", 403), ("alice", 403)])
def test_outsiders_cannot_read_the_sheet(client, world, who, status):
    caller = world[who].account if who == "alice" else world[who]
    response = client.get(f"/api/v1/activities/{world['soon'].id}/attendance", headers=f.bearer(caller))
    assert response.status_code == status and response.json["error"]["code"] == "not_activity_manager"
    # A draft is not found for anyone but the organisers.
    draft = client.get(f"/api/v1/activities/{world['draft'].id}/attendance", headers=f.bearer(caller))
    assert draft.status_code == 404


def _announcement(world, title, minutes, states):
    row = Announcement(organization_id=world.org.id, author_account_id=world["organizer"].id, title=title, body="正文",
                       audience={"kind": "organization", "id": world.org.id, "categories": [], "skills": []},
                       status=AnnouncementStatus.FANNED_OUT, recipient_count=len(states), unreachable_count=1,
                       created_at=world.now + timedelta(minutes=minutes))
    db.session.add(row)
    db.session.flush()
    for index, (channel, state) in enumerate(states):
        db.session.add(Notification(idempotency_key=f"announcement:{row.id}:{index}", account_id=world.alice.account_id,
                                    kind="announcement", channel=channel, payload={}, status=state,
                                    announcement_id=row.id, next_attempt_at=world.now, created_at=world.now))
    db.session.flush()
    return row


def test_the_announcements_history_with_progress_per_channel(client, world):
    subscribe, inbox = NotificationChannel.MINIPROGRAM_SUBSCRIBE, NotificationChannel.INBOX
    _announcement(world, "第一条", 1, [(subscribe, NotificationStatus.SENT), (subscribe, NotificationStatus.FAILED),
                                       (inbox, NotificationStatus.SKIPPED)])
    _announcement(world, "第二条", 2, [(subscribe, NotificationStatus.PENDING)])
    _announcement(world, "第三条", 3, [])
    db.session.commit()
    url = f"/api/v1/organizations/{world.org.id}/announcements?limit=2"
    first = client.get(url, headers=f.bearer(world["organizer"]))
    assert titles(first) == ["第三条", "第二条"] and first.json["total"] == 3
    assert first.json["items"][1]["progress"]["miniprogram_subscribe"]["queued"] == 1
    second = client.get(url + f"&cursor={first.json['next_cursor']}", headers=f.bearer(world["admin"]))
    assert titles(second) == ["第一条"] and second.json["next_cursor"] is None
    progress = second.json["items"][0]["progress"]
    assert progress["miniprogram_subscribe"]["sent"] == 1 and progress["miniprogram_subscribe"]["failed"] == 1
    assert progress["inbox"]["skipped"] == 1
    assert second.json["items"][0]["audience"]["kind"] == "organization"


@pytest.mark.parametrize("who", ["other_organizer", "captain", "other_admin", "street_admin", "alice"])
def test_outsiders_cannot_read_the_announcements(client, world, who):
    _announcement(world, "第一条", 1, [])
    db.session.commit()
    caller = world[who].account if who == "alice" else world[who]
    response = client.get(f"/api/v1/organizations/{world.org.id}/announcements", headers=f.bearer(caller))
    assert response.status_code == 403 and response.json["error"]["code"] == "not_organizer_or_admin"
    assert db.session.scalar(select(func.count()).select_from(Announcement)) == 1
