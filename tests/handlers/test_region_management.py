"""Admins manage the region tree below them through the HTTP API: add, rename, retire, populations per year."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from models import AuditLog, Region
from tests import factories as f
from tests.handlers.test_organizations import snapshot


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        w = f.World(now)
        w.build("org", "organizer", "captain", "other_org", "other_organizer", "admin", "other_admin", "city_admin",
                "alice")
        w["street_admin"] = f.admin("sim_street_admin", w.tree["street"], now)
        w["other_street_admin"] = f.admin("sim_other_street_admin", w.tree["other_street"], now)
        world = {"tree": {name: region.id for name, region in w.tree.items()}, "org_id": w.org.id,
                 "headers": w.bearers("organizer", "captain", "other_organizer", "admin", "other_admin", "city_admin",
                                      "volunteer", "street_admin", "other_street_admin")}
        world["headers"]["anonymous"] = {}
        db.session.commit()
    return world


def ids(node) -> list:
    return [node["name"], [ids(child) for child in node["children"]]] if node["children"] else node["name"]


def test_an_admin_reads_the_subtree_with_a_years_populations(client, world):
    headers = world["headers"]["admin"]
    street = world["tree"]["street"]
    assert client.put(f"/api/v1/regions/{street}/populations/2025", json={"population": 51000},
                      headers=headers).status_code == 200
    response = client.get(f"/api/v1/regions/{world['tree']['district']}/tree?year=2025", headers=headers)
    assert response.status_code == 200, response.json
    root = response.json["root"]
    assert response.json["year"] == 2025 and ids(root) == ["甲区", [["一街道", ["一社区", "二社区"]]]]
    [street_node] = root["children"]
    assert (street_node["population"], street_node["retired"], street_node["level"]) == (51000, False, "street")
    assert root["population"] is None
    this_year = client.get(f"/api/v1/regions/{street}/tree", headers=headers).json
    assert this_year["year"] == 2026 and this_year["root"]["population"] is None


def test_an_admin_adds_children_with_generated_or_given_codes(app, client, world):
    headers = world["headers"]["admin"]
    street = world["tree"]["street"]
    added = client.post("/api/v1/regions", json={"parent_id": street, "name": "三社区"}, headers=headers)
    assert added.status_code == 201, added.json
    assert (added.json["code"], added.json["level"], added.json["parent_id"]) == ("T2003", "community", street)
    given = client.post("/api/v1/regions", json={"parent_id": world["tree"]["district"], "name": "五街道",
                                                "code": "T9"}, headers=headers)
    assert given.status_code == 201 and (given.json["code"], given.json["level"]) == ("T9", "street")
    public = client.get(f"/api/v1/regions?parent_id={street}").json["items"]
    assert sorted(r["name"] for r in public) == sorted(["一社区", "二社区", "三社区"])
    with app.app_context():
        entry = db.session.scalar(select(AuditLog).order_by(AuditLog.id))
        region = db.session.get(Region, added.json["id"])
        assert (entry.action, entry.target_id, entry.region_path) == ("region.added", region.id, region.path)


@pytest.mark.parametrize("body_of, status, code", [
    (lambda t: {"parent_id": t["community"], "name": "小组"}, 422, "region_level_exhausted"),
    (lambda t: {"parent_id": t["street"], "name": "一社区"}, 409, "region_name_taken"),
    (lambda t: {"parent_id": t["street"], "name": "新社区", "code": "T3"}, 409, "region_code_taken"),
    (lambda t: {"parent_id": 424242, "name": "新社区"}, 404, "region_not_found"),
    (lambda t: {"parent_id": t["street"], "name": "新社区", "code": "T-3"}, 422, "validation_failed"),
])
def test_bad_additions_are_refused(app, client, world, body_of, status, code):
    before = snapshot(app)
    response = client.post("/api/v1/regions", json=body_of(world["tree"]), headers=world["headers"]["city_admin"])
    assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert snapshot(app) == before


def test_rename_below_ones_own_region(app, client, world):
    response = client.patch(f"/api/v1/regions/{world['tree']['community']}", json={"name": "一社区（新）"},
                            headers=world["headers"]["street_admin"])
    assert response.status_code == 200 and response.json["name"] == "一社区（新）"
    clash = client.patch(f"/api/v1/regions/{world['tree']['community']}", json={"name": "二社区"},
                         headers=world["headers"]["street_admin"])
    assert (clash.status_code, clash.json["error"]["code"]) == (409, "region_name_taken")
    own = client.patch(f"/api/v1/regions/{world['tree']['street']}", json={"name": "改名街道"},
                       headers=world["headers"]["street_admin"])
    assert (own.status_code, own.json["error"]["code"]) == (403, "not_admin_of_region")
    with app.app_context():
        assert db.session.scalar(select(AuditLog.detail)) == {"old_name": "一社区", "new_name": "一社区（新）"}


def test_retire_only_what_nothing_active_hangs_below(app, client, world):
    headers = world["headers"]["admin"]
    for name, expected in (("street", {"children": 2, "organizations": 0, "volunteers": 0}),
                           ("community", {"children": 0, "organizations": 0, "volunteers": 1}),
                           ("district", None)):
        response = client.post(f"/api/v1/regions/{world['tree'][name]}/retire", json={"reason": "区划调整"},
                               headers=headers)
        if expected is None:  # the admin's own region: only an admin above may retire it
            assert (response.status_code, response.json["error"]["code"]) == (403, "not_admin_of_region")
        else:
            assert (response.status_code, response.json["error"]["code"]) == (409, "region_in_use")
            assert response.json["error"]["context"] == expected
    retired = client.post(f"/api/v1/regions/{world['tree']['community2']}/retire", json={"reason": "并入一社区"},
                          headers=headers)
    assert retired.status_code == 200 and retired.json["retired"] is True
    assert retired.json["retired_reason"] == "并入一社区"
    again = client.post(f"/api/v1/regions/{world['tree']['community2']}/retire", json={"reason": "再撤"},
                        headers=headers)
    assert (again.status_code, again.json["error"]["code"]) == (409, "region_retired_already")
    public = client.get(f"/api/v1/regions?parent_id={world['tree']['street']}").json["items"]
    assert [r["name"] for r in public] == ["一社区"]
    tree = client.get(f"/api/v1/regions/{world['tree']['street']}/tree", headers=headers).json["root"]
    assert [(c["name"], c["retired"]) for c in tree["children"]] == [("一社区", False), ("二社区", True)]
    below = client.post("/api/v1/regions", json={"parent_id": world["tree"]["community2"], "name": "x"},
                        headers=headers)
    assert (below.status_code, below.json["error"]["code"]) == (422, "region_retired")


def test_a_retired_community_takes_no_new_volunteer_or_activity(app, client, world, now):
    community2 = world["tree"]["community2"]
    client.post(f"/api/v1/regions/{community2}/retire", json={"reason": "并入"}, headers=world["headers"]["admin"])
    with app.app_context():
        newcomer = f.bearer(f.account("sim_newcomer", now))
        db.session.commit()
    registration = client.post("/api/v1/volunteers", json={
        "real_name": "王五", "mobile": "13911112222", "birth_date": "1990-01-01", "region_id": community2},
        headers=newcomer)
    assert (registration.status_code, registration.json["error"]["code"]) == (422, "region_retired")
    activity = client.post("/api/v1/activities", json={
        "organization_id": world["org_id"], "region_id": community2, "title": "重阳敬老", "address": "二社区",
        "starts_at": "2026-12-01T09:00:00+08:00", "ends_at": "2026-12-01T12:00:00+08:00", "capacity": 10,
        "themes": ["空巢老人"]}, headers=world["headers"]["organizer"])
    assert (activity.status_code, activity.json["error"]["code"]) == (422, "invalid_activity")
    assert activity.json["error"]["fields"] == {"region_id": "该地区已撤销"}


def test_populations_per_year_and_the_latest_is_the_regions(app, client, world):
    headers = world["headers"]["street_admin"]
    url = f"/api/v1/regions/{world['tree']['community']}/populations"
    for year, population in ((2024, 7900), (2025, 8100), (2024, 7950)):
        response = client.put(f"{url}/{year}", json={"population": population}, headers=headers)
        assert response.status_code == 200 and response.json["population"] == population
    listed = client.get(url, headers=headers)
    assert [(i["year"], i["population"]) for i in listed.json["items"]] == [(2025, 8100), (2024, 7950)]
    with app.app_context():
        assert db.session.get(Region, world["tree"]["community"]).population == 8100
    for bad in (f"{url}/1900", f"{url}/2101"):
        assert client.put(bad, json={"population": 1}, headers=headers).status_code == 404
    negative = client.put(f"{url}/2025", json={"population": -1}, headers=headers)
    assert negative.status_code == 422


def test_the_tree_year_is_checked(client, world):
    response = client.get(f"/api/v1/regions/{world['tree']['street']}/tree?year=1800",
                          headers=world["headers"]["admin"])
    assert (response.status_code, response.json["error"]["code"]) == (422, "validation_failed")


def calls(world):
    """Every management call on 一社区 (or below 一街道), as (method, url, body)."""
    tree = world["tree"]
    return [("get", f"/api/v1/regions/{tree['community']}/tree", None),
            ("post", "/api/v1/regions", {"parent_id": tree["street"], "name": "新社区"}),
            ("patch", f"/api/v1/regions/{tree['community']}", {"name": "改名"}),
            ("post", f"/api/v1/regions/{tree['community2']}/retire", {"reason": "撤"}),
            ("put", f"/api/v1/regions/{tree['community']}/populations/2025", {"population": 1}),
            ("get", f"/api/v1/regions/{tree['community']}/populations", None)]


@pytest.mark.parametrize("who, status, code", [
    ("other_admin", 403, "not_admin_of_region"), ("other_street_admin", 403, "not_admin_of_region"),
    ("organizer", 403, "not_admin_of_region"), ("other_organizer", 403, "not_admin_of_region"),
    ("captain", 403, "not_admin_of_region"), ("volunteer", 403, "not_admin_of_region"),
    ("anonymous", 401, "missing_token"),
])
def test_who_may_not_manage_regions_and_nothing_changes(app, client, world, who, status, code):
    before = snapshot(app)
    for method, url, body in calls(world):
        response = getattr(client, method)(url, json=body, headers=world["headers"][who]) if body is not None \
            else getattr(client, method)(url, headers=world["headers"][who])
        assert (response.status_code, response.json["error"]["code"]) == (status, code), (method, url)
    assert snapshot(app) == before


def test_unknown_regions_are_not_found(client, world):
    headers = world["headers"]["city_admin"]
    for response in (client.get("/api/v1/regions/424242/tree", headers=headers),
                     client.patch("/api/v1/regions/424242", json={"name": "x"}, headers=headers),
                     client.post("/api/v1/regions/424242/retire", json={"reason": "x"}, headers=headers),
                     client.put("/api/v1/regions/424242/populations/2025", json={"population": 1}, headers=headers),
                     client.get("/api/v1/regions/424242/populations", headers=headers)):
        assert (response.status_code, response.json["error"]["code"]) == (404, "region_not_found")
