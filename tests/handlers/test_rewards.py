"""Rewards over HTTP: organisers publish, volunteers redeem and void, stations scan; bad input and permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.services.points import ledger
from tests import factories as f


@pytest.fixture
def shop(app, app_context, client, now):
    app.extensions["clock"] = lambda: now
    w = f.World(now).build("tree", "org", "organizer", "other_org", "other_organizer")
    ledger.earn("earn-alice", w.tree["community"].id, w.alice.id, 100, None, now)
    db.session.commit()
    headers = w.bearers("organizer", "other_organizer", "alice", "bob")
    body = {"kind": "service", "title": "理发服务", "points_price": 40, "stock": 3, "limit_per_person": 1,
            "valid_from": (now - timedelta(days=1)).isoformat(), "valid_until": (now + timedelta(days=7)).isoformat(),
            "pickup_place": "一社区服务站", "nonce": "publish-0001"}
    created = client.post(f"/api/v1/organizations/{w.org.id}/rewards", json=body, headers=headers["organizer"])
    assert created.status_code == 201, created.get_json()
    return w, headers, created.get_json(), body


def test_publish_redeem_scan_and_see_it(client, shop, now):
    w, headers, reward, _ = shop
    assert [r["id"] for r in client.get("/api/v1/rewards", headers=headers["alice"]).get_json()["items"]] == [reward["id"]]
    redeemed = client.post(f"/api/v1/rewards/{reward['id']}/redemptions", json={"nonce": "tap-000001"},
                           headers=headers["alice"])
    assert redeemed.status_code == 201, redeemed.get_json()
    held = redeemed.get_json()
    assert held["status"] == "held" and len(held["pickup_code"]) == 6 and held["pickup_token"]
    again = client.post(f"/api/v1/rewards/{reward['id']}/redemptions", json={"nonce": "tap-000001"},
                        headers=headers["alice"])
    assert again.status_code == 201 and again.get_json()["id"] == held["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.get("/api/v1/me/points", headers=headers["alice"]).get_json()["balance"] == 60
    wrong_station = client.post(f"/api/v1/stations/{w.other_org.id}/pickups",
                                json={"code": held["pickup_code"], "nonce": "scan-000001"}, headers=headers["other_organizer"])
    assert wrong_station.status_code == 404 and wrong_station.get_json()["error"]["code"] == "pickup_code_invalid"
    scanned = client.post(f"/api/v1/stations/{w.org.id}/pickups", json={"token": held["pickup_token"], "nonce": "scan-000002"},
                          headers=headers["organizer"])
    assert scanned.status_code == 200 and scanned.get_json()["status"] == "fulfilled"
    assert scanned.get_json()["volunteer_name"] and "*" in scanned.get_json()["volunteer_name"]
    twice = client.post(f"/api/v1/stations/{w.org.id}/pickups", json={"code": held["pickup_code"], "nonce": "scan-000003"},
                        headers=headers["organizer"])
    assert twice.status_code == 404
    mine = client.get("/api/v1/me/redemptions", headers=headers["alice"]).get_json()["items"]
    assert [(r["status"], r["pickup_code"]) for r in mine] == [("fulfilled", None)]


def test_void_returns_points_and_stock(client, shop):
    w, headers, reward, _ = shop
    held = client.post(f"/api/v1/rewards/{reward['id']}/redemptions", json={"nonce": "tap-000002"},
                       headers=headers["alice"]).get_json()
    voided = client.post(f"/api/v1/me/redemptions/{held['id']}/void", json={"nonce": "void-000001"}, headers=headers["alice"])
    assert voided.status_code == 200 and voided.get_json()["status"] == "voided"
    assert client.get("/api/v1/me/points", headers=headers["alice"]).get_json()["balance"] == 100
    assert client.get(f"/api/v1/organizations/{w.org.id}/rewards", headers=headers["organizer"]).get_json()["items"][0]["stock"] == 3
    others = client.post(f"/api/v1/me/redemptions/{held['id']}/void", json={"nonce": "void-000002"}, headers=headers["bob"])
    assert others.status_code == 404 and others.get_json()["error"]["code"] == "redemption_not_found"
    again = client.post(f"/api/v1/me/redemptions/{held['id']}/void", json={"nonce": "void-000003"}, headers=headers["alice"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "redemption_not_held"


def test_bad_input_and_permissions(client, shop):
    w, headers, reward, body = shop
    url = f"/api/v1/organizations/{w.org.id}/rewards"
    assert client.post(url, json={**body, "nonce": "publish-0002"}, headers=headers["other_organizer"]).status_code == 403
    assert client.post(url, json={**body, "nonce": "publish-0003"}, headers=headers["alice"]).status_code == 403
    assert client.post(url, json={**body, "nonce": "publish-0004", "stock": -1}, headers=headers["organizer"]).status_code == 422
    assert client.post(url, json={**body, "nonce": "publish-0005", "points_price": "5"},
                       headers=headers["organizer"]).status_code == 422
    assert client.post(url, json={**body, "nonce": "publish-0006", "surprise": 1}, headers=headers["organizer"]).status_code == 422
    backwards = client.post(url, json={**body, "nonce": "publish-0007", "valid_until": body["valid_from"]},
                            headers=headers["organizer"])
    assert backwards.status_code == 422 and backwards.get_json()["error"]["code"] == "reward_validity_invalid"
    assert client.post(url, json={**body, "nonce": "publish-0008", "publisher": "sponsor"},
                       headers=headers["organizer"]).status_code == 422
    sponsored = client.post(url, json={**body, "nonce": "publish-0009", "publisher": "sponsor", "sponsor_name": "某超市"},
                            headers=headers["organizer"])
    assert sponsored.status_code == 201 and sponsored.get_json()["sponsor_name"] == "某超市"
    assert client.post(url, data="{", headers={**headers["organizer"], "Content-Type": "application/json"}).status_code == 400
    assert client.post(url, json=body).status_code == 401
    pickups = f"/api/v1/stations/{w.org.id}/pickups"
    assert client.post(pickups, json={"code": "12345", "nonce": "scan-000009"}, headers=headers["organizer"]).status_code == 422
    assert client.post(pickups, json={"nonce": "scan-000010"}, headers=headers["organizer"]).status_code == 422
    refused = client.post(pickups, json={"code": "123456", "nonce": "scan-000011"}, headers=headers["alice"])
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "not_station_operator"
    assert client.post(f"/api/v1/rewards/{reward['id']}/redemptions", json={}, headers=headers["alice"]).status_code == 422
    assert client.post("/api/v1/rewards/999999/redemptions", json={"nonce": "tap-000404"},
                       headers=headers["alice"]).status_code == 404
    edited = client.patch(f"/api/v1/rewards/{reward['id']}", json={"stock": 10, "nonce": "edit-000001"},
                          headers=headers["organizer"])
    assert edited.status_code == 200 and edited.get_json()["stock"] == 10
    assert client.patch(f"/api/v1/rewards/{reward['id']}", json={"stock": 1, "nonce": "edit-000002"},
                        headers=headers["other_organizer"]).status_code == 403
    withdrawn = client.post(f"/api/v1/rewards/{reward['id']}/withdraw", json={"nonce": "withdraw-01"},
                            headers=headers["organizer"])
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    gone = client.post(f"/api/v1/rewards/{reward['id']}/redemptions", json={"nonce": "tap-000003"}, headers=headers["alice"])
    assert gone.status_code == 409 and gone.get_json()["error"]["code"] == "reward_unavailable"


def test_out_of_stock_and_insufficient_points_have_codes(client, shop, now):
    w, headers, reward, body = shop
    small = client.post(f"/api/v1/organizations/{w.org.id}/rewards",
                        json={**body, "stock": 0, "nonce": "publish-0100"}, headers=headers["organizer"]).get_json()
    empty = client.post(f"/api/v1/rewards/{small['id']}/redemptions", json={"nonce": "tap-000100"}, headers=headers["alice"])
    assert empty.status_code == 409 and empty.get_json()["error"]["code"] == "out_of_stock"
    poor = client.post(f"/api/v1/rewards/{reward['id']}/redemptions", json={"nonce": "tap-000101"}, headers=headers["bob"])
    assert poor.status_code == 409 and poor.get_json()["error"]["code"] == "insufficient_points"


def test_the_station_lists_a_rewards_redemptions_with_masked_names(client, shop):
    w, headers, reward, _ = shop
    held = client.post(f"/api/v1/rewards/{reward['id']}/redemptions", json={"nonce": "tap-000200"},
                       headers=headers["alice"]).get_json()
    client.post(f"/api/v1/stations/{w.org.id}/pickups", json={"code": held["pickup_code"], "nonce": "scan-000200"},
                headers=headers["organizer"])
    url = f"/api/v1/rewards/{reward['id']}/redemptions"
    page = client.get(url, headers=headers["organizer"])
    assert page.status_code == 200, page.get_json()
    [line] = page.get_json()["items"]
    assert (line["status"], line["status_label"], line["volunteer_number"]) == ("fulfilled", "已领取", w.alice.volunteer_number)
    assert line["volunteer_name"] != w.alice.real_name and "*" in line["volunteer_name"]
    assert line["fulfilled_by_account_id"] == w.organizer.id and line["resolved_at"] and line["created_at"]
    assert page.get_json()["total"] == 1 and page.get_json()["next_cursor"] is None
    assert client.get(f"{url}?status=held", headers=headers["organizer"]).get_json()["items"] == []
    assert client.get(f"{url}?status=lost", headers=headers["organizer"]).status_code == 422
    assert client.get(f"{url}?cursor=nonsense", headers=headers["organizer"]).get_json()["error"]["code"] == "invalid_cursor"
    for who in ("alice", "other_organizer"):
        refused = client.get(url, headers=headers[who])
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "not_station_operator"
    assert client.get("/api/v1/rewards/999999/redemptions", headers=headers["organizer"]).status_code == 404


def test_operators_are_listed_and_removed(client, shop, now):
    w, headers, reward, _ = shop
    clerk = f.approved_volunteer("rw_clerk_http", w.tree["community"], now, real_name="王小明")
    db.session.commit()
    url = f"/api/v1/stations/{w.org.id}/operators"
    added = client.post(url, json={"account_id": clerk.account_id, "nonce": "op-000001"}, headers=headers["organizer"])
    assert added.status_code == 201
    [line] = client.get(url, headers=headers["organizer"]).get_json()["items"]
    assert (line["account_id"], line["name"], line["volunteer_number"]) == (clerk.account_id, "王*明", clerk.volunteer_number)
    assert client.get(url, headers=headers["other_organizer"]).status_code == 403
    assert client.delete(f"{url}/{clerk.account_id}", headers=headers["other_organizer"]).status_code == 403
    removed = client.delete(f"{url}/{clerk.account_id}", headers=headers["organizer"])
    assert removed.status_code == 200 and removed.get_json()["removed"] is True
    again = client.delete(f"{url}/{clerk.account_id}", headers=headers["organizer"])
    assert again.status_code == 200 and again.get_json()["removed"] is False
    assert client.get(url, headers=headers["organizer"]).get_json()["items"] == []
    assert client.delete(f"/api/v1/stations/999999/operators/{clerk.account_id}",
                         headers=headers["organizer"]).status_code == 404


def test_reward_lists_take_a_cursor(client, shop):
    w, headers, reward, body = shop
    second = client.post(f"/api/v1/organizations/{w.org.id}/rewards", json={**body, "nonce": "publish-0300"},
                         headers=headers["organizer"]).get_json()
    url = f"/api/v1/organizations/{w.org.id}/rewards"
    first_page = client.get(f"{url}?limit=1", headers=headers["organizer"]).get_json()
    assert [r["id"] for r in first_page["items"]] == [second["id"]] and first_page["total"] == 2
    rest = client.get(f"{url}?limit=1&cursor={first_page['next_cursor']}", headers=headers["organizer"]).get_json()
    assert [r["id"] for r in rest["items"]] == [reward["id"]] and rest["next_cursor"] is None
    mine = client.get("/api/v1/rewards?limit=1", headers=headers["alice"]).get_json()
    assert len(mine["items"]) == 1 and mine["total"] == 2 and mine["next_cursor"]
    assert client.get("/api/v1/rewards?limit=0", headers=headers["alice"]).status_code == 422


def test_a_sponsor_organisation_reads_its_sponsor_account(client, shop):
    w, headers, _, body = shop
    sponsored = client.post(f"/api/v1/organizations/{w.org.id}/rewards",
                            json={**body, "publisher": "sponsor", "sponsor_name": "爱心理发店", "nonce": "publish-0400"},
                            headers=headers["organizer"]).get_json()
    held = client.post(f"/api/v1/rewards/{sponsored['id']}/redemptions", json={"nonce": "tap-000400"},
                       headers=headers["alice"]).get_json()
    client.post(f"/api/v1/stations/{w.org.id}/pickups", json={"token": held["pickup_token"], "nonce": "scan-000400"},
                headers=headers["organizer"])
    url = f"/api/v1/organizations/{w.org.id}/points/sponsor-account"
    account = client.get(f"{url}?limit=1", headers=headers["organizer"])
    assert account.status_code == 200, account.get_json()
    assert account.get_json()["balance"] == 40
    assert [(i["amount"], i["code_label"]) for i in account.get_json()["items"]] == [(40, "兑换完成")]
    assert client.get(url, headers=headers["other_organizer"]).status_code == 403
    assert client.get(f"/api/v1/organizations/{w.org.id}/points", headers=headers["organizer"]).get_json()["balance"] == 0
