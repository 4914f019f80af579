"""Organisations apply, show and edit their profile through the HTTP API; the applicant becomes the first organiser."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from models import AuditLog, Region, Role, RoleGrant
from tests import factories as f
from tests.handlers.test_organizations import snapshot

CODE = "91350100M000100Y43"
OTHER_CODE = "91440300708461136T"


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        w = f.World(now)
        w.build("org", "organizer", "captain", "other_org", "other_organizer", "other_captain", "admin",
                "other_admin", "city_admin", "alice")
        applicant = f.account("sim_applicant", now)
        retired = w.tree["community2"]
        retired.retired_at = now
        world = {"tree": {name: region.id for name, region in w.tree.items()}, "org_id": w.org.id,
                 "applicant_id": applicant.id,
                 "headers": w.bearers("organizer", "captain", "other_organizer", "other_captain", "admin",
                                      "other_admin", "city_admin", "volunteer")}
        world["headers"]["applicant"] = f.bearer(applicant)
        world["headers"]["anonymous"] = {}
        db.session.commit()
    return world


def application(world, **changes):
    body = {"name": "一街道青年志愿者协会", "credit_code": CODE, "region_id": world["tree"]["street"],
            "kind": "social", "contact_name": "李老师", "contact_mobile": "13800001111",
            "address": "一街道 1 号", "description": "服务社区青年\n每周活动"}
    body.update(changes)
    return body


def apply(client, world, who="applicant", **changes):
    return client.post("/api/v1/organizations", json=application(world, **changes), headers=world["headers"][who])


def test_an_account_applies_and_the_approving_admin_makes_it_the_first_organiser(app, client, world):
    applied = apply(client, world, credit_code=" 91350100m000100y43 ")
    assert applied.status_code == 201, applied.json
    body = applied.json
    assert body["status"] == "pending" and body["credit_code"] == CODE and body["kind"] == "social"
    assert (body["contact_name"], body["contact_mobile"]) == ("李老师", "13800001111")
    assert body["description"] == "服务社区青年\n每周活动" and body["applicant_account_id"] == world["applicant_id"]
    assert body["region"] == {"id": world["tree"]["street"], "name": "一街道"}
    seen = client.get(f"/api/v1/organizations/{body['id']}", headers=world["headers"]["applicant"])
    assert seen.status_code == 200 and seen.json == body
    # The applicant is no organiser yet: the profile stays the admins' until approval.
    early = client.patch(f"/api/v1/organizations/{body['id']}", json={"address": "别处"},
                         headers=world["headers"]["applicant"])
    assert (early.status_code, early.json["error"]["code"]) == (403, "not_organizer")
    approved = client.post(f"/api/v1/organizations/{body['id']}/review", json={"decision": "approve"},
                           headers=world["headers"]["admin"])
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    with app.app_context():
        grant = db.session.scalar(select(RoleGrant).where(RoleGrant.organization_id == body["id"]))
        assert (grant.account_id, grant.role) == (world["applicant_id"], Role.ORGANIZER)
        actions = db.session.execute(select(AuditLog.action, AuditLog.region_path).order_by(AuditLog.id)).all()
        street_path = db.session.get(Region, world["tree"]["street"]).path
        assert actions == [("organization.applied", street_path), ("organization.approved", street_path)]
    edited = client.patch(f"/api/v1/organizations/{body['id']}", json={"contact_mobile": "13900002222",
                                                                       "address": None},
                          headers=world["headers"]["applicant"])
    assert edited.status_code == 200, edited.json
    assert edited.json["contact_mobile"] == "13900002222" and edited.json["address"] is None
    assert edited.json["contact_name"] == "李老师"


def test_a_rejected_application_makes_nobody_an_organiser(app, client, world):
    organization_id = apply(client, world).json["id"]
    client.post(f"/api/v1/organizations/{organization_id}/review", json={"decision": "reject", "reason": "材料不全"},
                headers=world["headers"]["admin"])
    with app.app_context():
        assert db.session.scalar(select(RoleGrant).where(RoleGrant.organization_id == organization_id)) is None


@pytest.mark.parametrize("code", ["91350100M000100Y44", "91350100M000100Y4", "91350100M0001O0Y43",
                                  "B1350100M000100Y43", "94350100M000100Y43", "x"])
def test_a_bad_credit_code_is_refused(app, client, world, code):
    before = snapshot(app)
    refused = apply(client, world, credit_code=code)
    assert (refused.status_code, refused.json["error"]["code"]) == (422, "invalid_credit_code")
    assert "credit_code" in refused.json["error"]["fields"]
    assert snapshot(app) == before


def test_a_name_or_credit_code_is_taken_once(client, world):
    assert apply(client, world).status_code == 201
    same_name = apply(client, world, "volunteer", credit_code=OTHER_CODE)
    assert (same_name.status_code, same_name.json["error"]["code"]) == (409, "organization_name_taken")
    same_code = apply(client, world, "volunteer", name="另一个协会")
    assert (same_code.status_code, same_code.json["error"]["code"]) == (409, "credit_code_taken")
    existing = apply(client, world, "volunteer", name="甲区志愿者协会", credit_code=OTHER_CODE)
    assert existing.json["error"]["code"] == "organization_name_taken"


@pytest.mark.parametrize("changes, field, code", [
    ({"region_id": 424242}, "region_id", "region_not_found"),
    ({"kind": "club"}, "kind", "validation_failed"),
    ({"contact_mobile": "12345"}, "contact_mobile", "validation_failed"),
    ({"name": "x"}, "name", "validation_failed"),
])
def test_bad_applications_are_refused(app, client, world, changes, field, code):
    before = snapshot(app)
    refused = apply(client, world, **changes)
    assert (refused.status_code, refused.json["error"]["code"]) == (422, code)
    assert field in refused.json["error"]["fields"]
    assert snapshot(app) == before


def test_a_retired_region_takes_no_new_organisation(app, client, world):
    before = snapshot(app)
    refused = apply(client, world, region_id=world["tree"]["community2"])
    assert (refused.status_code, refused.json["error"]["code"]) == (422, "region_retired")
    assert snapshot(app) == before


def test_applying_needs_a_login(client, world):
    response = apply(client, world, "anonymous")
    assert (response.status_code, response.json["error"]["code"]) == (401, "missing_token")


@pytest.mark.parametrize("who", ["organizer", "admin", "city_admin"])
def test_organisers_and_admins_above_see_the_profile(client, world, who):
    response = client.get(f"/api/v1/organizations/{world['org_id']}", headers=world["headers"][who])
    assert response.status_code == 200 and response.json["name"] == "甲区志愿者协会"


@pytest.mark.parametrize("who", ["other_organizer", "captain", "other_captain", "other_admin", "volunteer",
                                 "applicant"])
def test_others_do_not_see_the_profile(client, world, who):
    response = client.get(f"/api/v1/organizations/{world['org_id']}", headers=world["headers"][who])
    assert (response.status_code, response.json["error"]["code"]) == (404, "organization_not_found")


def test_an_unknown_organisation_is_not_found(client, world):
    response = client.get("/api/v1/organizations/424242", headers=world["headers"]["city_admin"])
    assert (response.status_code, response.json["error"]["code"]) == (404, "organization_not_found")


def test_an_organiser_edits_the_profile_and_it_is_audited(app, client, world):
    response = client.patch(f"/api/v1/organizations/{world['org_id']}",
                            json={"contact_name": "王主任", "description": "第一行\n第二行"},
                            headers=world["headers"]["organizer"])
    assert response.status_code == 200, response.json
    assert (response.json["contact_name"], response.json["description"]) == ("王主任", "第一行\n第二行")
    with app.app_context():
        entry = db.session.scalar(select(AuditLog))
        assert (entry.action, entry.detail) == ("organization.updated", {"fields": ["contact_name", "description"]})


@pytest.mark.parametrize("body", [{"name": "新名字"}, {"credit_code": CODE}, {"contact_name": None},
                                  {"contact_mobile": "110"}, {"region_id": 1}, {"status": "approved"}])
def test_the_name_code_and_region_cannot_be_patched(app, client, world, body):
    before = snapshot(app)
    response = client.patch(f"/api/v1/organizations/{world['org_id']}", json=body,
                            headers=world["headers"]["organizer"])
    assert (response.status_code, response.json["error"]["code"]) == (422, "validation_failed")
    assert snapshot(app) == before


@pytest.mark.parametrize("who, status, code", [
    ("other_organizer", 403, "not_organizer"), ("captain", 403, "not_organizer"),
    ("admin", 403, "not_organizer"), ("other_admin", 403, "not_organizer"),
    ("volunteer", 403, "not_organizer"), ("anonymous", 401, "missing_token"),
])
def test_who_may_not_edit_the_profile_and_nothing_changes(app, client, world, who, status, code):
    before = snapshot(app)
    response = client.patch(f"/api/v1/organizations/{world['org_id']}", json={"address": "别处"},
                            headers=world["headers"][who])
    assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert snapshot(app) == before


def test_the_list_carries_the_new_fields(client, world):
    apply(client, world)
    items = client.get("/api/v1/organizations?status=pending", headers=world["headers"]["admin"]).json["items"]
    assert [(i["name"], i["credit_code"], i["contact_mobile"]) for i in items] == [
        ("一街道青年志愿者协会", CODE, "13800001111")]
