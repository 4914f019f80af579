"""Imports over HTTP: upload and preview, commit by nonce, the template, claiming through WeChat's phone number, races."""

from __future__ import annotations

import io
import threading

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.services.spreadsheets import XLSX_MIMETYPE
from app.services.xlsx_reader import XlsxReader
from models import ImportedVolunteer, ServiceRecord, Volunteer
from tests import factories as f
from tests.fakes import fire, serve
from tests.xlsx_files import IDS, RECORD_HEADER, VOLUNTEER_HEADER, xlsx

CONCURRENCY = 8
ROSTER = xlsx([VOLUNTEER_HEADER,
               ("王芳", "13900000001", IDS[1], "党员", None, "一社区"),
               ("李强", "13900000002", None, None, None, "二社区")])
XLSX = {"Content-Type": XLSX_MIMETYPE}


@pytest.fixture
def cast(app, now):
    with app.app_context():
        w = f.World(now).build("tree", "org", "organizer", "other_organizer", "alice")
        cast = {"org_id": w.org.id, "organizer": f.bearer(w.organizer), "other": f.bearer(w.other_organizer),
                "alice": f.bearer(w.alice.account),
                "newcomers": [f.bearer(f.account(f"sim_new{i}", now)) for i in range(CONCURRENCY)]}
        db.session.commit()
    app.extensions["clock"] = lambda: now
    return cast


def upload(client, cast, data=ROSTER, *, kind="volunteers", who="organizer", headers=XLSX):
    return client.post(f"/api/v1/organizations/{cast['org_id']}/imports?kind={kind}&filename=名册.xlsx", data=data,
                       headers={**cast[who], **headers})


def test_an_upload_answers_its_preview_and_a_commit_writes_it_once_per_nonce(client, cast):
    answer = upload(client, cast)
    assert answer.status_code == 201, answer.json
    preview = answer.json
    assert (preview["status"], preview["kind"], preview["filename"]) == ("previewed", "volunteers", "名册.xlsx")
    assert preview["summary"]["new"] == 2 and preview["outcome"] is None

    path = f"/api/v1/imports/{preview['id']}/commit"
    first = client.post(path, json={"nonce": "commit-0001"}, headers=cast["organizer"])
    assert first.status_code == 200 and first.json["outcome"] == {"written": 2, "existing": 0, "skipped": 0}
    repeat = client.post(path, json={"nonce": "commit-0001"}, headers=cast["organizer"])
    assert repeat.status_code == 200 and repeat.headers["Idempotent-Replayed"] == "true" and repeat.json == first.json
    other = client.post(path, json={"nonce": "commit-0002"}, headers=cast["organizer"])
    assert (other.status_code, other.json["error"]["code"]) == (409, "import_already_committed")

    listed = client.get(f"/api/v1/organizations/{cast['org_id']}/imports", headers=cast["organizer"]).json["items"]
    assert [i["status"] for i in listed] == ["committed"]
    assert client.get(f"/api/v1/imports/{preview['id']}", headers=cast["organizer"]).json["status"] == "committed"


def test_a_multipart_form_works_too(client, cast):
    answer = upload(client, cast, {"file": (io.BytesIO(ROSTER), "表格.xlsx")}, headers={})
    assert answer.status_code == 201 and answer.json["filename"] == "表格.xlsx"


def test_a_file_of_another_type_or_a_bad_file_is_refused(client, cast):
    answer = upload(client, cast, b"a,b\n", headers={"Content-Type": "text/csv"})
    assert (answer.status_code, answer.json["error"]["code"]) == (415, "unsupported_media_type")
    answer = upload(client, cast, b"not a spreadsheet at all")
    assert (answer.status_code, answer.json["error"]["code"]) == (422, "import_not_xlsx")
    answer = upload(client, cast, kind="people")
    assert answer.status_code == 422


def test_a_file_may_be_larger_than_a_json_body_but_not_without_limit(client, cast):
    answer = upload(client, cast, b"\0" * (2 * 1024 * 1024))  # past the API's 1 MiB for JSON: read, and refused as no XLSX
    assert (answer.status_code, answer.json["error"]["code"]) == (422, "import_not_xlsx")
    answer = upload(client, cast, b"\0" * (11 * 1024 * 1024))
    assert (answer.status_code, answer.json["error"]["code"]) == (413, "payload_too_large")


def test_problems_block_a_commit_unless_skipped(client, cast):
    data = xlsx([VOLUNTEER_HEADER, ("王芳", "13900000001", None, None, None, "一社区"), ("坏", "123", None, None, None, "一社区")])
    preview = upload(client, cast, data).json
    assert preview["summary"]["listed"] == [{"row": 3, "result": "problem", "volunteer_id": None, "matched_by": None,
                                             "problems": [{"column": "手机号", "message": "手机号「123」格式不对（应为 11 位大陆手机号）"}]}]
    path = f"/api/v1/imports/{preview['id']}/commit"
    refused = client.post(path, json={"nonce": "commit-0001"}, headers=cast["organizer"])
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "import_has_problems")
    done = client.post(path, json={"nonce": "commit-0002", "skip_problems": True}, headers=cast["organizer"])
    assert done.json["outcome"] == {"written": 1, "existing": 0, "skipped": 1}


@pytest.mark.parametrize("who", ["other", "alice"])
def test_outsiders_neither_upload_nor_see_nor_commit(client, cast, who):
    assert upload(client, cast, who=who).status_code == 403
    preview = upload(client, cast).json
    assert client.get(f"/api/v1/imports/{preview['id']}", headers=cast[who]).status_code == 404
    answer = client.post(f"/api/v1/imports/{preview['id']}/commit", json={"nonce": "commit-0001"}, headers=cast[who])
    assert (answer.status_code, answer.json["error"]["code"]) == (404, "import_not_found")


@pytest.mark.parametrize(("kind", "header"), [("volunteers", VOLUNTEER_HEADER), ("records", RECORD_HEADER)])
def test_the_template_has_the_columns_an_import_reads(client, cast, kind, header):
    answer = client.get(f"/api/v1/imports/template?kind={kind}", headers=cast["organizer"])
    assert answer.status_code == 200 and answer.mimetype == XLSX_MIMETYPE
    with XlsxReader(answer.data) as reader:
        rows = list(reader.rows())
    assert tuple(v.rstrip("*") for v in rows[0].values.values()) == header
    if kind == "volunteers":  # the example row itself imports
        assert upload(client, cast, answer.data).json["summary"]["new"] == 1


# --- claiming through WeChat's phone number ---------------------------------------------------------


@pytest.fixture
def imported(client, cast):
    preview = upload(client, cast).json
    client.post(f"/api/v1/imports/{preview['id']}/commit", json={"nonce": "commit-0001"}, headers=cast["organizer"])
    return preview


def test_a_newcomer_claims_the_archive_by_proving_the_mobile(app, client, cast, imported, simulator):
    newcomer = cast["newcomers"][0]
    assert client.get("/api/v1/me", headers=newcomer).status_code == 404
    body = {"code": "phone_13900000001", "nonce": "claim-0001"}
    first = client.post("/api/v1/me/claim", json=body, headers=newcomer)
    assert first.status_code == 200, first.json
    assert first.json["real_name"] == "王芳" and first.json["status"] == "approved"
    # A retry answers the first answer without spending the (single-use) code again.
    repeat = client.post("/api/v1/me/claim", json=body, headers=newcomer)
    assert repeat.json == first.json and repeat.headers["Idempotent-Replayed"] == "true"
    me = client.get("/api/v1/me", headers=newcomer)
    assert me.status_code == 200 and me.json["id"] == first.json["volunteer_id"]

    spent = client.post("/api/v1/me/claim", json={**body, "nonce": "claim-0002"}, headers=cast["newcomers"][1])
    assert (spent.status_code, spent.json["error"]["code"]) == (422, "invalid_phone_code")
    taken = client.post("/api/v1/me/claim", json={"code": "phone_13900000001_b", "nonce": "claim-0003"},
                        headers=cast["newcomers"][1])
    assert (taken.status_code, taken.json["error"]["code"]) == (404, "no_archive_to_claim")


@pytest.mark.parametrize(("code", "status", "error"), [
    ("invalid_code", 422, "invalid_phone_code"),
    ("phone1_2025550123", 422, "phone_not_mainland"),
    ("phone_13912345678", 404, "no_archive_to_claim"),
])
def test_a_claim_that_proves_nothing_claimable_is_refused(client, cast, imported, simulator, code, status, error):
    answer = client.post("/api/v1/me/claim", json={"code": code, "nonce": "claim-0001"}, headers=cast["newcomers"][0])
    assert (answer.status_code, answer.json["error"]["code"]) == (status, error)


def test_someone_with_an_archive_claims_no_second_one(client, cast, imported, simulator):
    answer = client.post("/api/v1/me/claim", json={"code": "phone_13900000002", "nonce": "claim-0001"},
                         headers=cast["alice"])
    assert (answer.status_code, answer.json["error"]["code"]) == (409, "already_registered")


def test_wechat_down_is_a_503_and_claims_nothing(client, cast, imported, simulator):
    simulator.fault(api="getuserphonenumber", errcode=-1)
    answer = client.post("/api/v1/me/claim", json={"code": "phone_13900000001", "nonce": "claim-0001"},
                         headers=cast["newcomers"][0])
    assert (answer.status_code, answer.json["error"]["code"]) == (503, "wechat_unavailable")


# --- races ---------------------------------------------------------------------------------------------


def test_simultaneous_commits_of_one_import_write_it_once(app, client, cast):
    preview = upload(client, cast).json
    bodies = [({"nonce": f"commit-race-{i:03d}"}, cast["organizer"]) for i in range(CONCURRENCY)]
    with serve(app) as base_url:
        results = fire(base_url, f"/api/v1/imports/{preview['id']}/commit", bodies)
    outcomes = sorted((status, body.get("status") or body["error"]["code"]) for status, body in results)
    assert outcomes == [(200, "committed")] + [(409, "import_already_committed")] * (CONCURRENCY - 1)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Volunteer)) == 3  # alice and the two imported


def test_simultaneous_claims_of_one_archive_give_it_to_one_person(app, client, cast, imported, simulator):
    bodies = [({"code": f"phone_13900000001_{i}", "nonce": f"claim-race-{i:03d}"}, cast["newcomers"][i])
              for i in range(CONCURRENCY)]
    with serve(app) as base_url:
        results = fire(base_url, "/api/v1/me/claim", bodies)
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1, results
    assert {body["error"]["code"] for status, body in results if status != 200} <= {
        "no_archive_to_claim", "archive_already_claimed"}
    with app.app_context():
        row = db.session.scalar(select(ImportedVolunteer).join(Volunteer, Volunteer.id == ImportedVolunteer.volunteer_id)
                                .where(Volunteer.mobile == "13900000001"))
        assert row.claimed_by_account_id == db.session.get(Volunteer, row.volunteer_id).account_id


def test_simultaneous_imports_of_the_same_records_count_the_hours_once(app, client, cast):
    preview = upload(client, cast).json
    client.post(f"/api/v1/imports/{preview['id']}/commit", json={"nonce": "commit-0001"}, headers=cast["organizer"])
    rows = [RECORD_HEADER, ("王芳", IDS[1], None, "义诊", "2024-03-05", 2, None, None),
            ("李强", None, "13900000002", "义诊", "2024-03-05", 3, None, None)]
    # Two files holding the same records (one has a title row): two previews, committed at once.
    ids = [upload(client, cast, xlsx(rows), kind="records").json["id"],
           upload(client, cast, xlsx([("2024 年服务记录",), *rows]), kind="records").json["id"]]
    assert ids[0] != ids[1]
    barrier = threading.Barrier(2)
    answers: dict[int, tuple[int, dict]] = {}
    with serve(app) as base_url:

        def commit(import_id: int) -> None:
            barrier.wait(timeout=30)
            response = requests.post(f"{base_url}/api/v1/imports/{import_id}/commit", json={"nonce": f"rec-{import_id:04d}"},
                                     headers=cast["organizer"], timeout=60)
            answers[import_id] = (response.status_code, response.json())

        threads = [threading.Thread(target=commit, args=(import_id,)) for import_id in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    written = sorted((body["outcome"]["written"] if status == 200 else body["error"]["code"]
                      for status, body in answers.values()), key=str)
    assert written in ([0, 2], [2, "import_conflict"]), answers
    with app.app_context():
        assert db.session.scalar(select(func.sum(ServiceRecord.minutes))) == 300
        assert db.session.scalar(select(func.sum(Volunteer.total_service_minutes))) == 300
