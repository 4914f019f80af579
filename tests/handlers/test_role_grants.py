"""Role grants through the HTTP API: who holds what in a scope, organisers appoint organisers, admins appoint admins."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from app.extensions import db
from models import AuditLog, Role, RoleGrant, VolunteerStatus
from tests import factories as f
from tests.handlers.test_organizations import snapshot


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        w = f.World(now)
        w.build("org", "organizer", "team", "captain", "other_org", "other_organizer", "other_captain", "city_admin",
                "admin", "other_admin", "alice", "bob")
        street_admin = f.admin("sim_street_admin", w.tree["street"], now)
        other_street_admin = f.admin("sim_other_street_admin", w.tree["other_street"], now)
        f.volunteer(w.organizer, w.tree["community"], now, real_name="欧阳组织", status=VolunteerStatus.APPROVED)
        pending = f.volunteer(f.account("sim_pending", now), w.tree["community"], now)
        w["street_admin"], w["other_street_admin"] = street_admin, other_street_admin
        world = {"tree": {name: region.id for name, region in w.tree.items()}, "org_id": w.org.id,
                 "other_org_id": w.other_org.id, "team_id": w.team.id, "alice_id": w.alice.id,
                 "alice_account": w.alice.account_id, "bob_id": w.bob.id, "pending_id": pending.id,
                 "organizer_account": w.organizer.id, "street_admin_account": street_admin.id,
                 "headers": w.bearers("organizer", "captain", "other_organizer", "other_captain", "admin",
                                      "other_admin", "city_admin", "volunteer", "street_admin", "other_street_admin")}
        world["headers"]["anonymous"] = {}
        db.session.commit()
    return world


def grants(client, headers, **scope):
    query = "&".join(f"{k}={v}" for k, v in scope.items())
    return client.get(f"/api/v1/role-grants?{query}", headers=headers)


def test_organisers_see_their_organisers_and_captains_with_masked_names(client, world):
    response = grants(client, world["headers"]["organizer"], organization_id=world["org_id"])
    assert response.status_code == 200, response.json
    body = response.json
    assert body["total"] == 2 and body["next_cursor"] is None
    organizer, captain = body["items"]
    assert (organizer["role"], organizer["name"], organizer["organization"]["name"]) == ("organizer", "欧**织",
                                                                                         "甲区志愿者协会")
    assert organizer["account_id"] == world["organizer_account"] and organizer["team"] is None
    assert (captain["role"], captain["team"]["name"], captain["name"]) == ("captain", "医疗队", None)
    assert grants(client, world["headers"]["admin"], organization_id=world["org_id"]).json["total"] == 2


def test_admins_see_admins_at_and_below_and_organisers_there(client, world):
    district = grants(client, world["headers"]["admin"], region_id=world["tree"]["district"]).json
    assert sorted((i["role"], (i["region"] or i["organization"])["name"]) for i in district["items"]) == [
        ("admin", "一街道"), ("admin", "甲区"), ("organizer", "甲区志愿者协会")]
    street = grants(client, world["headers"]["street_admin"], region_id=world["tree"]["street"]).json
    assert [(i["role"], i["region"]["name"]) for i in street["items"]] == [("admin", "一街道")]
    city = grants(client, world["headers"]["city_admin"], region_id=world["tree"]["city"]).json
    assert city["total"] == 7


def test_the_list_pages_with_a_cursor(client, world):
    headers = world["headers"]["city_admin"]
    seen, cursor = [], None
    while True:
        page = grants(client, headers, region_id=world["tree"]["city"], limit=3,
                      **({"cursor": cursor} if cursor else {})).json
        assert page["total"] == 7
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(set(seen)) == 7
    for bad in ("garbage!", "WyJ4Il0", "e30"):
        response = grants(client, headers, region_id=world["tree"]["city"], cursor=bad)
        assert (response.status_code, response.json["error"]["code"]) == (422, "invalid_cursor")


@pytest.mark.parametrize("query", ["", "organization_id=1&region_id=1", "limit=0&team_id=1", "limit=101&team_id=1"])
def test_exactly_one_scope_and_a_sane_limit(client, world, query):
    response = client.get(f"/api/v1/role-grants?{query}", headers=world["headers"]["city_admin"])
    assert (response.status_code, response.json["error"]["code"]) == (422, "validation_failed")


def test_a_team_s_captain_and_managers_see_its_captains(client, world):
    for who in ("captain", "organizer", "admin"):
        response = grants(client, world["headers"][who], team_id=world["team_id"])
        assert response.status_code == 200 and [i["role"] for i in response.json["items"]] == ["captain"]


@pytest.mark.parametrize("who, scope, status, code", [
    ("other_organizer", "organization", 404, "organization_not_found"),
    ("captain", "organization", 404, "organization_not_found"),
    ("volunteer", "organization", 404, "organization_not_found"),
    ("other_admin", "organization", 404, "organization_not_found"),
    ("other_captain", "team", 404, "team_not_found"),
    ("other_organizer", "team", 404, "team_not_found"),
    ("other_street_admin", "region", 403, "not_admin_of_region"),
    ("organizer", "region", 403, "not_admin_of_region"),
    ("captain", "region", 403, "not_admin_of_region"),
    ("anonymous", "region", 401, "missing_token"),
])
def test_who_may_not_list_a_scope(client, world, who, scope, status, code):
    ids = {"organization": ("organization_id", world["org_id"]), "team": ("team_id", world["team_id"]),
           "region": ("region_id", world["tree"]["street"])}
    name, value = ids[scope]
    response = grants(client, world["headers"][who], **{name: value})
    assert (response.status_code, response.json["error"]["code"]) == (status, code)


def test_an_organiser_appoints_and_removes_organisers_but_never_the_last(app, client, world):
    url = f"/api/v1/organizations/{world['org_id']}/organizers"
    headers = world["headers"]["organizer"]
    appointed = client.post(url, json={"volunteer_id": world["alice_id"]}, headers=headers)
    assert appointed.status_code == 201, appointed.json
    assert (appointed.json["role"], appointed.json["account_id"], appointed.json["name"]) == (
        "organizer", world["alice_account"], "张*丰")
    assert appointed.json["granted_by_account_id"] == world["organizer_account"]
    assert appointed.json["granted_by_name"] == "欧**织"
    again = client.post(url, json={"volunteer_id": world["alice_id"]}, headers=headers)
    assert again.status_code == 200 and again.json["id"] == appointed.json["id"]
    removed = client.delete(f"{url}/{world['organizer_account']}", headers=headers)  # oneself, not the last
    assert removed.status_code == 200 and removed.json == {"account_id": world["organizer_account"],
                                                            "role": "organizer", "removed": True}
    alice = f_headers(app, world["alice_account"])
    last = client.delete(f"{url}/{world['alice_account']}", headers=alice)
    assert (last.status_code, last.json["error"]["code"]) == (409, "last_organizer")
    gone = client.delete(f"{url}/{world['organizer_account']}", headers=alice)
    assert (gone.status_code, gone.json["error"]["code"]) == (404, "organizer_not_found")
    with app.app_context():
        entries = db.session.execute(select(AuditLog.action, AuditLog.detail).order_by(AuditLog.id)).all()
        assert entries == [("organization.organizer_appointed", {"account_id": world["alice_account"],
                                                                 "volunteer_id": world["alice_id"]}),
                           ("organization.organizer_removed", {"account_id": world["organizer_account"]})]


def f_headers(app, account_id):
    with app.app_context():
        from models import Account
        return f.bearer(db.session.get(Account, account_id))


@pytest.mark.parametrize("volunteer", ["pending_id", None])
def test_only_approved_volunteers_are_appointed(app, client, world, volunteer):
    before = snapshot(app)
    for url in (f"/api/v1/organizations/{world['org_id']}/organizers",
                f"/api/v1/regions/{world['tree']['street']}/admins"):
        who = "organizer" if "organizations" in url else "admin"
        response = client.post(url, json={"volunteer_id": world[volunteer] if volunteer else 424242},
                               headers=world["headers"][who])
        assert (response.status_code, response.json["error"]["code"]) == (422, "volunteer_not_eligible")
    assert snapshot(app) == before


@pytest.mark.parametrize("who, status, code", [
    ("other_organizer", 403, "not_organizer"), ("captain", 403, "not_organizer"),
    ("admin", 403, "not_organizer"), ("volunteer", 403, "not_organizer"), ("anonymous", 401, "missing_token"),
])
def test_who_may_not_appoint_or_remove_organisers_and_nothing_changes(app, client, world, who, status, code):
    before = snapshot(app)
    url = f"/api/v1/organizations/{world['org_id']}/organizers"
    for response in (client.post(url, json={"volunteer_id": world["bob_id"]}, headers=world["headers"][who]),
                     client.delete(f"{url}/{world['organizer_account']}", headers=world["headers"][who])):
        assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert snapshot(app) == before


def test_an_admin_appoints_and_removes_admins_strictly_below(app, client, world):
    headers = world["headers"]["admin"]
    url = f"/api/v1/regions/{world['tree']['community']}/admins"
    appointed = client.post(url, json={"volunteer_id": world["alice_id"]}, headers=headers)
    assert appointed.status_code == 201 and appointed.json["region"]["name"] == "一社区"
    assert client.post(url, json={"volunteer_id": world["alice_id"]}, headers=headers).status_code == 200
    own = client.post(f"/api/v1/regions/{world['tree']['district']}/admins", json={"volunteer_id": world["bob_id"]},
                      headers=headers)
    assert (own.status_code, own.json["error"]["code"]) == (403, "not_admin_of_region")
    removed = client.delete(f"{url}/{world['alice_account']}", headers=headers)
    assert removed.status_code == 200 and removed.json["role"] == "admin"
    missing = client.delete(f"{url}/{world['alice_account']}", headers=headers)
    assert (missing.status_code, missing.json["error"]["code"]) == (404, "region_admin_not_found")
    street = client.delete(f"/api/v1/regions/{world['tree']['street']}/admins/{world['street_admin_account']}",
                           headers=headers)
    assert street.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(RoleGrant).where(RoleGrant.account_id == world["street_admin_account"])) is None
        actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
        assert actions == ["region.admin_appointed", "region.admin_removed", "region.admin_removed"]


@pytest.mark.parametrize("who, status, code", [
    ("other_admin", 403, "not_admin_of_region"), ("other_street_admin", 403, "not_admin_of_region"),
    ("street_admin", 403, "not_admin_of_region"),  # their own region: only an admin above changes its admins
    ("organizer", 403, "not_admin_of_region"), ("captain", 403, "not_admin_of_region"),
    ("volunteer", 403, "not_admin_of_region"), ("anonymous", 401, "missing_token"),
])
def test_who_may_not_appoint_or_remove_admins_and_nothing_changes(app, client, world, who, status, code):
    before = snapshot(app)
    url = f"/api/v1/regions/{world['tree']['street']}/admins"
    for response in (client.post(url, json={"volunteer_id": world["bob_id"]}, headers=world["headers"][who]),
                     client.delete(f"{url}/{world['street_admin_account']}", headers=world["headers"][who])):
        assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert snapshot(app) == before


def test_no_admin_is_appointed_in_a_retired_region(app, client, world, now):
    client.post(f"/api/v1/regions/{world['tree']['community2']}/retire", json={"reason": "并入"},
                headers=world["headers"]["admin"])
    response = client.post(f"/api/v1/regions/{world['tree']['community2']}/admins",
                           json={"volunteer_id": world["alice_id"]}, headers=world["headers"]["admin"])
    assert (response.status_code, response.json["error"]["code"]) == (422, "region_retired")
    with app.app_context():
        assert db.session.scalar(select(RoleGrant).where(RoleGrant.role == Role.ADMIN,
                                                         RoleGrant.region_id == world["tree"]["community2"])) is None


def test_two_organisers_removing_each_other_at_once_leave_one(app, client, world):
    url = f"/api/v1/organizations/{world['org_id']}/organizers"
    client.post(url, json={"volunteer_id": world["alice_id"]}, headers=world["headers"]["organizer"])
    pairs = [(world["headers"]["organizer"], world["alice_account"]),
             (f_headers(app, world["alice_account"]), world["organizer_account"])]
    start = threading.Barrier(len(pairs))
    answers: list[tuple[int, str]] = []

    def remove(headers, account_id):
        own_client = app.test_client()
        start.wait()
        response = own_client.delete(f"{url}/{account_id}", headers=headers)
        answers.append((response.status_code, response.json.get("role") or response.json["error"]["code"]))

    threads = [threading.Thread(target=remove, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [(200, "organizer"), (403, "not_organizer")]
    with app.app_context():
        left = db.session.scalars(select(RoleGrant).where(RoleGrant.organization_id == world["org_id"])).all()
        assert len(left) == 1
