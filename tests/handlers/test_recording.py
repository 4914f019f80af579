"""Every way to enter time by hand, over HTTP: who may, what each row or request becomes, and the two limits.

Bulk entry (a table; a sign-in sheet's preview, then its commit), self-declaration (confirmed or
refused by the activity's captain or organiser) and 补录 (approved by an admin of a region above,
never its author) each end in service records of their source; the balance at the activity, the
records and the volunteer's totals always agree; a person's minutes on an activity never pass its
duration plus margins, and no one is credited in two places at overlapping times.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import checkin_codes
from app.extensions import db
from app.services import checkin_displays, roles, uploads
from app.timeutil import to_local
from models import Activity, ActivityStatus, AuditLog, Organization, Role, ServiceRecord, UploadPurpose, Volunteer
from tests import factories as f
from tests.recording_world import held_activity, jpeg, ledger, sign_up, xlsx


@pytest.fixture
def world(app, now):
    with app.app_context():
        w = f.World(now).build("tree", "org", "team", "organizer", "captain", "alice", "bob")
        w.build("other_org", "other_organizer", "admin", "city_admin")
        activity = held_activity(w, now, attendees=(w.alice, w.bob))
        w.bob.volunteer_number, w.bob.real_name, w.bob.mobile = "T3000007", "王小明", "13800001234"
        outsider = f.approved_volunteer("sim_carol", w.tree["community"], now, real_name="李四")
        photo = uploads.store(w.alice.account.id, UploadPurpose.DECLARATION_PHOTO, jpeg(), content_type="image/jpeg",
                              now=now)
        evidence = uploads.store(w.organizer.id, UploadPurpose.EVIDENCE, jpeg(), content_type="image/jpeg", now=now)
        world = {"activity_id": activity.id, "alice": w.alice.id, "bob": w.bob.id, "carol": outsider.id,
                 "starts_at": activity.starts_at, "ends_at": activity.ends_at, "org": w.org.id,
                 "photo": photo.token, "evidence": evidence.token, "organizer_id": w.organizer.id,
                 "city_id": w.tree["city"].id,
                 "h": w.bearers("organizer", "captain", "other_organizer", "alice", "bob", "admin", "city_admin")}
        world["h"]["carol"] = f.bearer(outsider.account)
        db.session.commit()
    app.extensions["clock"] = lambda: now
    return world


def told(app, kind):
    """(account, title) of each notice of `kind` written to the outbox, in order."""
    from models import Notification

    with app.app_context():
        rows = db.session.scalars(select(Notification).where(Notification.kind == kind).order_by(Notification.id))
        return [(row.account_id, row.payload.get("title") or row.payload.get("data", {}).get("thing1", {}).get("value"))
                for row in rows]


def volunteer_account(app, volunteer_id):
    with app.app_context():
        return db.session.get(Volunteer, volunteer_id).account_id


def second_activity(app, world, now, *, at=None):
    """Another activity of the org at the same time (or `at`), with alice and bob signed up."""
    with app.app_context():
        org = db.session.get(Organization, world["org"])
        activity = f.activity(org, db.session.get(Volunteer, world["alice"]).region, now,
                              starts_in=(at or world["starts_at"]) - now, duration=timedelta(hours=3), title="社区义诊")
        for volunteer_id in (world["alice"], world["bob"]):
            sign_up(activity, db.session.get(Volunteer, volunteer_id), now)
        db.session.commit()
        return activity.id


def table(client, world, rows, nonce, who="organizer", activity_id=None):
    return client.post(f"/api/v1/activities/{activity_id or world['activity_id']}/bulk-entries",
                       json={"rows": rows, "nonce": nonce}, headers=world["h"][who])


def iso(moment):
    return moment.isoformat()


# --- bulk entry: the table --------------------------------------------------------------------------

def test_a_table_credits_each_row_with_source_bulk(app, client, world):
    late = world["starts_at"] + timedelta(minutes=30)
    answer = table(client, world, [{"volunteer_id": world["alice"]},
                                   {"volunteer_id": world["bob"], "started_at": iso(late)}], "table-0001")
    assert answer.status_code == 201
    assert (answer.json["recorded"], answer.json["refused"], answer.json["minutes"]) == (2, 0, 180 + 150)
    assert [(r["status"], r["minutes"]) for r in answer.json["rows"]] == [("recorded", 180), ("recorded", 150)]
    with app.app_context():
        sources = {r.source.value for r in db.session.scalars(select(ServiceRecord))}
        assert sources == {"bulk"}
        assert db.session.get(Volunteer, world["alice"]).service_record_count == 1
        assert db.session.scalar(select(AuditLog.action).where(AuditLog.action == "service_records.bulk_entered"))
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}


def test_table_rows_refused_with_their_codes_leave_nothing(app, client, world):
    table(client, world, [{"volunteer_id": world["alice"]}], "table-first")
    before = world["starts_at"] - timedelta(hours=3)
    answer = table(client, world, [
        {"volunteer_id": world["carol"]},                                          # not signed up
        {"volunteer_id": world["bob"], "started_at": iso(before), "ended_at": iso(before + timedelta(hours=1))},
        {"volunteer_id": world["alice"], "started_at": iso(world["starts_at"] + timedelta(hours=1))},  # again
        {"volunteer_id": world["bob"], "started_at": iso(world["ends_at"]), "ended_at": iso(world["starts_at"])},
    ], "table-refusals")
    assert answer.status_code == 201
    assert [r["error"]["code"] for r in answer.json["rows"]] == [
        "not_signed_up", "times_outside_activity", "overlapping_service", "invalid_times"]
    assert answer.json["recorded"] == 0
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}
    assert ledger(app, world["bob"]) == {"balances": 0, "summed": 0, "total": 0}


@pytest.mark.parametrize("who, status", [("captain", 201), ("organizer", 201), ("other_organizer", 403),
                                         ("alice", 403)])
def test_who_enters_a_table(client, world, who, status):
    assert table(client, world, [{"volunteer_id": world["alice"]}], f"who-{who}", who=who).status_code == status


def test_a_repeated_nonce_answers_the_first_time_and_credits_once(app, client, world):
    first = table(client, world, [{"volunteer_id": world["alice"]}], "same-nonce-1")
    again = table(client, world, [{"volunteer_id": world["alice"]}], "same-nonce-1")
    assert again.status_code == 201 and again.json == first.json
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert ledger(app, world["alice"])["summed"] == 180


def test_nothing_is_entered_before_the_activity_starts(app, client, world, now):
    with app.app_context():
        org = db.session.get(Organization, world["org"])
        later = f.activity(org, db.session.get(Volunteer, world["alice"]).region, now)
        sign_up(later, db.session.get(Volunteer, world["alice"]), now)
        db.session.commit()
        later_id = later.id
    answer = table(client, world, [{"volunteer_id": world["alice"]}], "too-early-1", activity_id=later_id)
    assert answer.status_code == 409 and answer.json["error"]["code"] == "activity_not_started"


def test_minutes_never_pass_the_activitys_duration_and_margins(app, client, world):
    early = world["starts_at"] - timedelta(minutes=30)
    first = table(client, world, [{"volunteer_id": world["alice"], "started_at": iso(early),
                                   "ended_at": iso(world["starts_at"])}], "cap-first")
    record_id = first.json["rows"][0]["record_id"]
    correction = client.post(f"/api/v1/service-records/{record_id}/corrections",
                             json={"minutes_delta": 60, "reason": "提前布置会场", "nonce": "cap-correct"},
                             headers=world["h"]["organizer"])
    assert correction.status_code == 201                                        # 90 of 240 now
    answer = table(client, world, [{"volunteer_id": world["alice"],
                                    "ended_at": iso(world["ends_at"] + timedelta(minutes=30))}], "cap-full")
    assert answer.json["rows"][0]["error"]["code"] == "minutes_exceed_activity"  # 90 + 210 > 240
    fits = table(client, world, [{"volunteer_id": world["alice"]}], "cap-fits")  # 90 + 180 > 240 too
    assert fits.json["rows"][0]["error"]["code"] == "minutes_exceed_activity"
    part = table(client, world, [{"volunteer_id": world["alice"],
                                  "ended_at": iso(world["starts_at"] + timedelta(minutes=150))}], "cap-part")
    assert part.json["rows"][0]["status"] == "recorded"                         # exactly 240
    assert ledger(app, world["alice"]) == {"balances": 240, "summed": 240, "total": 240}


def test_no_one_is_credited_in_two_places_at_once(app, client, world, now):
    other_id = second_activity(app, world, now, at=world["starts_at"] + timedelta(hours=2))
    table(client, world, [{"volunteer_id": world["alice"]}], "two-places-1")
    overlapping = table(client, world, [{"volunteer_id": world["alice"]}], "two-places-2", activity_id=other_id)
    assert overlapping.json["rows"][0]["error"]["code"] == "overlapping_service"
    after = table(client, world, [{"volunteer_id": world["alice"],
                                   "started_at": iso(world["ends_at"] + timedelta(minutes=1))}], "two-places-3",
                  activity_id=other_id)
    assert after.json["rows"][0]["status"] == "recorded"


def test_an_entry_overlapping_a_scanned_check_in_is_refused(app, client, now):
    with app.app_context():
        w = f.World(now, prefix="S").build("tree", "org", "team", "organizer", "alice")
        scanned = w.add_attended_activity()           # alice scanned in and out: [start, start + 1h]
        same_time = w.add_activity(starts_in=scanned.starts_at - now, duration=timedelta(hours=2), title="同时活动")
        sign_up(same_time, w.alice, now)
        ids = {"activity": same_time.id, "alice": w.alice.id, "organizer": f.bearer(w.organizer)}
        db.session.commit()
    app.extensions["clock"] = lambda: now + timedelta(hours=5)
    answer = client.post(f"/api/v1/activities/{ids['activity']}/bulk-entries",
                         json={"rows": [{"volunteer_id": ids["alice"]}], "nonce": "scan-overlap"},
                         headers=ids["organizer"])
    assert answer.json["rows"][0]["error"]["code"] == "overlapping_service"


# --- bulk entry: the sign-in sheet --------------------------------------------------------------------

def sheet_rows(world):
    day = to_local(world["starts_at"])
    start, end = day.strftime("%H:%M"), to_local(world["ends_at"]).strftime("%H:%M")
    return [
        ["序号", "姓名", "手机后四位", "志愿者编号", "签到时间", "签退时间"],
        [1, "张三丰", "5678", None, start, end],                        # alice by name and last four
        [2, None, None, "T3000007", day.replace(tzinfo=None) + timedelta(minutes=30), end],  # bob by number
        [3, "王五", "1111", None, start, end],                          # nobody
        [4, "张三丰", "0000", None, start, end],                        # wrong last four
        [5, "张三丰", "5678", None, "九点", end],                        # unreadable time
        [6, "张三丰", "5678", None, start, end],                        # alice again, overlapping row 2
        [],
    ]


def preview(client, world, content, nonce="preview-0001", who="organizer", filename="签到表.xlsx"):
    return client.post(f"/api/v1/activities/{world['activity_id']}/bulk-entries/previews",
                       json={"filename": filename, "content_base64": content, "nonce": nonce}, headers=world["h"][who])


def commit(client, world, preview_id, nonce="commit-0001", who="organizer"):
    return client.post(f"/api/v1/activities/{world['activity_id']}/bulk-entries/previews/{preview_id}/commit",
                       json={"nonce": nonce}, headers=world["h"][who])


def test_a_sign_in_sheet_previews_each_row_by_its_number_then_commits_the_good_ones(app, client, world):
    shown = preview(client, world, xlsx(sheet_rows(world)))
    assert shown.status_code == 201
    rows = {r["row"]: r for r in shown.json["rows"]}
    assert sorted(rows) == [3, 4, 5, 6, 7, 8]  # Excel row numbers: a title line, then the header
    assert (rows[3]["status"], rows[3]["volunteer_id"], rows[3]["minutes"]) == ("ok", world["alice"], 180)
    assert (rows[4]["status"], rows[4]["volunteer_id"], rows[4]["minutes"]) == ("ok", world["bob"], 150)
    assert rows[4]["volunteer_name"] != "张三丰" and rows[3]["volunteer_name"].startswith("张")
    assert [p["code"] for p in rows[5]["problems"]] == ["volunteer_not_matched"]
    assert [p["code"] for p in rows[6]["problems"]] == ["volunteer_not_matched"]
    assert "invalid_times" in [p["code"] for p in rows[7]["problems"]]
    assert [p["code"] for p in rows[8]["problems"]] == ["overlapping_service"]
    assert (shown.json["ok"], shown.json["problems"]) == (2, 4)
    assert ledger(app, world["alice"])["summed"] == 0  # a preview credits nothing

    done = commit(client, world, shown.json["id"])
    assert done.status_code == 201
    assert (done.json["recorded"], done.json["skipped"], done.json["refused"]) == (2, 4, 0)
    with app.app_context():
        assert {r.source.value for r in db.session.scalars(select(ServiceRecord))} == {"bulk"}
    assert ledger(app, world["bob"]) == {"balances": 150, "summed": 150, "total": 150}
    assert commit(client, world, shown.json["id"]).json == done.json                 # the same nonce: the answer
    again = commit(client, world, shown.json["id"], nonce="commit-0002")
    assert again.status_code == 409 and again.json["error"]["code"] == "preview_already_committed"
    seen = client.get(f"/api/v1/activities/{world['activity_id']}/bulk-entries/previews/{shown.json['id']}",
                      headers=world["h"]["captain"])
    assert seen.status_code == 200 and seen.json["result"]["recorded"] == 2


def test_a_commit_checks_each_row_again(app, client, world):
    shown = preview(client, world, xlsx(sheet_rows(world)[:3]))
    table(client, world, [{"volunteer_id": world["alice"]}], "meanwhile-1")  # alice credited since the preview
    done = commit(client, world, shown.json["id"])
    assert [(r["status"], (r["error"] or {}).get("code")) for r in done.json["rows"]] == [
        ("refused", "overlapping_service"), ("recorded", None)]
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}


def test_an_expired_preview_is_not_committed(app, client, world, now):
    shown = preview(client, world, xlsx(sheet_rows(world)[:2]))
    app.extensions["clock"] = lambda: now + timedelta(hours=25)
    late = commit(client, world, shown.json["id"])
    assert late.status_code == 409 and late.json["error"]["code"] == "preview_expired"
    assert ledger(app, world["alice"])["summed"] == 0
    # The next upload removes the expired one (it held names from the sheet).
    assert preview(client, world, xlsx(sheet_rows(world)[:2]), nonce="preview-later").status_code == 201
    gone = client.get(f"/api/v1/activities/{world['activity_id']}/bulk-entries/previews/{shown.json['id']}",
                      headers=world["h"]["organizer"])
    assert gone.status_code == 404 and gone.json["error"]["code"] == "preview_not_found"


@pytest.mark.parametrize("content, code", [
    ("bm90IGEgemlw", "invalid_spreadsheet"),                                   # "not a zip"
    ("not base64!", "validation_failed"),
    (None, "missing_columns"),
    ("empty", "empty_spreadsheet"),
])
def test_unusable_sheets_are_refused_clearly(client, world, content, code):
    if content is None:
        content = xlsx([["序号", "姓名", "签到时间"], [1, "张三丰", "9:00"]])
    elif content == "empty":
        content = xlsx([["姓名", "手机后四位", "签到时间", "签退时间"]])
    answer = preview(client, world, content)
    assert answer.status_code == 422 and answer.json["error"]["code"] == code


def test_a_preview_is_for_the_activitys_managers_only(client, world):
    content = xlsx(sheet_rows(world)[:2])
    assert preview(client, world, content, who="other_organizer").status_code == 403
    shown = preview(client, world, content, nonce="preview-own")
    assert commit(client, world, shown.json["id"], who="other_organizer").status_code == 403
    assert client.get(f"/api/v1/activities/{world['activity_id']}/bulk-entries/previews/{shown.json['id']}",
                      headers=world["h"]["alice"]).status_code == 403


def test_the_sign_in_sheet_template_lists_the_sign_ups_and_reads_back_by_number(app, client, world):
    import base64
    import io

    from openpyxl import load_workbook

    got = client.get(f"/api/v1/activities/{world['activity_id']}/bulk-entries/template", headers=world["h"]["captain"])
    assert got.status_code == 200 and got.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in got.headers["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(got.data)).active.iter_rows(values_only=True))
    assert rows[1][:5] == ("姓名", "志愿者编号", "手机后四位", "签到时间", "签退时间")
    listed = {row[1]: row[0] for row in rows[2:]}
    assert listed["T3000007"] == "王*明" and len(rows) == 4  # bob by number, alice too; names masked
    shown = preview(client, world, base64.b64encode(got.data).decode(), nonce="preview-template")
    assert shown.status_code == 201, shown.json
    by_number = {row["volunteer_number"]: row for row in shown.json["rows"] if row["volunteer_number"]}
    assert by_number["T3000007"]["status"] == "ok" and by_number["T3000007"]["minutes"] == 180
    for who in ("other_organizer", "alice"):
        refused = client.get(f"/api/v1/activities/{world['activity_id']}/bulk-entries/template",
                             headers=world["h"][who])
        assert refused.status_code == 403 and refused.json["error"]["code"]


# --- self-declaration ---------------------------------------------------------------------------------

def declare(client, world, who="alice", nonce="declare-0001", **body):
    payload = {"started_at": iso(world["starts_at"]), "ended_at": iso(world["ends_at"]), "note": "扫码时手机没电",
               "photos": [world["photo"]], "nonce": nonce, **body}
    return client.post(f"/api/v1/activities/{world['activity_id']}/declarations", json=payload, headers=world["h"][who])


def decide(client, world, declaration_id, decision, who="captain", nonce="decide-0001", reason=None):
    return client.post(f"/api/v1/declarations/{declaration_id}/decision",
                       json={"decision": decision, "reason": reason, "nonce": nonce}, headers=world["h"][who])


def test_a_declaration_confirmed_becomes_a_record_of_source_declaration(app, client, world):
    made = declare(client, world)
    assert made.status_code == 201
    assert (made.json["status"], made.json["minutes"], len(made.json["photos"])) == ("pending", 180, 1)
    assert made.json["photos"][0]["url"]
    assert ledger(app, world["alice"])["summed"] == 0
    queue = client.get(f"/api/v1/activities/{world['activity_id']}/declarations?status=pending",
                       headers=world["h"]["organizer"])
    assert [item["id"] for item in queue.json["items"]] == [made.json["id"]]
    done = decide(client, world, made.json["id"], "confirm")
    assert done.status_code == 200 and done.json["status"] == "approved" and done.json["record_id"]
    with app.app_context():
        record = db.session.get(ServiceRecord, done.json["record_id"])
        assert (record.source.value, record.kind.value, record.minutes) == ("declaration", "attendance", 180)
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}
    again = decide(client, world, made.json["id"], "refuse", nonce="decide-0002", reason="重复")
    assert again.status_code == 409 and again.json["error"]["code"] == "already_decided"
    mine = client.get("/api/v1/me/declarations", headers=world["h"]["alice"])
    assert [item["status"] for item in mine.json["items"]] == ["approved"]
    assert told(app, "declaration_result") == [(volunteer_account(app, world["alice"]), "时长申报已确认")]


def test_a_refusal_needs_a_reason_and_credits_nothing(app, client, world):
    made = declare(client, world)
    missing = decide(client, world, made.json["id"], "refuse")
    assert missing.status_code == 422 and missing.json["error"]["code"] == "reason_required"
    refused = decide(client, world, made.json["id"], "refuse", nonce="decide-0002", reason="当天未见到本人")
    assert refused.json["status"] == "rejected" and refused.json["decision_reason"] == "当天未见到本人"
    assert ledger(app, world["alice"])["summed"] == 0
    assert told(app, "declaration_result") == [(volunteer_account(app, world["alice"]), "时长申报未确认")]


def test_declaration_refusals(client, world):
    assert declare(client, world, who="carol").json["error"]["code"] == "not_signed_up"
    assert declare(client, world, nonce="declare-late", ended_at=iso(world["ends_at"] + timedelta(hours=3))
                   ).json["error"]["code"] == "invalid_times"  # after now
    too_many = declare(client, world, nonce="declare-photos", photos=[world["photo"]] * 10)
    assert too_many.status_code == 422
    not_hers = declare(client, world, nonce="declare-evidence", photos=[world["evidence"]])
    assert not_hers.json["error"]["code"] == "upload_not_found"
    assert declare(client, world).status_code == 201
    twice = declare(client, world, nonce="declare-0002")
    assert twice.status_code == 409 and twice.json["error"]["code"] == "declaration_pending"


def test_only_the_activitys_managers_decide_and_see_a_declaration(client, world):
    made = declare(client, world)
    assert decide(client, world, made.json["id"], "confirm", who="other_organizer").status_code == 403
    assert decide(client, world, made.json["id"], "confirm", who="alice", nonce="decide-self").status_code == 403
    assert client.get(f"/api/v1/declarations/{made.json['id']}", headers=world["h"]["bob"]).status_code == 404
    assert client.get(f"/api/v1/declarations/{made.json['id']}", headers=world["h"]["alice"]).status_code == 200


def test_a_confirmation_that_no_longer_fits_is_refused_and_leaves_it_pending(app, client, world):
    made = declare(client, world)
    table(client, world, [{"volunteer_id": world["alice"]}], "meanwhile-2")
    late = decide(client, world, made.json["id"], "confirm")
    assert late.status_code == 409 and late.json["error"]["code"] == "overlapping_service"
    shown = client.get(f"/api/v1/declarations/{made.json['id']}", headers=world["h"]["captain"])
    assert shown.json["status"] == "pending"
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}


def other_orgs_declaration(app, client, world, now):
    """Carol at an activity of another organisation (same hours as ours), declared and pending."""
    with app.app_context():
        other = db.session.scalar(select(Organization).where(Organization.id != world["org"]))
        activity = f.activity(other, db.session.get(Volunteer, world["carol"]).region, now,
                              starts_in=world["starts_at"] - now, duration=timedelta(hours=3), title="乙区义诊")
        sign_up(activity, db.session.get(Volunteer, world["carol"]), now)
        db.session.commit()
        activity_id, other_id = activity.id, other.id
    made = client.post(f"/api/v1/activities/{activity_id}/declarations", headers=world["h"]["carol"], json={
        "started_at": iso(world["starts_at"]), "ended_at": iso(world["ends_at"]), "nonce": "declare-carol"})
    assert made.status_code == 201
    return made.json["id"], other_id


def scoped(client, world, who="organizer", **query):
    return client.get("/api/v1/declarations", query_string=query, headers=world["h"][who])


def test_the_console_queue_lists_declarations_only_where_the_caller_manages(app, client, world, now):
    ours = declare(client, world).json["id"]
    theirs, other_org = other_orgs_declaration(app, client, world, now)
    mine = scoped(client, world, status="pending")
    assert mine.status_code == 200 and [i["id"] for i in mine.json["items"]] == [ours]
    assert mine.json["items"][0]["activity_title"] and mine.json["total"] == 1
    assert [i["id"] for i in scoped(client, world, who="captain").json["items"]] == [ours]
    assert [i["id"] for i in scoped(client, world, who="other_organizer").json["items"]] == [theirs]
    # Naming someone else's organisation narrows to nothing; it never widens the scope.
    assert scoped(client, world, organization_id=other_org).json == {"items": [], "total": 0, "page": 1, "per_page": 20}
    assert [i["id"] for i in scoped(client, world, organization_id=world["org"]).json["items"]] == [ours]
    assert scoped(client, world, who="alice").json["total"] == 0
    assert scoped(client, world, who="city_admin").json["total"] == 0
    assert client.get("/api/v1/declarations").status_code == 401


def test_the_console_queue_pages_and_filters_by_status(client, world):
    first = declare(client, world).json["id"]
    second = declare(client, world, who="bob", nonce="declare-bob", photos=[]).json["id"]
    one = scoped(client, world, per_page=1)
    two = scoped(client, world, per_page=1, page=2)
    assert (one.json["total"], [i["id"] for i in one.json["items"]]) == (2, [first])
    assert [i["id"] for i in two.json["items"]] == [second]
    assert scoped(client, world, per_page=1, page=3).json["items"] == []
    decide(client, world, first, "confirm")
    assert [i["id"] for i in scoped(client, world, status="pending").json["items"]] == [second]
    assert [i["status"] for i in scoped(client, world, status="approved").json["items"]] == ["approved"]


@pytest.mark.parametrize("query", [{"status": "bogus"}, {"page": "0"}, {"per_page": "101"}, {"page": "x"},
                                   {"organization_id": "abc"}, {"team_id": "-1"}, {"sort": "id"}])
def test_the_console_queue_refuses_bad_queries_as_json(client, world, query):
    answer = scoped(client, world, **query)
    assert answer.status_code == 422 and answer.is_json
    assert answer.json["error"]["code"] == "validation_failed" and answer.json["error"]["message"]


# --- 补录 ---------------------------------------------------------------------------------------------

def enter(client, world, now, who="organizer", nonce="retro-0001", **body):
    starts_at = now - timedelta(days=10)
    payload = {"title": "河道清洁", "place": "一社区河道", "beneficiary": "社区居民", "content": "清理河道垃圾",
               "starts_at": iso(starts_at), "ends_at": iso(starts_at + timedelta(hours=2)),
               "attendees": [{"volunteer_id": world["alice"]},
                             {"volunteer_id": world["bob"], "ended_at": iso(starts_at + timedelta(hours=1))}],
               "evidence": [world["evidence"]], "nonce": nonce, **body}
    return client.post(f"/api/v1/organizations/{world['org']}/retroactive-entries", json=payload,
                       headers=world["h"][who])


def decide_entry(client, world, entry_id, decision, who="city_admin", nonce="retro-decide-1", reason=None):
    return client.post(f"/api/v1/retroactive-entries/{entry_id}/decision",
                       json={"decision": decision, "reason": reason, "nonce": nonce}, headers=world["h"][who])


def test_a_retroactive_entry_approved_a_level_above_becomes_records(app, client, world, now):
    made = enter(client, world, now)
    assert made.status_code == 201 and made.json["status"] == "pending" and len(made.json["evidence"]) == 1
    assert ledger(app, world["alice"])["summed"] == 0
    queue = client.get("/api/v1/retroactive-entries?status=pending", headers=world["h"]["city_admin"])
    assert [item["id"] for item in queue.json["items"]] == [made.json["id"]]
    # The district's own admin is not above the organisation (which is in that district).
    own_level = decide_entry(client, world, made.json["id"], "approve", who="admin")
    assert own_level.status_code == 403 and own_level.json["error"]["code"] == "not_admin_of_region"
    done = decide_entry(client, world, made.json["id"], "approve")
    assert done.status_code == 200 and done.json["status"] == "approved"
    with app.app_context():
        activity = db.session.get(Activity, done.json["activity_id"])
        assert (activity.title, activity.status) == ("河道清洁", ActivityStatus.FINISHED)
        records = db.session.scalars(select(ServiceRecord).where(ServiceRecord.activity_id == activity.id)).all()
        assert sorted((r.source.value, r.minutes) for r in records) == [("retroactive", 60), ("retroactive", 120)]
    assert ledger(app, world["alice"]) == {"balances": 120, "summed": 120, "total": 120}
    assert all(a["record_id"] for a in done.json["attendees"])
    assert told(app, "retroactive_result") == [(world["organizer_id"], "补录审批已通过")]


def test_the_author_never_approves_their_own_entry(app, client, world, now):
    with app.app_context():
        roles.grant(world["organizer_id"], Role.ADMIN, region_id=world["city_id"], now=now)
        db.session.commit()
    made = enter(client, world, now)
    own = decide_entry(client, world, made.json["id"], "approve", who="organizer")
    assert own.status_code == 403 and own.json["error"]["code"] == "approver_is_author"
    assert ledger(app, world["alice"])["summed"] == 0


@pytest.mark.parametrize("days_ago, code", [(91, "outside_retroactive_window"), (-1, "outside_retroactive_window")])
def test_only_past_service_within_the_window_is_entered(client, world, now, days_ago, code):
    starts_at = now - timedelta(days=days_ago)
    answer = enter(client, world, now, starts_at=iso(starts_at), ends_at=iso(starts_at + timedelta(hours=2)))
    assert answer.status_code == 422 and answer.json["error"]["code"] == code


def test_retroactive_refusals(client, world, now):
    assert enter(client, world, now, who="other_organizer").status_code == 403
    assert enter(client, world, now, nonce="retro-no-ev", evidence=[]).status_code == 422
    table(client, world, [{"volunteer_id": world["alice"]}], "retro-busy")
    busy = enter(client, world, now, nonce="retro-overlap", starts_at=iso(world["starts_at"]),
                 ends_at=iso(world["ends_at"]))
    assert busy.status_code == 409 and busy.json["error"]["code"] == "overlapping_service"
    made = enter(client, world, now, nonce="retro-ok")
    missing = decide_entry(client, world, made.json["id"], "reject")
    assert missing.status_code == 422 and missing.json["error"]["code"] == "reason_required"
    rejected = decide_entry(client, world, made.json["id"], "reject", nonce="retro-reject", reason="证明材料不清晰")
    assert rejected.json["status"] == "rejected" and rejected.json["activity_id"] is None
    again = decide_entry(client, world, made.json["id"], "approve", nonce="retro-again")
    assert again.status_code == 409 and again.json["error"]["code"] == "already_decided"


def test_two_sign_ups_with_one_name_and_last_four_are_told_apart_only_by_number(app, client, world, now):
    with app.app_context():
        carol = db.session.get(Volunteer, world["carol"])
        carol.real_name = "张三丰"  # the same mobile's last four as alice
        activity = db.session.get(Activity, world["activity_id"])
        sign_up(activity, carol, now)
        db.session.commit()
    shown = preview(client, world, xlsx(sheet_rows(world)[:2]))
    assert [p["code"] for p in shown.json["rows"][0]["problems"]] == ["ambiguous_match"]


# --- the evidence gallery -------------------------------------------------------------------------------

def test_the_evidence_gallery_holds_the_reports_and_confirmed_declarations_photos(app, client, world, now):
    made = declare(client, world)
    assert decide(client, world, made.json["id"], "confirm").status_code == 200
    with app.app_context():
        photo = uploads.store(world["organizer_id"], UploadPurpose.ACTIVITY_PHOTO, jpeg(), content_type="image/jpeg",
                              now=now)
        db.session.commit()
        report_token = photo.token
    written = client.put(f"/api/v1/activities/{world['activity_id']}/report", headers=world["h"]["organizer"],
                         json={"summary": "陪伴老人", "photos": [report_token], "nonce": "report-0001"})
    assert written.status_code == 200, written.json
    shown = client.get(f"/api/v1/activities/{world['activity_id']}/evidence", headers=world["h"]["captain"])
    assert shown.status_code == 200
    assert [(i["source"], i["token"]) for i in shown.json["items"]] == [("report", report_token),
                                                                       ("declaration", world["photo"])]
    assert shown.json["items"][1]["caption"].endswith("的申报") and shown.json["items"][0]["url"]
    assert client.get(f"/api/v1/activities/{world['activity_id']}/evidence",
                      headers=world["h"]["city_admin"]).status_code == 200
    for who in ("other_organizer", "alice"):
        refused = client.get(f"/api/v1/activities/{world['activity_id']}/evidence", headers=world["h"][who])
        assert refused.status_code == 403 and refused.json["error"]["code"] == "not_organizer_or_admin"


def test_a_pending_declaration_is_not_evidence_but_an_approved_retroactive_entrys_is(client, world, now):
    declare(client, world)
    assert client.get(f"/api/v1/activities/{world['activity_id']}/evidence",
                      headers=world["h"]["organizer"]).json["items"] == []
    done = decide_entry(client, world, enter(client, world, now).json["id"], "approve")
    shown = client.get(f"/api/v1/activities/{done.json['activity_id']}/evidence", headers=world["h"]["organizer"])
    assert [(i["source"], i["token"], i["caption"]) for i in shown.json["items"]] == [
        ("retroactive", world["evidence"], "补录凭证")]
    assert client.get("/api/v1/activities/999999/evidence", headers=world["h"]["organizer"]).status_code == 404
# --- a scanned check-out under the same two limits ----------------------------------------------------

def manual(client, world, activity_id, at, nonce, who="captain"):
    return client.post(f"/api/v1/activities/{activity_id}/manual-checkins",
                       json={"volunteer_id": world["alice"], "reason": "手机没电了", "nonce": f"manual-{nonce}", "at": iso(at)},
                       headers=world["h"][who])


def test_a_check_out_overlapping_time_entered_elsewhere_is_refused_and_changes_nothing(app, client, world, now):
    elsewhere = second_activity(app, world, now)
    assert table(client, world, [{"volunteer_id": world["alice"]}], "elsewhere-1", activity_id=elsewhere).status_code == 201
    checked_in = manual(client, world, world["activity_id"], world["starts_at"], "co-in-1")
    assert checked_in.json.get("result") == "checked_in", checked_in.json
    refused = manual(client, world, world["activity_id"], world["ends_at"], "co-out-1")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "overlapping_service"
    assert "社区义诊" in refused.json["error"]["message"]
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}
    with app.app_context():
        from models import Checkin
        assert db.session.scalar(select(Checkin.checked_out_at)) is None  # still checked in


def test_a_scanned_check_out_overlapping_time_entered_elsewhere_is_refused_and_changes_nothing(app, client, world,
                                                                                             now):
    # A captain's scan starts in autocommit (checkins._managed_scan); its check-out is one transaction all the same.
    elsewhere = second_activity(app, world, now)
    assert table(client, world, [{"volunteer_id": world["alice"]}], "scan-elsewhere-1", activity_id=elsewhere).status_code == 201
    with app.app_context():
        alice = db.session.get(Volunteer, world["alice"])
        checkin_displays.personal_code(alice.account, now=now)
        secret = alice.checkin_secret
        db.session.commit()

    def scan(at, nonce):
        app.extensions["clock"] = lambda: at
        return client.post(f"/api/v1/activities/{world['activity_id']}/scans", headers=world["h"]["captain"],
                           json={"code": checkin_codes.personal_code(world["alice"], secret, at), "nonce": nonce})

    assert scan(world["starts_at"], "scan-overlap-in-1").json.get("result") == "checked_in"
    refused = scan(world["ends_at"], "scan-overlap-out-1")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "overlapping_service"
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}
    with app.app_context():
        from models import Checkin
        assert db.session.scalar(select(Checkin.checked_out_at)) is None  # still checked in


def test_a_check_out_after_time_elsewhere_ended_is_credited(app, client, world, now):
    elsewhere = second_activity(app, world, now, at=world["starts_at"] - timedelta(hours=5))
    assert table(client, world, [{"volunteer_id": world["alice"]}], "before-1", activity_id=elsewhere).status_code == 201
    manual(client, world, world["activity_id"], world["starts_at"], "after-in-1")
    answer = manual(client, world, world["activity_id"], world["ends_at"], "after-out-1")
    assert answer.status_code == 200 and (answer.json["result"], answer.json["minutes"]) == ("checked_out", 180)
    assert ledger(app, world["alice"]) == {"balances": 360, "summed": 360, "total": 360}


def test_a_check_out_past_the_cap_with_time_entered_at_the_activity_is_refused(app, client, world):
    early = table(client, world, [{"volunteer_id": world["alice"], "started_at": iso(world["starts_at"] - timedelta(minutes=30)),
                                   "ended_at": iso(world["starts_at"])}], "cap-early-1")
    record_id = early.json["rows"][0]["record_id"]
    assert client.post(f"/api/v1/service-records/{record_id}/corrections",
                       json={"minutes_delta": 150, "reason": "会前培训", "nonce": "cap-corr-1"},
                       headers=world["h"]["organizer"]).status_code == 201
    manual(client, world, world["activity_id"], world["starts_at"] + timedelta(minutes=10), "cap-in-1")
    refused = manual(client, world, world["activity_id"], world["ends_at"], "cap-out-1")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "minutes_exceed_activity"
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}
    # A shorter stay fits in what is left of the 240 minutes.
    fits = manual(client, world, world["activity_id"], world["starts_at"] + timedelta(minutes=60), "cap-out-2")
    assert fits.status_code == 200 and fits.json["minutes"] == 50
    assert ledger(app, world["alice"]) == {"balances": 230, "summed": 230, "total": 230}


def test_a_forgotten_check_out_that_overlaps_is_closed_but_held_uncredited(app, client, world, now):
    from app.services import checkins
    from models import Checkin

    elsewhere = second_activity(app, world, now)
    manual(client, world, world["activity_id"], world["starts_at"], "held-in-1")
    table(client, world, [{"volunteer_id": world["alice"]}], "held-else-1", activity_id=elsewhere)
    with app.app_context():
        rules = checkins.Rules(opens_minutes_before_start=30, checkout_grace_minutes=30, min_minutes_before_checkout=5)
        assert checkins.close_forgotten_checkouts(rules=rules, policy="close_at_end", now=now) == 1
        db.session.commit()
        checkin = db.session.scalar(select(Checkin))
        assert checkin.checked_out_at is not None and checkin.needs_review
    assert ledger(app, world["alice"]) == {"balances": 180, "summed": 180, "total": 180}


def test_a_refused_self_scan_reads_as_addressed_to_the_volunteer():
    from app.errors import DomainError
    from app.services import checkin_texts

    refusal = DomainError("overlapping_service", "该志愿者在 9:00 至 12:00 已在「社区义诊」计入服务时长", 409)
    assert checkin_texts.to_the_volunteer(refusal).message.startswith("您在 9:00")
