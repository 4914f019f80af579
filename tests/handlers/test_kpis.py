"""The KPI API: shape, defaults, scope (admins their subtree, organisers their organisation), bad input."""

from __future__ import annotations

import pytest

from app.extensions import db
from tests import factories as f


@pytest.fixture
def world(world, app):
    app.extensions["clock"] = lambda: world.now
    world.build("tree", "org", "other_org", "organizer", "other_organizer", "admin", "city_admin", "alice")
    world["street_admin"] = f.admin("sim_street_admin", world.tree["street"], world.now)
    world["other_street_admin"] = f.admin("sim_other_street_admin", world.tree["other_street"], world.now)
    db.session.commit()
    return world


def get(client, world, who, url):
    return client.get(url, headers=world.bearers(who)[who])


def test_kpis_default_to_the_callers_top_region_and_the_current_month(client, world):
    answer = get(client, world, "city_admin", "/api/v1/kpis?children=true")
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["region"]["id"] == world.tree["city"].id and body["period"] == "2026-11"
    first = body["figures"][0]
    assert {"key", "label", "unit", "value", "numerator", "denominator", "target", "yellow_band", "status",
            "details", "trend"} <= first.keys()
    assert len(first["trend"]) == 12
    assert {row["region"]["id"] for row in body["children"]} == {world.tree["district"].id,
                                                                  world.tree["other_district"].id}


@pytest.mark.parametrize("who, region, status", [
    ("street_admin", "street", 200), ("street_admin", "community", 200), ("street_admin", "other_street", 403),
    ("street_admin", "district", 403), ("admin", "street", 200), ("organizer", "street", 403),
    ("alice", "community", 403),
])
def test_admins_see_their_subtree_only(client, world, who, region, status):
    answer = get(client, world, who, f"/api/v1/kpis?region_id={world.tree[region].id}&period=2026-Q4")
    assert answer.status_code == status
    if status == 403:
        assert answer.json["error"]["code"] == "not_admin_of_region"


@pytest.mark.parametrize("query, status, code", [
    ("period=2026-13", 422, "invalid_period"), ("period=garbage", 422, "invalid_period"),
    ("region_id=999999", 404, "region_not_found"), ("region_id=0", 422, "validation_failed"),
])
def test_bad_periods_and_regions_get_stable_codes(client, world, query, status, code):
    answer = get(client, world, "city_admin", f"/api/v1/kpis?{query}")
    assert (answer.status_code, answer.json["error"]["code"]) == (status, code)


def test_catalogue_and_targets_put_and_delete(client, world):
    street = world.tree["street"].id
    put = client.put(f"/api/v1/regions/{world.tree['district'].id}/kpi-targets/registration_rate",
                     json={"target": 15, "yellow_band": 2, "nonce": "target-001"}, headers=f.bearer(world.admin))
    assert put.status_code == 200, put.json
    catalogue = get(client, world, "street_admin", f"/api/v1/kpi-catalogue?region_id={street}").json
    item = next(i for i in catalogue["items"] if i["key"] == "registration_rate")
    assert (item["target"], item["source"]["id"], item["default_target"]) == (15, world.tree["district"].id, 13)
    # The street admin may not change the district's target, nor an unknown indicator.
    refused = client.put(f"/api/v1/regions/{world.tree['district'].id}/kpi-targets/registration_rate",
                         json={"target": 1, "yellow_band": 1, "nonce": "target-002"},
                         headers=f.bearer(world["street_admin"]))
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "not_admin_of_region")
    unknown = client.put(f"/api/v1/regions/{street}/kpi-targets/nothing",
                         json={"target": 1, "yellow_band": 1, "nonce": "target-003"},
                         headers=f.bearer(world["street_admin"]))
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "kpi_not_found")
    deleted = client.delete(f"/api/v1/regions/{world.tree['district'].id}/kpi-targets/registration_rate",
                            headers=f.bearer(world.admin))
    assert deleted.status_code == 200 and deleted.json["source"] is None and deleted.json["target"] == 13


@pytest.mark.parametrize("who, status", [("organizer", 200), ("admin", 200), ("city_admin", 200),
                                         ("other_organizer", 403), ("street_admin", 403), ("alice", 403)])
def test_organisation_figures_for_its_organisers_and_the_admins_above(client, world, who, status):
    answer = get(client, world, who, f"/api/v1/organizations/{world.org.id}/kpis?period=2026")
    assert answer.status_code == status
    if status == 200:
        assert answer.json["period"] == "2026" and "volunteers_served" in answer.json
