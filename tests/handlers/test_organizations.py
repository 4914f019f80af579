"""Organisations through the HTTP API: listing by scope, review by admins, and who may do what."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models import Account, AuditLog, Organization, OrganizationStatus, Region
from tests import factories as f


@pytest.fixture
def world(app, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        w = f.World(now, other_org="乙区协会")
        tree = w.tree
        pending = f.organization("甲区新协会", tree["street"], now, status=OrganizationStatus.PENDING)
        approved = f.organization("甲区老协会", tree["district"], now)
        w.build("other_org")
        other_pending = f.organization("乙区新协会", tree["other_district"], now, status=OrganizationStatus.PENDING)
        w.build("other_team", "admin", "city_admin")
        w["own_organizer"] = f.organizer("sim_own_org", pending, now)
        world = {"street_id": tree["street"].id, "pending_id": pending.id, "approved_id": approved.id, "other_pending_id": other_pending.id,
                 "headers": w.bearers("admin", "city_admin", "own_organizer", "other_admin", "other_organizer",
                                      "other_captain", "volunteer")}
        world["headers"]["anonymous"] = {}
        db.session.commit()
    return world


def snapshot(app) -> dict[str, list]:
    """Every row of every table, to show that a refused call changed nothing."""
    with app.app_context():
        return {name: db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
                for name, table in db.metadata.tables.items()}


def names(response) -> list[str]:
    return [item["name"] for item in response.json["items"]]


def test_an_admin_lists_their_subtree_by_status_with_pages(client, world):
    headers = world["headers"]["admin"]
    everything = client.get("/api/v1/organizations", headers=headers)
    assert everything.status_code == 200
    assert names(everything) == ["甲区新协会", "甲区老协会"] and everything.json["total"] == 2
    pending = client.get("/api/v1/organizations?status=pending&per_page=1", headers=headers).json
    assert (pending["total"], pending["page"], pending["per_page"]) == (1, 1, 1)
    [item] = pending["items"]
    assert item["status"] == "pending" and item["region"]["name"] == "一街道" and item["approved_at"] is None
    city = client.get("/api/v1/organizations?status=pending", headers=world["headers"]["city_admin"])
    assert names(city) == ["甲区新协会", "乙区新协会"]


@pytest.mark.parametrize("who, expected", [("own_organizer", ["甲区新协会"]), ("other_organizer", ["乙区协会"]),
                                           ("other_admin", ["乙区协会", "乙区新协会"])])
def test_organisers_see_their_own_and_other_admins_only_their_subtree(client, world, who, expected):
    response = client.get("/api/v1/organizations", headers=world["headers"][who])
    assert response.status_code == 200 and names(response) == expected


@pytest.mark.parametrize("who", ["volunteer", "other_captain"])
def test_a_caller_without_organisations_or_applications_gets_an_empty_list(client, world, who):
    response = client.get("/api/v1/organizations", headers=world["headers"][who])
    assert response.status_code == 200 and response.json["items"] == [] and response.json["total"] == 0


def test_anonymous_callers_may_not_list_organisations(client, world):
    response = client.get("/api/v1/organizations", headers=world["headers"]["anonymous"])
    assert (response.status_code, response.json["error"]["code"]) == (401, "missing_token")


def test_a_role_less_applicant_sees_only_their_own_applications_in_every_state(app, client, world, now):
    with app.app_context():
        applicant_id = db.session.scalar(select(Account.id).where(Account.mp_openid == "sim_alice"))
        street = db.session.get(Region, world["street_id"])
        rejected = f.organization("被驳回的协会", street, now, status=OrganizationStatus.REJECTED)
        rejected.applicant_account_id = applicant_id
        db.session.commit()
    headers = world["headers"]["volunteer"]
    body = {"name": "爱心志愿者协会", "credit_code": "91350100M000100Y43", "region_id": world["street_id"],
            "kind": "social", "contact_name": "张三", "contact_mobile": "13800138000"}
    applied = client.post("/api/v1/organizations", json=body, headers=headers)
    assert applied.status_code == 201, applied.json
    listed = client.get("/api/v1/organizations", headers=headers)
    assert listed.status_code == 200 and listed.json["total"] == 2
    assert names(listed) == ["被驳回的协会", "爱心志愿者协会"]  # oldest first
    assert {item["applicant_account_id"] for item in listed.json["items"]} == {applicant_id}
    assert {item["status"] for item in listed.json["items"]} == {"pending", "rejected"}
    assert names(client.get("/api/v1/organizations?status=pending", headers=headers)) == ["爱心志愿者协会"]
    # Nobody else's application shows: another role-less volunteer still sees nothing.
    assert client.get("/api/v1/organizations", headers=world["headers"]["other_captain"]).json["items"] == []


def test_a_bad_status_filter_is_a_validation_error(client, world):
    response = client.get("/api/v1/organizations?status=maybe", headers=world["headers"]["admin"])
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_failed"


def test_an_admin_approves_once(app, client, world, now):
    url = f"/api/v1/organizations/{world['pending_id']}/review"
    approved = client.post(url, json={"decision": "approve"}, headers=world["headers"]["admin"])
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved" and approved.json["approved_at"] is not None
    again = client.post(url, json={"decision": "reject", "reason": "重复"}, headers=world["headers"]["city_admin"])
    assert again.status_code == 409 and again.json["error"]["code"] == "already_decided"
    with app.app_context():
        assert db.session.scalars(select(AuditLog.action)).all() == ["organization.approved"]


def test_a_rejection_needs_a_reason(app, client, world):
    url = f"/api/v1/organizations/{world['pending_id']}/review"
    before = snapshot(app)
    for body in ({"decision": "reject"}, {"decision": "reject", "reason": "   "}):
        refused = client.post(url, json=body, headers=world["headers"]["admin"])
        assert refused.status_code == 422 and refused.json["error"]["code"] == "reason_required"
        assert refused.json["error"]["fields"] == {"reason": "必填"}
    assert snapshot(app) == before
    rejected = client.post(url, json={"decision": "reject", "reason": "登记材料不全"}, headers=world["headers"]["admin"])
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert rejected.json["rejection_reason"] == "登记材料不全"
    with app.app_context():
        entry = db.session.scalar(select(AuditLog))
        assert entry.action == "organization.rejected" and entry.detail == {"reason": "登记材料不全"}


@pytest.mark.parametrize("body", [{"decision": "maybe"}, {"decision": "approve", "status": "approved"},
                                  {"decision": "reject", "reason": "x" * 201}, {}])
def test_bad_review_bodies_are_refused(app, client, world, body):
    before = snapshot(app)
    response = client.post(f"/api/v1/organizations/{world['pending_id']}/review", json=body,
                           headers=world["headers"]["admin"])
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_failed"
    assert snapshot(app) == before


@pytest.mark.parametrize("who, status, code", [
    ("other_captain", 403, "not_admin_of_region"),
    ("other_organizer", 403, "not_admin_of_region"),
    ("own_organizer", 403, "not_admin_of_region"),
    ("other_admin", 403, "not_admin_of_region"),
    ("volunteer", 403, "not_admin_of_region"),
    ("anonymous", 401, "missing_token"),
])
def test_who_may_not_review_and_nothing_changes(app, client, world, who, status, code):
    before = snapshot(app)
    for decision in ({"decision": "approve"}, {"decision": "reject", "reason": "不符合要求"}):
        response = client.post(f"/api/v1/organizations/{world['pending_id']}/review", json=decision,
                               headers=world["headers"][who])
        assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert snapshot(app) == before


def test_an_unknown_organisation_is_not_found(client, world):
    response = client.post("/api/v1/organizations/424242/review", json={"decision": "approve"},
                           headers=world["headers"]["admin"])
    assert response.status_code == 404 and response.json["error"]["code"] == "organization_not_found"


def test_admins_deciding_at_once_land_exactly_one_decision(app, world):
    url = f"/api/v1/organizations/{world['pending_id']}/review"
    callers = [world["headers"]["admin"], world["headers"]["city_admin"]] * 4
    bodies = [{"decision": "approve"}, {"decision": "reject", "reason": "不符合要求"}] * 4
    start = threading.Barrier(len(callers))
    answers: list[tuple[int, str]] = []

    def review(headers, body):
        client = app.test_client()
        start.wait()
        response = client.post(url, json=body, headers=headers)
        answers.append((response.status_code, response.json.get("status") or response.json["error"]["code"]))

    threads = [threading.Thread(target=review, args=pair) for pair in zip(callers, bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [answer for answer in answers if answer[0] == 200]
    assert len(winners) == 1 and answers.count((409, "already_decided")) == len(callers) - 1
    with app.app_context():
        organization = db.session.get(Organization, world["pending_id"])
        assert organization.status.value == winners[0][1]
        decisions = db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.target_type == "organization"))
        assert decisions == 1
