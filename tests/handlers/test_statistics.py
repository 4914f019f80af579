"""GET /statistics: the shape, the window, and who may read which scope."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from models import ServiceRecord
from models.service_records import RecordKind
from tests import factories as f

# The cast is built at `now`; the API is asked an hour later (a registration counts before the cap).
LATER = timedelta(hours=1)


@pytest.fixture
def world(world, app):
    app.extensions["clock"] = lambda: world.now + LATER
    world.build("tree", "org", "other_org", "team", "other_team", "organizer", "other_organizer", "captain", "admin",
                "other_admin", "alice", "bob")
    tree, now = world.tree, world.now
    world["street_admin"] = f.admin("sim_street_admin", tree["street"], now)
    world["other_street_admin"] = f.admin("sim_other_street_admin", tree["other_street"], now)
    world["far"] = f.approved_volunteer("sim_far", tree["other_community"], now)
    past = world.add_activity(starts_in=timedelta(days=-3), themes=["党员"])
    far = f.activity(world.other_org, tree["other_community"], now, team_row=world.other_team, starts_in=timedelta(days=-2))
    db.session.add_all([
        ServiceRecord(volunteer_id=world.alice.id, activity_id=past.id, kind=RecordKind.ATTENDANCE, minutes=90,
                      created_at=past.ends_at),
        ServiceRecord(volunteer_id=world["far"].id, activity_id=far.id, kind=RecordKind.ATTENDANCE, minutes=30,
                      created_at=far.ends_at),
    ])
    db.session.commit()
    return world


def get(client, world, who, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.get(f"/api/v1/statistics?{query}", headers=f.bearer(world[who]))


def test_a_street_admin_reads_the_street(client, world):
    response = get(client, world, "street_admin", region_id=world.tree["street"].id)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["scope"]["kind"] == "region" and body["scope"]["region"]["name"] == "一街道"
    assert body["window"]["first_day"] == "2026-01-01" and body["window"]["last_day"] == "2026-12-31"
    assert body["volunteers"]["total"] == 2 and body["activities"]["total"] == 1
    assert body["hours"]["total_minutes"] == 90 and len(body["hours"]["by_month"]) == 12
    assert {line["label"]: line["count"] for line in body["volunteers"]["by_region"]} == {"一社区": 2, "二社区": 0}
    assert [line["label"] for line in body["hours"]["by_organization"]] == ["甲区志愿者协会"]


def test_a_window_and_an_organisation(client, world):
    body = get(client, world, "organizer", organization_id=world.org.id, **{"from": "2026-11-01", "until": "2026-11-30"}).json
    assert body["window"] == {"first_day": "2026-11-01", "last_day": "2026-11-30",
                              "as_of": "2026-11-23T03:00:00Z"}
    assert [line["month"] for line in body["activities"]["by_month"]] == ["2026-11"]
    assert body["activities"]["total"] == 1 and body["hours"]["total_minutes"] == 90
    assert body["teams"]["total"] == 1


@pytest.mark.parametrize("who, scope", [
    ("other_street_admin", "street"), ("street_admin", "other_street"), ("street_admin", "district"),
    ("other_admin", "district"), ("organizer", "district"), ("captain", "street"),
    ("other_organizer", "org"), ("captain", "org"), ("other_admin", "org"), ("street_admin", "org"),
])
def test_outsiders_are_refused(client, world, who, scope):
    params = {"organization_id": world.org.id} if scope == "org" else {"region_id": world.tree[scope].id}
    response = get(client, world, who, **params)
    assert response.status_code == 403, response.json
    assert response.json["error"]["code"] in ("not_admin_of_region", "not_organizer_or_admin")


@pytest.mark.parametrize("params, status, code", [
    ({}, 422, "region_or_organization_required"),
    ({"region_id": 1, "organization_id": 1}, 422, "region_or_organization_required"),
    ({"region_id": "street", "from": "2026-12-01", "until": "2026-11-30"}, 422, "invalid_date_range"),
    ({"region_id": "street", "from": "2024-01-01", "until": "2027-01-01"}, 422, "date_range_too_long"),
    ({"region_id": "street", "from": "2026-13-01"}, 422, "validation_failed"),
    ({"region_id": 2147483647}, 404, "region_not_found"),
    ({"organization_id": 2147483647}, 404, "organization_not_found"),
])
def test_bad_input(client, world, params, status, code):
    if params.get("region_id") == "street":
        params = {**params, "region_id": world.tree["street"].id}
    response = get(client, world, "admin", **params)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code


def test_signing_in_is_required(client, world):
    assert client.get(f"/api/v1/statistics?region_id={world.tree['street'].id}").status_code == 401
