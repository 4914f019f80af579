"""The limits of entered time over real concurrent HTTP: one credit per person and time, never past the cap.

Requests are released together by a barrier against a served app (as in test_ledger_concurrency.py,
whose control shows the harness makes races happen on PostgreSQL). On SQLite every transaction runs
alone, so these pass there too; the PostgreSQL run is the one that proves the per-volunteer lock.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from app.extensions import db

from tests import factories as f
from tests.fakes import fire, serve
from tests.recording_world import held_activity, ledger

CONCURRENCY = 8


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now).build("tree", "org", "team", "organizer", "captain", "alice")
        first = held_activity(w, now, attendees=(w.alice,))
        # Four more activities at the same time in other places, alice signed up to each.
        others = [held_activity(w, now, attendees=(w.alice,), title=f"同时活动{i}") for i in range(4)]
        world = {"activity_id": first.id, "others": [a.id for a in others], "alice": w.alice.id,
                 "starts_at": first.starts_at, "ends_at": first.ends_at,
                 "organizer": f.bearer(w.organizer), "captain": f.bearer(w.captain), "alice_h": f.bearer(w.alice.account)}
        db.session.commit()
    app.extensions["clock"] = lambda: now
    return world


def send_all(base_url, requests_to_send):
    """POST each (path, body, headers) at once; the (status, body) answers in order."""
    barrier = threading.Barrier(len(requests_to_send))

    def send(item):
        path, body, headers = item
        barrier.wait(timeout=30)
        response = requests.post(f"{base_url}{path}", json=body, headers=headers, timeout=60)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        return list(pool.map(send, requests_to_send))



def test_simultaneous_entries_in_five_places_at_one_time_credit_one(app, world):
    activity_ids = [world["activity_id"], *world["others"]]
    to_send = [(f"/api/v1/activities/{activity_ids[i % len(activity_ids)]}/bulk-entries",
                {"rows": [{"volunteer_id": world["alice"]}], "nonce": f"five-places-{i:04d}"}, world["organizer"])
               for i in range(CONCURRENCY)]
    with serve(app) as base_url:
        results = send_all(base_url, to_send)
    assert {status for status, _ in results} == {201}
    codes = [body["rows"][0]["error"]["code"] if body["rows"][0]["error"] else "recorded" for _, body in results]
    assert codes.count("recorded") == 1
    assert codes.count("overlapping_service") == CONCURRENCY - 1
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}


def test_simultaneous_spans_at_one_activity_never_pass_its_cap(app, world):
    """Separate half hours never overlap, but with 120 minutes already credited only four more fit in 240."""
    start = world["starts_at"]
    path = f"/api/v1/activities/{world['activity_id']}/bulk-entries"
    with serve(app) as base_url:
        first = requests.post(f"{base_url}{path}", json={"rows": [{
            "volunteer_id": world["alice"], "started_at": (start - timedelta(minutes=30)).isoformat(),
            "ended_at": start.isoformat()}], "nonce": "cap-seed-0001"}, headers=world["organizer"], timeout=60).json()
        requests.post(f"{base_url}/api/v1/service-records/{first['rows'][0]['record_id']}/corrections",
                      json={"minutes_delta": 90, "reason": "提前布置会场", "nonce": "cap-seed-0002"},
                      headers=world["organizer"], timeout=60).raise_for_status()
        spans = [(start + timedelta(minutes=30 * i), start + timedelta(minutes=30 * (i + 1))) for i in range(7)]
        results = fire(base_url, path, [({"rows": [{"volunteer_id": world["alice"], "started_at": s.isoformat(),
                                                    "ended_at": e.isoformat()}], "nonce": f"cap-span-{i:04d}"},
                                         world["organizer"]) for i, (s, e) in enumerate(spans)])
    codes = [body["rows"][0]["error"]["code"] if body["rows"][0]["error"] else "recorded" for _, body in results]
    assert codes.count("recorded") == 4
    assert codes.count("minutes_exceed_activity") == 3
    assert ledger(app, world["alice"]) == {"balances": 240, "summed": 240, "total": 240}


def test_a_confirmation_and_entries_elsewhere_at_once_credit_one(app, world):
    path = f"/api/v1/activities/{world['activity_id']}/declarations"
    with serve(app) as base_url:
        made = requests.post(f"{base_url}{path}", json={
            "started_at": world["starts_at"].isoformat(), "ended_at": world["ends_at"].isoformat(), "note": "忘记扫码",
            "nonce": "declare-race-1"}, headers=world["alice_h"], timeout=60).json()
        to_send = [(f"/api/v1/declarations/{made['id']}/decision", {"decision": "confirm", "nonce": "confirm-race"},
                    world["captain"])]
        to_send += [(f"/api/v1/activities/{world['others'][i % 4]}/bulk-entries",
                     {"rows": [{"volunteer_id": world["alice"]}], "nonce": f"elsewhere-{i:04d}"}, world["organizer"])
                    for i in range(CONCURRENCY - 1)]
        results = send_all(base_url, to_send)
    confirmed = results[0][0] == 200
    entered = sum(1 for status, body in results[1:] if status == 201 and body["recorded"] == 1)
    assert confirmed + entered == 1
    if not confirmed:
        assert results[0][1]["error"]["code"] == "overlapping_service"
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}


def test_one_sign_in_sheet_committed_at_once_by_many_credits_once(app, world):
    from tests.recording_world import xlsx
    from app.timeutil import to_local

    rows = [["姓名", "手机后四位", "签到时间", "签退时间"],
            ["张三丰", "5678", to_local(world["starts_at"]).strftime("%H:%M"), to_local(world["ends_at"]).strftime("%H:%M")]]
    base = f"/api/v1/activities/{world['activity_id']}/bulk-entries/previews"
    with serve(app) as base_url:
        shown = requests.post(f"{base_url}{base}", json={"filename": "签到表.xlsx", "content_base64": xlsx(rows),
                                                          "nonce": "sheet-race-1"}, headers=world["organizer"],
                              timeout=60).json()
        results = fire(base_url, f"{base}/{shown['id']}/commit",
                       [({"nonce": f"commit-race-{i:04d}"}, world["organizer"]) for i in range(CONCURRENCY)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (CONCURRENCY - 1)
    assert {body["error"]["code"] for status, body in results if status == 409} == {"preview_already_committed"}
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}


def test_a_check_out_and_entries_elsewhere_at_once_credit_one(app, world):
    """The scan path takes the same per-volunteer lock (inside its closing UPDATE) and checks the same rules."""
    path = f"/api/v1/activities/{world['activity_id']}/manual-checkins"
    manual = {"volunteer_id": world["alice"], "reason": "老人无智能手机"}
    with serve(app) as base_url:
        checked_in = requests.post(f"{base_url}{path}", json={**manual, "nonce": "scan-race-in",
                                                               "at": world["starts_at"].isoformat()},
                                   headers=world["captain"], timeout=60)
        assert checked_in.json()["result"] == "checked_in"
        to_send = [(path, {**manual, "nonce": "scan-race-out", "at": world["ends_at"].isoformat()}, world["captain"])]
        to_send += [(f"/api/v1/activities/{world['others'][i % 4]}/bulk-entries",
                     {"rows": [{"volunteer_id": world["alice"]}], "nonce": f"scan-elsewhere-{i:04d}"},
                     world["organizer"]) for i in range(CONCURRENCY - 1)]
        results = send_all(base_url, to_send)
    checked_out = results[0][0] == 200
    entered = sum(1 for status, body in results[1:] if status == 201 and body["recorded"] == 1)
    assert checked_out + entered == 1
    if not checked_out:
        assert results[0][1]["error"]["code"] == "overlapping_service"
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}


def test_check_outs_at_two_activities_at_once_credit_one(app, world):
    """Two captains close the same person's stays at two activities held at the same time."""
    activity_ids = [world["activity_id"], *world["others"]]
    manual = {"volunteer_id": world["alice"], "reason": "老人无智能手机"}
    with serve(app) as base_url:
        for i, activity_id in enumerate(activity_ids):
            answer = requests.post(f"{base_url}/api/v1/activities/{activity_id}/manual-checkins",
                                   json={**manual, "nonce": f"two-in-{i:04d}", "at": world["starts_at"].isoformat()},
                                   headers=world["organizer"], timeout=60)
            assert answer.json()["result"] == "checked_in"
        results = send_all(base_url, [(f"/api/v1/activities/{activity_id}/manual-checkins",
                                       {**manual, "nonce": f"two-out-{i:04d}", "at": world["ends_at"].isoformat()},
                                       world["organizer"]) for i, activity_id in enumerate(activity_ids)])
    assert sorted(status for status, _ in results) == [200] + [409] * (len(activity_ids) - 1)
    assert {body["error"]["code"] for status, body in results if status == 409} == {"overlapping_service"}
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}
