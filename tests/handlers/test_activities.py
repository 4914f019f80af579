"""Activities over HTTP: the organiser's flow, the volunteer's search, and who may do what."""

from __future__ import annotations

import pytest

from app.extensions import db
from models import Activity, ActivityStatus
from tests import factories as f


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        w = f.World(now, other_org="乙区协会").build("tree", "org", "team", "other_org")
        w["activity"] = w.add_activity(latitude=29.56, longitude=106.57)
        world = {"org_id": w.org.id, "team_id": w.team.id, "community_id": w.tree["community"].id,
                 "street_id": w.tree["street"].id, "activity_id": w.activity.id,
                 "headers": w.bearers("organizer", "captain", "other_organizer", "alice")}
        db.session.commit()
    return world


def new_activity(world, **extra):
    body = {"organization_id": world["org_id"], "region_id": world["community_id"], "title": "重阳敬老",
            "address": "一社区活动室", "starts_at": "2026-12-01T09:00:00+08:00", "ends_at": "2026-12-01T12:00:00+08:00",
            "capacity": 10, "themes": ["空巢老人"], "team_id": world["team_id"]}
    body.update(extra)
    return body


def test_organiser_creates_publishes_edits_and_cancels(client, world):
    headers = world["headers"]["organizer"]
    created = client.post("/api/v1/activities", json=new_activity(world), headers=headers)
    assert created.status_code == 201 and created.json["status"] == "draft"
    assert created.json["team"]["name"] == "医疗队" and created.json["seats_left"] == 10
    activity_id = created.json["id"]
    assert client.get(f"/api/v1/activities/{activity_id}", headers=world["headers"]["alice"]).status_code == 404
    published = client.post(f"/api/v1/activities/{activity_id}/publish", headers=headers)
    assert published.status_code == 200 and published.json["status"] == "published"
    patched = client.patch(f"/api/v1/activities/{activity_id}", json={"capacity": 12, "title": "重阳敬老·包饺子"},
                           headers=headers)
    assert patched.status_code == 200 and patched.json["capacity"] == 12
    cancelled = client.post(f"/api/v1/activities/{activity_id}/cancel", json={"reason": "场地维修"}, headers=headers)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "withdrawn"


def test_times_without_a_zone_are_refused(client, world):
    response = client.post("/api/v1/activities", json=new_activity(world, starts_at="2026-12-01T09:00:00"),
                           headers=world["headers"]["organizer"])
    assert response.status_code == 422 and "starts_at" in response.json["error"]["fields"]


def test_unknown_themes_and_fields_are_refused(client, world):
    headers = world["headers"]["organizer"]
    assert client.post("/api/v1/activities", json=new_activity(world, themes=["不存在的主题"]),
                       headers=headers).status_code == 422
    response = client.patch(f"/api/v1/activities/{world['activity_id']}", json={"seats_taken": 0}, headers=headers)
    assert response.status_code == 422


@pytest.mark.parametrize("who, status, code", [("captain", 403, "not_organizer"), ("alice", 403, "not_organizer"),
                                               ("other_organizer", 403, "not_organizer")])
def test_only_the_organiser_changes_an_activity(app, client, world, who, status, code):
    headers = world["headers"][who]
    url = f"/api/v1/activities/{world['activity_id']}"
    calls = [
        client.post("/api/v1/activities", json=new_activity(world), headers=headers),
        client.patch(url, json={"title": "被改了"}, headers=headers),
        client.post(f"{url}/cancel", json={"reason": "不想办了"}, headers=headers),
        client.post(f"{url}/evaluation", json={"evaluation": "excellent"}, headers=headers),
    ]
    assert [(r.status_code, r.json["error"]["code"]) for r in calls] == [(status, code)] * 4
    with app.app_context():
        activity = db.session.get(Activity, world["activity_id"])
        assert activity.title == "敬老院陪伴服务" and activity.status is ActivityStatus.PUBLISHED
        assert db.session.query(Activity).count() == 1


def test_volunteers_search_with_filters_and_distance(client, world):
    headers = world["headers"]["alice"]
    found = client.get(f"/api/v1/activities?region_id={world['street_id']}&theme=空巢老人&has_seats=true"
                       "&lat=29.57&lng=106.58&radius_km=5", headers=headers)
    assert found.status_code == 200 and found.json["total"] == 1
    [item] = found.json["items"]
    assert item["id"] == world["activity_id"] and item["distance_km"] == pytest.approx(1.45, abs=0.1)
    assert client.get("/api/v1/activities?theme=文明上网", headers=headers).json["total"] == 0
    half_point = client.get("/api/v1/activities?lat=29.57", headers=headers)
    assert half_point.status_code == 422


def test_every_activity_endpoint_needs_a_login(client, world):
    url = f"/api/v1/activities/{world['activity_id']}"
    responses = [client.get("/api/v1/activities"), client.get(url), client.post("/api/v1/activities", json={}),
                 client.patch(url, json={}), client.post(f"{url}/publish"), client.post(f"{url}/cancel", json={})]
    assert {r.status_code for r in responses} == {401}
