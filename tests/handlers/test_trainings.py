"""GET /api/v1/trainings/compliance: who may ask about which scope, and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.extensions import db
from models import ActivityKind, TeamKind
from tests import factories as f

URL = "/api/v1/trainings/compliance"


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now).build("tree", "org", "other_org")
        org, tree = w.org, w.tree
        medical = f.team(org, "医疗队", now, TeamKind.MEDICAL)
        f.team(org, "消防队", now, TeamKind.FIRE)
        f.activity(org, tree["community"], datetime(2026, 11, 10, 1, 0, tzinfo=timezone.utc), starts_in=timedelta(0),
                   team_row=medical, kind=ActivityKind.TRAINING, title="急救培训")
        w["district_admin"] = f.admin("sim_district", tree["district"], now)
        w["other_admin"] = f.admin("sim_other", tree["other_district"], now)
        world = {"district": tree["district"].id, "org": org.id, "medical": medical.id,
                 "headers": w.bearers("district_admin", "other_admin", "organizer", "other_organizer", "volunteer")}
        db.session.commit()
    return world


def test_an_admin_sees_the_region_and_an_organiser_the_organisation(client, world):
    answer = client.get(f"{URL}?year=2026&quarter=4&region_id={world['district']}",
                        headers=world["headers"]["district_admin"])
    assert answer.status_code == 200
    body = answer.json
    assert (body["year"], body["quarter"], body["starts_on"], body["ends_on"]) == (2026, 4, "2026-10-01", "2026-12-31")
    assert [(t["name"], t["trained"]) for t in body["teams"]] == [("医疗队", True), ("消防队", False)]
    assert body["teams"][0]["trainings"][0]["title"] == "急救培训" and body["teams"][0]["kind_label"] == "医疗卫生"
    assert [(s["name"], s["trained"]) for s in body["streets"]] == [("一街道", True)]
    assert body["summary"] == {"teams": 2, "teams_trained": 1, "streets": 1, "streets_trained": 1}

    mine = client.get(f"{URL}?year=2026&quarter=4&organization_id={world['org']}", headers=world["headers"]["organizer"])
    assert mine.status_code == 200 and mine.json["summary"]["teams"] == 2 and mine.json["streets"] == []


def test_the_current_quarter_is_the_default(app, client, world):
    app.extensions["clock"] = lambda: datetime(2026, 8, 1, 2, 0, tzinfo=timezone.utc)
    answer = client.get(f"{URL}?region_id={world['district']}", headers=world["headers"]["district_admin"])
    assert answer.status_code == 200 and (answer.json["year"], answer.json["quarter"]) == (2026, 3)
    assert answer.json["summary"]["teams_trained"] == 0


@pytest.mark.parametrize("who, query, status, code", [
    (None, "region_id={district}", 401, "missing_token"),
    ("other_admin", "region_id={district}", 403, "not_admin_of_region"),
    ("organizer", "region_id={district}", 403, "not_admin_of_region"),
    ("volunteer", "region_id={district}", 403, "not_admin_of_region"),
    ("other_organizer", "organization_id={org}", 403, "not_organizer_or_admin"),
    ("other_admin", "organization_id={org}", 403, "not_organizer_or_admin"),
    ("district_admin", "region_id=999999", 404, "region_not_found"),
    ("organizer", "organization_id=999999", 404, "organization_not_found"),
    ("district_admin", "", 422, "region_or_organization_required"),
    ("district_admin", "region_id={district}&organization_id={org}", 422, "region_or_organization_required"),
    ("district_admin", "region_id={district}&year=2026", 422, "year_and_quarter_together"),
    ("district_admin", "region_id={district}&year=2026&quarter=5", 422, "validation_failed"),
    ("district_admin", "region_id={district}&year=1900&quarter=1", 422, "validation_failed"),
    ("district_admin", "region_id=abc&year=2026&quarter=1", 422, "validation_failed"),
    ("district_admin", "region_id={district}&unknown=1", 422, "validation_failed"),
])
def test_refusals_have_stable_codes(client, world, who, query, status, code):
    headers = world["headers"][who] if who else {}
    answer = client.get(f"{URL}?{query.format(district=world['district'], org=world['org'])}", headers=headers)
    assert (answer.status_code, answer.json["error"]["code"]) == (status, code)
