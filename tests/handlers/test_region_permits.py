"""Over HTTP: activities stay in the organisation's region unless an admin above both permits another."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models import Activity, RegionPermit
from tests import factories as f


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        w = f.World(now, city_admin="sim_city")
        w["org"] = f.organization("一街道志愿者协会", w.tree["street"], now)
        w.build("organizer", "city_admin")
        w["district_admin"] = f.admin("sim_district", w.tree["district"], now)
        world = {"org": w.org.id, "other_street": w.tree["other_street"].id,
                 "other_community": w.tree["other_community"].id,
                 "headers": w.bearers("organizer", "city_admin", "district_admin")}
        db.session.commit()
    return world


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_a_permit_lets_an_organisation_hold_activities_in_another_street(app, client, world):
    activity = {"organization_id": world["org"], "region_id": world["other_community"], "title": "季度培训",
                "address": "三社区活动室", "starts_at": "2026-12-01T09:00:00+08:00",
                "ends_at": "2026-12-01T12:00:00+08:00", "capacity": 10, "themes": ["空巢老人"], "kind": "training"}
    refused = client.post("/api/v1/activities", json=activity, headers=world["headers"]["organizer"])
    assert refused.status_code == 422 and refused.json["error"]["code"] == "region_outside_organization"
    assert refused.json["error"]["fields"] == {"region_id": "需在本组织所在地区内"}
    assert count(app, Activity) == 0

    url = f"/api/v1/organizations/{world['org']}/region-permits"
    body = {"region_id": world["other_street"], "reason": "两街道联合培训"}
    for who in ("organizer", "district_admin"):
        denied = client.post(url, json=body, headers=world["headers"][who])
        assert denied.status_code == 403 and denied.json["error"]["code"] == "not_admin_of_both_regions"
    assert client.post(url, json={"region_id": world["other_street"]},
                       headers=world["headers"]["city_admin"]).status_code == 422
    assert count(app, RegionPermit) == 0
    granted = client.post(url, json=body, headers=world["headers"]["city_admin"])
    assert granted.status_code == 201 and granted.json["region_id"] == world["other_street"]
    listed = client.get(url, headers=world["headers"]["organizer"])
    assert listed.status_code == 200 and [p["region_id"] for p in listed.json["items"]] == [world["other_street"]]
    assert client.post("/api/v1/activities", json=activity, headers=world["headers"]["organizer"]).status_code == 201

    revoked = client.delete(f"{url}/{world['other_street']}", headers=world["headers"]["city_admin"])
    assert revoked.status_code == 200 and count(app, RegionPermit) == 0
    assert client.delete(f"{url}/{world['other_street']}", headers=world["headers"]["city_admin"]).status_code == 404
    again = client.post("/api/v1/activities", json=activity, headers=world["headers"]["organizer"])
    assert again.status_code == 422 and count(app, Activity) == 1
