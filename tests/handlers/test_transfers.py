"""Transfers over HTTP: apply, decide, the receipt as JSON and as a printable page, access, and races.

The races are real concurrent requests released by a barrier against a served app (as in
test_ledger_concurrency.py): on PostgreSQL they overlap inside the database; the guarantees are the
partial unique index (one pending application) and the conditional decision (one approval).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sa_text
from sqlalchemy import update as sa_update

from app.extensions import db
from models import IdempotentRequest, MembershipStatus, Notification, TeamMembership, Transfer, TransferStatus, Volunteer
from tests import factories as f
from tests.fakes import fire, serve

CONCURRENCY = 10


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now, other_org="乙区协会", other_organizer="sim_other").build("tree", "org", "team")
        w.add_attended_activity()
        w.build("organizer", "other_org", "other_team", "other_organizer", "admin", "other_admin")
        db.session.add(TeamMembership(team_id=w.team.id, volunteer_id=w.alice.id, status=MembershipStatus.ACTIVE,
                                      created_at=now))
        second_organizer = f.organizer("sim_other_second", w.other_org, now)
        world = {"org_id": w.org.id, "other_org_id": w.other_org.id, "team_id": w.team.id,
                 "other_team_id": w.other_team.id, "alice_id": w.alice.id,
                 "other_community_id": w.tree["other_community"].id, "other_district_id": w.tree["other_district"].id,
                 "headers": {**w.bearers("alice", "bob", "organizer", "other_organizer", "admin", "other_admin"),
                             "second_organizer": f.bearer(second_organizer)}}
        db.session.commit()
    app.extensions["clock"] = lambda: now + timedelta(hours=5)
    return world


def apply_body(world, nonce: str, **extra) -> dict:
    return {"kind": "organization", "organization_id": world["other_org_id"], "team_id": world["other_team_id"],
            "reason": "工作调动", "nonce": nonce, **extra}


def counts(app, world) -> dict:
    with app.app_context():
        def membership(team_id):
            return db.session.scalar(select(TeamMembership.status).where(
                TeamMembership.team_id == team_id, TeamMembership.volunteer_id == world["alice_id"]))
        return {"transfers": db.session.scalar(select(func.count()).select_from(Transfer)),
                "approved": db.session.scalar(select(func.count()).select_from(Transfer).where(
                    Transfer.status == TransferStatus.APPROVED)),
                "old_team": membership(world["team_id"]), "new_team": membership(world["other_team_id"]),
                "released_messages": db.session.scalar(select(func.count()).select_from(Notification).where(
                    Notification.kind == "transfer_released"))}


def test_apply_approve_and_print_the_receipt(client, world):
    h = world["headers"]
    applied = client.post("/api/v1/me/transfers", json=apply_body(world, "apply-0001"), headers=h["alice"])
    assert applied.status_code == 201, applied.json
    transfer = applied.json
    assert (transfer["status"], transfer["from_organization"]["id"], transfer["to_organization"]["name"],
            transfer["volunteer"]["name"], transfer["receipt_number"]) == ("pending", world["org_id"], "乙区协会", "张*丰", None)
    again = client.post("/api/v1/me/transfers", json=apply_body(world, "apply-0001"), headers=h["alice"])
    assert again.status_code == 201 and again.json == transfer and again.headers["Idempotent-Replayed"] == "true"

    receipt_url = f"/api/v1/transfers/{transfer['id']}/receipt"
    assert client.get(receipt_url, headers=h["alice"]).json["error"]["code"] == "transfer_not_approved"
    refused = client.post(f"/api/v1/transfers/{transfer['id']}/decision",
                          json={"decision": "approve", "nonce": "decide-0001"}, headers=h["organizer"])
    assert refused.status_code == 403 and refused.json["error"]["code"] == "not_organizer"
    decided = client.post(f"/api/v1/transfers/{transfer['id']}/decision",
                          json={"decision": "approve", "nonce": "decide-0002"}, headers=h["other_organizer"])
    assert decided.status_code == 200 and decided.json["status"] == "approved"
    assert decided.json["joined_team"]["id"] == world["other_team_id"] and decided.json["receipt_number"]

    for who in ("alice", "organizer", "other_organizer", "admin"):
        receipt = client.get(receipt_url, headers=h[who])
        assert receipt.status_code == 200, who
    body = receipt.json
    assert body["number"] == decided.json["receipt_number"] and len(body["sha256"]) == 64
    assert [(line["organization_id"], line["minutes"], line["certified_by"]) for line in body["hours_by_recorder"]] == [
        (world["org_id"], 60, "甲区志愿者协会")]
    assert (body["volunteer"]["name"], body["destination"]["name"], body["origin"]["name"]) == ("张三丰", "乙区协会", "甲区志愿者协会")
    assert body["total_minutes"] == 60 and body["origin"]["organization_id"] == world["org_id"]
    assert client.get(receipt_url, headers=h["bob"]).json["error"]["code"] == "transfer_not_found"

    page = client.get(f"{receipt_url}.html", headers=h["alice"])
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "志愿服务记录转移凭证" in html and body["number"] in html and "1小时" in html and "盖章处" in html
    assert "<script" not in html and body["sha256"] in html
    assert client.get(f"{receipt_url}.html", headers=h["bob"]).status_code == 404


def test_refusal_needs_a_reason_and_bad_input_changes_nothing(app, client, world):
    h = world["headers"]
    for body, code in ((apply_body(world, "bad-0001", organization_id=None), "organization_required"),
                       (apply_body(world, "bad-0002", organization_id=world["org_id"], team_id=None),
                        "same_organization"),
                       (apply_body(world, "bad-0003", team_id=world["team_id"]), "team_not_in_organization"),
                       ({"kind": "community", "nonce": "bad-0004"}, "region_required"),
                       ({"kind": "elsewhere", "nonce": "bad-0005"}, "validation_failed")):
        response = client.post("/api/v1/me/transfers", json=body, headers=h["alice"])
        assert response.status_code in (404, 422) and response.json["error"]["code"] == code, body
    assert counts(app, world)["transfers"] == 0
    transfer = client.post("/api/v1/me/transfers", json=apply_body(world, "apply-0002"), headers=h["alice"]).json
    url = f"/api/v1/transfers/{transfer['id']}/decision"
    no_reason = client.post(url, json={"decision": "refuse", "nonce": "refuse-0001"}, headers=h["other_organizer"])
    assert no_reason.status_code == 422 and no_reason.json["error"]["code"] == "reason_required"
    refused = client.post(url, json={"decision": "refuse", "reason": "名额已满", "nonce": "refuse-0002"},
                          headers=h["other_organizer"])
    assert refused.status_code == 200 and refused.json["decision_reason"] == "名额已满"
    assert counts(app, world)["old_team"] is MembershipStatus.ACTIVE and counts(app, world)["new_team"] is None


def test_withdraw_and_lists(client, world):
    h = world["headers"]
    transfer = client.post("/api/v1/me/transfers", json=apply_body(world, "apply-0003"), headers=h["alice"]).json
    assert [t["id"] for t in client.get("/api/v1/me/transfers", headers=h["alice"]).json["items"]] == [transfer["id"]]
    incoming = client.get(f"/api/v1/organizations/{world['other_org_id']}/transfers?direction=incoming&status=pending",
                          headers=h["other_organizer"])
    assert [t["id"] for t in incoming.json["items"]] == [transfer["id"]]
    assert client.get(f"/api/v1/organizations/{world['other_org_id']}/transfers",
                      headers=h["organizer"]).status_code == 403
    assert client.post(f"/api/v1/transfers/{transfer['id']}/withdraw", json={"nonce": "withdraw-01"},
                       headers=h["bob"]).status_code == 404
    withdrawn = client.post(f"/api/v1/transfers/{transfer['id']}/withdraw", json={"nonce": "withdraw-02"},
                            headers=h["alice"])
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"
    assert client.get(f"/api/v1/transfers/{transfer['id']}", headers=h["bob"]).status_code == 404


def test_after_a_community_move_the_releasing_organisation_still_reads_what_it_recorded(app, client, world):
    h = world["headers"]
    transfer = client.post("/api/v1/me/transfers", json={"kind": "community", "region_id": world["other_community_id"],
                                                         "nonce": "move-home-01"}, headers=h["alice"]).json
    region_queue = client.get(f"/api/v1/regions/{world['other_district_id']}/transfers?direction=incoming",
                              headers=h["other_admin"])
    assert [t["id"] for t in region_queue.json["items"]] == [transfer["id"]]
    decided = client.post(f"/api/v1/transfers/{transfer['id']}/decision",
                          json={"decision": "approve", "nonce": "approve-home"}, headers=h["other_admin"])
    assert decided.status_code == 200, decided.json
    with app.app_context():
        assert db.session.get(Volunteer, world["alice_id"]).region_id == world["other_community_id"]
    detail = client.get(f"/api/v1/volunteers/{world['alice_id']}", headers=h["organizer"])
    assert detail.status_code == 200
    assert detail.json["service"]["recorded_by"] == [world["org_id"]]
    assert detail.json["service"]["total_minutes"] == 60 and len(detail.json["service"]["recent"]) == 1
    # The releasing organisation may read, not act: revealing the mobile stays with the region's reviewers.
    revealed = client.post(f"/api/v1/volunteers/{world['alice_id']}/mobile", json={"reason": "核对联系方式"},
                           headers=h["organizer"])
    assert revealed.status_code == 404 and revealed.json["error"]["code"] == "volunteer_not_found"
    # The new region's admin reads everything.
    assert client.get(f"/api/v1/volunteers/{world['alice_id']}", headers=h["other_admin"]).json["service"][
        "recorded_by"] is None


# --- races ------------------------------------------------------------------------------------------

def test_simultaneous_approvals_by_two_organisers_move_the_membership_once(app, client, world):
    h = world["headers"]
    transfer = client.post("/api/v1/me/transfers", json=apply_body(world, "apply-race-1"), headers=h["alice"]).json
    bodies = [({"decision": "approve", "nonce": f"approve-race-{i:03d}"},
               h["other_organizer"] if i % 2 else h["second_organizer"]) for i in range(CONCURRENCY)]
    with serve(app) as base_url:
        results = fire(base_url, f"/api/v1/transfers/{transfer['id']}/decision", bodies)
    outcomes = [(status, body.get("status") or body["error"]["code"]) for status, body in results]
    assert outcomes.count((200, "approved")) == 1, outcomes
    assert outcomes.count((409, "already_decided")) == CONCURRENCY - 1, outcomes
    assert counts(app, world) == {"transfers": 1, "approved": 1, "old_team": MembershipStatus.REMOVED,
                                  "new_team": MembershipStatus.ACTIVE, "released_messages": 1}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TeamMembership).where(
            TeamMembership.volunteer_id == world["alice_id"], TeamMembership.status == MembershipStatus.ACTIVE)) == 1


def test_an_approval_racing_a_refusal_lands_one_decision(app, client, world):
    h = world["headers"]
    transfer = client.post("/api/v1/me/transfers", json=apply_body(world, "apply-race-2"), headers=h["alice"]).json
    bodies = [({"decision": "approve", "nonce": f"approve-mix-{i:03d}"}, h["other_organizer"])
              for i in range(CONCURRENCY // 2)]
    bodies += [({"decision": "refuse", "reason": "不符合条件", "nonce": f"refuse-mix-{i:03d}"}, h["second_organizer"])
               for i in range(CONCURRENCY // 2)]
    with serve(app) as base_url:
        results = fire(base_url, f"/api/v1/transfers/{transfer['id']}/decision", bodies)
    assert [status for status, _ in results].count(200) == 1
    assert [body["error"]["code"] for status, body in results if status != 200] == ["already_decided"] * (CONCURRENCY - 1)
    state = counts(app, world)
    winner = next(body["status"] for status, body in results if status == 200)
    if winner == "approved":
        assert (state["old_team"], state["new_team"]) == (MembershipStatus.REMOVED, MembershipStatus.ACTIVE)
    else:
        assert (state["old_team"], state["new_team"]) == (MembershipStatus.ACTIVE, None)


def test_simultaneous_applications_with_different_nonces_leave_one_pending(app, world):
    h = world["headers"]
    bodies = [(apply_body(world, f"apply-burst-{i:03d}"), h["alice"]) for i in range(CONCURRENCY)]
    with serve(app) as base_url:
        results = fire(base_url, "/api/v1/me/transfers", bodies)
    outcomes = [(status, body.get("status") or body["error"]["code"]) for status, body in results]
    assert outcomes.count((201, "pending")) == 1, outcomes
    assert outcomes.count((409, "transfer_pending")) == CONCURRENCY - 1, outcomes
    assert counts(app, world)["transfers"] == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "transfer_request")) == 2          # the receiving organisation's two organisers, once


def test_simultaneous_identical_applications_take_effect_once_with_one_answer(app, world):
    h = world["headers"]
    with serve(app) as base_url:
        results = fire(base_url, "/api/v1/me/transfers", [(apply_body(world, "double-tap-01"), h["alice"])] * CONCURRENCY)
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1
    assert counts(app, world)["transfers"] == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IdempotentRequest).where(
            IdempotentRequest.operation == "transfers.apply")) == 1


def test_two_volunteers_moving_into_one_team_at_once_both_land(app, world, now):
    """Distinct transfers do not block each other: each approval moves its own volunteer."""
    h = world["headers"]
    with app.app_context():
        bob = db.session.scalar(select(Volunteer).where(Volunteer.id != world["alice_id"]).order_by(Volunteer.id))
        bob_id = bob.id
    first = fire_one(app, h["alice"], apply_body(world, "apply-pair-1"))
    second = fire_one(app, h["bob"], apply_body(world, "apply-pair-2"))
    with serve(app) as base_url:
        results = [fire(base_url, f"/api/v1/transfers/{t}/decision", [
            ({"decision": "approve", "nonce": f"approve-pair-{t}"}, h["other_organizer"])])[0] for t in (first, second)]
    assert [status for status, _ in results] == [200, 200]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TeamMembership).where(
            TeamMembership.team_id == world["other_team_id"], TeamMembership.status == MembershipStatus.ACTIVE,
            TeamMembership.volunteer_id.in_((world["alice_id"], bob_id)))) == 2


def fire_one(app, headers, body) -> int:
    response = app.test_client().post("/api/v1/me/transfers", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


# --- controls: without the guards the same bursts do damage, so the tests above prove something -------

def test_control_without_the_conditional_decision_a_burst_approves_many_times(app, client, world, monkeypatch):
    from app.services import transfers as service
    from models import AuditLog

    def unconditionally(row, **values):
        db.session.execute(sa_update(Transfer).where(Transfer.id == row.id).values(**values)
                           .execution_options(synchronize_session=False))
        db.session.refresh(row)
        return True

    h = world["headers"]
    transfer = client.post("/api/v1/me/transfers", json=apply_body(world, "apply-ctrl-1"), headers=h["alice"]).json
    monkeypatch.setattr(service, "_conditionally", unconditionally)
    bodies = [({"decision": "approve", "nonce": f"approve-ctrl-{i:03d}"}, h["other_organizer"])
              for i in range(CONCURRENCY)]
    with serve(app) as base_url:
        fire(base_url, f"/api/v1/transfers/{transfer['id']}/decision", bodies)
    with app.app_context():
        approvals = db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "transfer.approved"))
    assert approvals > 1, "the burst approved once even without the guard: the race test would prove nothing"


def test_control_without_the_partial_unique_index_a_burst_files_many_applications(app, world):
    h = world["headers"]
    with app.app_context():
        engine = db.engine
    with engine.begin() as connection:
        connection.execute(sa_text("DROP INDEX uq_transfers_volunteer_pending"))
    try:
        bodies = [(apply_body(world, f"apply-ctrl-{i:03d}"), h["alice"]) for i in range(CONCURRENCY)]
        with serve(app) as base_url:
            fire(base_url, "/api/v1/me/transfers", bodies)
        with engine.connect() as connection:
            pending = connection.execute(select(func.count()).select_from(Transfer).where(
                Transfer.status == TransferStatus.PENDING)).scalar()
        assert pending > 1, "the burst filed one application even without the index: the race test proves nothing"
    finally:
        with engine.begin() as connection:
            connection.execute(sa_text("DELETE FROM transfers"))
            for index in Transfer.__table__.indexes:
                if index.name == "uq_transfers_volunteer_pending":
                    index.create(connection)
