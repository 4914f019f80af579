"""Announcements over HTTP: preview, checks before sending, progress; the inbox; subscription reports."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models import Announcement, MembershipStatus, Notification, TeamMembership
from tests import factories as f
from tests.fakes import deliver_all


@pytest.fixture
def world(app, app_context, now):
    app.extensions["clock"] = lambda: now
    world = f.World(now, team="应急救援队", other_org="乙区协会", other_organizer="sim_other")
    tree, team = world.tree, world.build("org").team
    volunteers = [f.approved_volunteer(f"sim_v{i}", tree["community"], now, categories=["youth"] if i % 2 else [])
                  for i in range(4)]
    for volunteer in volunteers:
        db.session.add(TeamMembership(team_id=team.id, volunteer_id=volunteer.id, status=MembershipStatus.ACTIVE,
                                      created_at=now))
    f.subscribe_credit(volunteers[0].account, "announcement", now)
    world["volunteers"] = volunteers
    world["stranger"] = world.build("organizer", "captain").other_organizer
    db.session.commit()
    return world


def body(world, **changes):
    payload = {"organization_id": world["org"].id, "audience": {"kind": "team", "id": world["team"].id},
               "title": "周末集合通知", "body": "周六上午 8 点在社区广场集合，请穿志愿者马甲。"}
    payload.update(changes)
    return payload


def test_preview_tells_recipients_and_who_only_the_inbox_reaches(client, world):
    response = client.post("/api/v1/announcements/preview", headers=f.bearer(world["organizer"]),
                           json={"organization_id": world["org"].id, "audience": {"kind": "team", "id": world["team"].id}})
    assert response.status_code == 200 and response.json == {"recipients": 4, "unreachable": 3}
    filtered = client.post("/api/v1/announcements/preview", headers=f.bearer(world["organizer"]), json={
        "organization_id": world["org"].id, "audience": {"kind": "team", "id": world["team"].id, "categories": ["youth"]}})
    assert filtered.json == {"recipients": 2, "unreachable": 2}


def test_send_then_deliver_then_progress_and_inbox(app, client, simulator, world, now):
    created = client.post("/api/v1/announcements", headers=f.bearer(world["organizer"]), json=body(world))
    assert created.status_code == 201, created.json
    assert created.json["status"] == "queued" and created.json["estimate"] == {"recipients": 4, "unreachable": 3}
    from app.db import unit_of_work
    from app.services import broadcasts

    with app.app_context():
        while True:
            with unit_of_work():  # each batch commits, as in the worker
                if not broadcasts.fan_out_next(now=now, batch_size=2):
                    break
    assert deliver_all(app, now) == {"sent": 1}
    progress = client.get(f"/api/v1/announcements/{created.json['id']}", headers=f.bearer(world["organizer"])).json
    assert progress["status"] == "fanned_out" and progress["recipients"] == 4 and progress["unreachable"] == 3
    assert progress["progress"]["miniprogram_subscribe"]["sent"] == 1
    assert progress["progress"]["inbox"]["skipped"] == 3
    [pushed] = simulator.messages(api="subscribe")
    assert pushed["touser"] == "sim_v0" and pushed["data"]["thing1"]["value"] == "周末集合通知"
    for volunteer in world["volunteers"]:
        inbox = client.get("/api/v1/me/messages", headers=f.bearer(volunteer.account)).json
        assert [m["title"] for m in inbox["messages"]] == ["周末集合通知"] and inbox["unread"] == 1
        assert "社区广场" in inbox["messages"][0]["text"]
    message_id = client.get("/api/v1/me/messages", headers=f.bearer(world["volunteers"][1].account)).json["messages"][0]["id"]
    read = client.post("/api/v1/me/messages/read", headers=f.bearer(world["volunteers"][1].account), json={"ids": [message_id]})
    assert read.json == {"marked": 1, "unread": 0}
    not_mine = client.post("/api/v1/me/messages/read", headers=f.bearer(world["volunteers"][2].account), json={"ids": [message_id]})
    assert not_mine.json == {"marked": 0, "unread": 1}


@pytest.mark.parametrize("changes, code, field", [
    ({"title": "   "}, "validation_failed", None),
    ({"body": "字" * 1001}, "invalid_announcement", "body"),
    ({"title": "标" * 21}, "validation_failed", None),
    ({"audience": {"kind": "everyone", "id": 1}}, "validation_failed", None),
    ({"audience": {"kind": "team", "id": 0}}, "validation_failed", None),
    ({"extra": 1}, "validation_failed", None),
])
def test_bad_announcements_are_refused_and_change_nothing(client, simulator, world, changes, code, field):
    response = client.post("/api/v1/announcements", headers=f.bearer(world["organizer"]), json=body(world, **changes))
    assert response.status_code == 422 and response.json["error"]["code"] == code
    if field:
        assert field in response.json["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(Announcement)) == 0


def test_content_wechat_calls_risky_is_refused(client, simulator, world):
    response = client.post("/api/v1/announcements", headers=f.bearer(world["organizer"]),
                           json=body(world, body="周六有赌博活动"))
    assert response.status_code == 422 and response.json["error"]["code"] == "content_rejected"
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_without_the_content_check_nothing_is_sent(client, world):
    # No simulator: WeChat cannot be reached.
    response = client.post("/api/v1/announcements", headers=f.bearer(world["organizer"]), json=body(world))
    assert response.status_code == 503 and response.json["error"]["code"] == "content_check_unavailable"
    assert db.session.scalar(select(func.count()).select_from(Announcement)) == 0


@pytest.mark.parametrize("who, audience, status, code", [
    ("captain", "team", 403, "not_organizer"),
    ("stranger", "team", 403, "not_organizer"),
    ("organizer", "other_district", 403, "audience_outside_organization"),
    ("organizer", "missing_team", 404, "team_not_found"),
])
def test_only_organisers_send_and_only_inside_their_organisation(client, simulator, world, who, audience, status, code):
    target = {"team": {"kind": "team", "id": world["team"].id},
              "other_district": {"kind": "region", "id": world["tree"]["other_district"].id},
              "missing_team": {"kind": "team", "id": 999999}}[audience]
    response = client.post("/api/v1/announcements", headers=f.bearer(world[who]), json=body(world, audience=target))
    assert response.status_code == status and response.json["error"]["code"] == code


def test_an_empty_audience_is_refused(client, simulator, world):
    response = client.post("/api/v1/announcements", headers=f.bearer(world["organizer"]), json=body(
        world, audience={"kind": "team", "id": world["team"].id, "skills": ["无人会的技能"]}))
    assert response.status_code == 422 and response.json["error"]["code"] == "empty_audience"


def test_progress_is_for_the_organisation_only(client, simulator, world):
    created = client.post("/api/v1/announcements", headers=f.bearer(world["organizer"]), json=body(world)).json
    assert client.get(f"/api/v1/announcements/{created['id']}", headers=f.bearer(world["stranger"])).status_code == 403
    assert client.get("/api/v1/announcements/424242", headers=f.bearer(world["organizer"])).status_code == 404


# --- subscription reports and the group robot ---------------------------------------------------------

def test_subscription_reports_add_credits_once(client, world):
    headers = f.bearer(world["volunteers"][1].account)
    report = {"report_id": "tap-000123", "results": {"sim_tmpl_announcement": "accept",
                                                      "sim_tmpl_activity_reminder": "reject"}}
    first = client.post("/api/v1/me/subscriptions", headers=headers, json=report)
    assert first.status_code == 200 and first.json["added"] == 1
    again = client.post("/api/v1/me/subscriptions", headers=headers, json=report)
    assert again.json == {"added": 0, "credits": {"sim_tmpl_announcement": 1}}


@pytest.mark.parametrize("report, code", [
    ({"report_id": "tap-000124", "results": {"someone_elses_template": "accept"}}, "unknown_template"),
    ({"report_id": "short", "results": {"sim_tmpl_announcement": "accept"}}, "validation_failed"),
    ({"report_id": "tap-000125", "results": {"sim_tmpl_announcement": "yes"}}, "validation_failed"),
    ({"report_id": "tap-000126", "results": {}}, "validation_failed"),
])
def test_bad_subscription_reports_are_refused(client, world, report, code):
    response = client.post("/api/v1/me/subscriptions", headers=f.bearer(world["volunteers"][1].account), json=report)
    assert response.status_code == 422 and response.json["error"]["code"] == code


def test_captains_connect_the_group_robot_and_the_key_never_comes_back(client, world):
    url = f"/api/v1/teams/{world['team'].id}/group-robot"
    key = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    connected = client.put(url, headers=f.bearer(world["captain"]), json={"webhook_key": key})
    assert connected.status_code == 200 and connected.json == {"team_id": world["team"].id, "connected": True}
    assert "693a91f6" not in connected.get_data(as_text=True)
    bad = client.put(url, headers=f.bearer(world["captain"]), json={"webhook_key": "not a key"})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid_webhook_key"
    assert client.put(url, headers=f.bearer(world["stranger"]), json={"webhook_key": key}).status_code == 403
    removed = client.put(url, headers=f.bearer(world["organizer"]), json={"webhook_key": None})
    assert removed.json["connected"] is False
