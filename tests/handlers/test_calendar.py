"""GET /api/v1/calendar and the local days admins add, over HTTP."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.extensions import db
from tests import factories as f


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now)
        world = {"district": w.tree["district"].id, "community": w.tree["community"].id,
                 "other_community": w.tree["other_community"].id,
                 "headers": w.bearers("admin", "other_admin", "volunteer")}
        db.session.commit()
    return world


def test_the_calendar_of_a_year_in_date_order(client, world):
    answer = client.get("/api/v1/calendar?year=2026")
    assert answer.status_code == 200 and answer.json["year"] == 2026
    days = {day["key"]: day for day in answer.json["days"]}
    assert (days["spring_festival"]["date"], days["qingming"]["date"], days["dragon_boat"]["date"],
            days["mid_autumn"]["date"], days["double_ninth"]["date"]) == (
        "2026-02-17", "2026-04-05", "2026-06-19", "2026-09-25", "2026-10-18")
    assert days["qingming"]["rule"] == "solar_term" and days["double_ninth"]["lead"] == "区卫生健康委"
    assert [day["date"] for day in answer.json["days"]] == sorted(day["date"] for day in answer.json["days"])


def test_the_default_year_is_this_year_in_shanghai(app, client, world):
    app.extensions["clock"] = lambda: datetime(2027, 12, 31, 16, 30, tzinfo=timezone.utc)  # 2028-01-01 00:30 local
    assert client.get("/api/v1/calendar").json["year"] == 2028


@pytest.mark.parametrize("query", ["year=1949", "year=2101", "year=abc", "region_id=0", "colour=red"])
def test_bad_queries_are_422(client, world, query):
    answer = client.get(f"/api/v1/calendar?{query}")
    assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_failed"


def test_an_unknown_region_is_404(client, world):
    answer = client.get("/api/v1/calendar?year=2026&region_id=999999")
    assert answer.status_code == 404 and answer.json["error"]["code"] == "region_not_found"


def test_local_days_added_and_removed_by_the_regions_admin_only(client, world):
    body = {"region_id": world["district"], "name": "桂花节", "month": 9, "day": 28, "theme": "社区文化志愿服务",
            "lead": "区文化和旅游局"}
    assert client.post("/api/v1/calendar/local-days", json=body).status_code == 401
    for who in ("other_admin", "volunteer"):
        refused = client.post("/api/v1/calendar/local-days", json=body, headers=world["headers"][who])
        assert refused.status_code == 403 and refused.json["error"]["code"] == "not_admin_of_region"
    bad = client.post("/api/v1/calendar/local-days", json={**body, "day": 31, "month": 9},
                      headers=world["headers"]["admin"])
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid_date"
    added = client.post("/api/v1/calendar/local-days", json=body, headers=world["headers"]["admin"])
    assert added.status_code == 201 and added.json["year"] is None
    key = f"local_{added.json['id']}"

    def keys(region):
        return {day["key"] for day in client.get(f"/api/v1/calendar?year=2027&region_id={region}").json["days"]}

    assert key in keys(world["community"]) and key not in keys(world["other_community"])
    url = f"/api/v1/calendar/local-days/{added.json['id']}"
    assert client.delete(url, headers=world["headers"]["other_admin"]).status_code == 403
    assert key in keys(world["community"])
    removed = client.delete(url, headers=world["headers"]["admin"])
    assert removed.status_code == 200 and removed.json["name"] == "桂花节"
    assert key not in keys(world["community"])
    assert client.delete(url, headers=world["headers"]["admin"]).status_code == 404
