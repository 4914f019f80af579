"""Exports: requested through the API, built by a real Huey consumer, downloaded and read back with openpyxl."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import insert, select

from app import pii
from app.db import unit_of_work
from app.extensions import db, settings
from app.services import exports, files
from jobs import exports as export_jobs
from app.timeutil import SHANGHAI
from models import Account, ActivityStatus, AuditLog, Export, ExportStatus, Volunteer, VolunteerStatus
from tests import factories as f


from tests.tasks.test_tasks import consumer  # noqa: E402,F401  (Huey's consumer in threads, one fixture)


def wait_done(client, headers, export_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/api/v1/exports/{export_id}", headers=headers)
        # Requests share the test's app context, hence its session: end the read (SQLite's write lock).
        db.session.rollback()
        assert answer.status_code == 200
        if answer.json["status"] in ("done", "failed"):
            return answer.json
        time.sleep(0.2)
    raise AssertionError("export not finished in time")


def add_volunteers(region, count, now, *, start=0):
    """`count` approved volunteers in `region`: every 7th has a formula for a name, every 5th an ID number."""
    key = settings()["app"]["pii_key"]
    db.session.execute(insert(Account), [{"mp_openid": f"bulk_{region.id}_{start + i}", "created_at": now,
                                          "last_login_at": now} for i in range(count)])
    ids = dict(db.session.execute(select(Account.mp_openid, Account.id).where(
        Account.mp_openid.like(f"bulk_{region.id}_%"))).all())
    rows = []
    for i in range(count):
        mobile = f"139{(start + i):08d}"
        rows.append({"account_id": ids[f"bulk_{region.id}_{start + i}"], "region_id": region.id,
                     "real_name": "=HYPERLINK(\"http://x\")" if i % 7 == 0 else f"志愿者{i}", "mobile": mobile,
                     "mobile_last4": mobile[-4:], "categories": ["community"], "skills": ["@sum(1)"] if i % 11 == 0 else [],
                     "id_number_encrypted": pii.encrypt("110105199003071234", key) if i % 5 == 0 else None,
                     "status": VolunteerStatus.APPROVED, "created_at": now, "updated_at": now,
                     "total_service_minutes": 90, "service_record_count": 1})
    db.session.execute(insert(Volunteer), rows)
    db.session.commit()


def bearer(account):
    """The account's header, with the test's transaction ended: on SQLite an open one holds the write lock."""
    headers = f.bearer(account)
    db.session.commit()
    return headers


def download(client, url):
    answer = client.get(url)
    assert answer.status_code == 200
    return openpyxl.load_workbook(io.BytesIO(answer.data), read_only=True)


def test_a_5000_row_export_reads_back_masked_and_escaped(world, client, consumer, now):
    admin = world["admin"]
    add_volunteers(world.tree["community"], 5000, now)
    headers = bearer(admin)
    answer = client.post("/api/v1/exports", headers=headers, json={
        "kind": "volunteers", "region_id": world.tree["district"].id, "nonce": "export-5000-a"})
    assert answer.status_code == 202 and answer.json["status"] in ("queued", "running", "done")
    done = wait_done(client, headers, answer.json["id"])
    assert done["status"] == "done" and done["row_count"] == 5000 and done["rows_total"] == 5000
    book = download(client, done["download_url"])
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 5002 and rows[1][2] == "手机号"
    body = rows[2:]
    assert all("****" in row[2] for row in body)
    assert {row[3] for row in body if row[3]} == {"110***********1234"}
    assert all(not str(cell).startswith(("=", "+", "-", "@")) for row in body for cell in row if cell is not None)
    assert any(str(row[7]).startswith("'@") for row in body)
    assert not any(row[1] == "=HYPERLINK(\"http://x\")" for row in body)


def test_reveal_needs_a_reason_and_is_audited(world, client, consumer, now):
    admin = world["admin"]
    add_volunteers(world.tree["community"], 30, now)
    headers = bearer(admin)
    body = {"kind": "volunteers", "region_id": world.tree["district"].id, "reveal_personal": True, "nonce": "reveal-1x"}
    refused = client.post("/api/v1/exports", headers=headers, json=body)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "reason_required"
    answer = client.post("/api/v1/exports", headers=headers, json={**body, "nonce": "reveal-2x", "reason": "保险投保"})
    assert answer.status_code == 202
    done = wait_done(client, headers, answer.json["id"])
    rows = list(download(client, done["download_url"]).worksheets[0].iter_rows(values_only=True))[2:]
    assert {row[2] for row in rows} == {f"139{i:08d}" for i in range(30)}
    assert "110105199003071234" in {row[3] for row in rows}
    db.session.rollback()
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "export.requested"))
    assert entry.detail["reason"] == "保险投保" and entry.detail["reveal_personal"] is True


def test_a_street_admin_cannot_export_another_street(world, client, now):
    street_admin = f.admin("street_admin", world.tree["street"], now)
    db.session.commit()
    answer = client.post("/api/v1/exports", headers=bearer(street_admin), json={
        "kind": "volunteers", "region_id": world.tree["other_street"].id, "nonce": "other-street"})
    assert answer.status_code == 403 and answer.json["error"]["code"] == "region_out_of_scope"
    wider = client.post("/api/v1/exports", headers=bearer(street_admin), json={
        "kind": "volunteers", "region_id": world.tree["district"].id, "nonce": "whole-district"})
    assert wider.status_code == 403
    assert db.session.scalar(select(Export.id)) is None


def test_the_export_holds_only_the_scope(world, consumer, client, now):
    add_volunteers(world.tree["community"], 3, now)
    add_volunteers(world.tree["other_community"], 4, now, start=100)
    street_admin = f.admin("street_admin2", world.tree["street"], now)
    db.session.commit()
    headers = bearer(street_admin)
    answer = client.post("/api/v1/exports", headers=headers, json={
        "kind": "volunteers", "region_id": world.tree["street"].id, "nonce": "street-only"})
    done = wait_done(client, headers, answer.json["id"])
    rows = list(download(client, done["download_url"]).worksheets[0].iter_rows(values_only=True))[2:]
    assert len(rows) == 3 and {row[8] for row in rows} == {"一社区"}


def test_the_same_nonce_gives_the_same_export_and_others_cannot_read_it(world, client, now):
    admin, other = world["admin"], world["other_admin"]
    db.session.commit()
    body = {"kind": "volunteers", "region_id": world.tree["district"].id, "nonce": "same-nonce"}
    first = client.post("/api/v1/exports", headers=bearer(admin), json=body)
    again = client.post("/api/v1/exports", headers=bearer(admin), json=body)
    assert first.json["id"] == again.json["id"]
    changed = client.post("/api/v1/exports", headers=bearer(admin), json={**body, "filters": {"q": "张"}})
    assert changed.status_code == 422 and changed.json["error"]["code"] == "nonce_reused"
    assert client.get(f"/api/v1/exports/{first.json['id']}", headers=bearer(other)).status_code == 404
    listed = client.get("/api/v1/exports", headers=bearer(admin)).json["items"]
    assert [item["id"] for item in listed] == [first.json["id"]]


def test_a_task_run_twice_builds_once_and_a_stalled_export_is_requeued(world, now):
    admin = world["admin"]
    add_volunteers(world.tree["community"], 10, now)
    with unit_of_work():
        export, _ = exports.request(admin, exports.Request(kind="volunteers", scope_type="region",
                                                           scope_id=world.tree["district"].id, nonce="twice-run"),
                                    now=now)
    assert exports.build(export.id, now=now) == "done"
    assert exports.build(export.id, now=now) == "skipped"
    db.session.rollback()
    row = db.session.get(Export, export.id)
    assert row.status is ExportStatus.DONE and row.row_count == 10 and files.exists(row.file_key)
    # A running export whose worker died is found by the sweep and built again.
    with unit_of_work():
        row.status, row.heartbeat_at = ExportStatus.RUNNING, now - timedelta(hours=1)
    assert exports.stalled(now=now) == [export.id]
    assert exports.build(export.id, now=now) == "done"


def test_expired_files_are_deleted_by_the_sweep(world, now):
    admin = world["admin"]
    with unit_of_work():
        export, _ = exports.request(admin, exports.Request(kind="volunteers", scope_type="region",
                                                           scope_id=world.tree["district"].id, nonce="expiring"),
                                    now=now)
    exports.build(export.id, now=now)
    db.session.rollback()
    key = db.session.get(Export, export.id).file_key
    later = now_plus = db.session.get(Export, export.id).expires_at + timedelta(seconds=1)
    assert export_jobs.delete_expired(now=later) == 1
    assert not files.exists(key)
    assert db.session.get(Export, export.id).file_key is None
    assert now_plus > now


def test_an_organisers_activity_and_records_exports(world, client, consumer, now):
    organizer = world["organizer"]
    world.add_attended_activity()
    db.session.commit()
    headers = bearer(organizer)
    for kind in ("activities", "service_records"):
        answer = client.post("/api/v1/exports", headers=headers, json={
            "kind": kind, "organization_id": world["org"].id, "nonce": f"org-{kind}"})
        assert answer.status_code == 202, answer.json
        done = wait_done(client, headers, answer.json["id"])
        assert done["status"] == "done" and done["row_count"] >= 1
    other = client.post("/api/v1/exports", headers=bearer(world["other_organizer"]), json={
        "kind": "activities", "organization_id": world["org"].id, "nonce": "org-other"})
    assert other.status_code == 403
    wrong = client.post("/api/v1/exports", headers=headers, json={
        "kind": "volunteers", "organization_id": world["org"].id, "nonce": "org-wrong"})
    assert wrong.status_code == 422 and wrong.json["error"]["code"] == "invalid_export_scope"


def build_and_read(world, who, body):
    """Request an export as `who` through the API, build it in this process at the world's clock, read it back."""
    answer = client_post(world, who, body)
    assert answer.status_code == 202, answer.json
    assert exports.build(answer.json["id"], now=world.now) == "done"
    db.session.rollback()
    with files.open(db.session.get(Export, answer.json["id"]).file_key) as handle:
        book = openpyxl.load_workbook(io.BytesIO(handle.read()))  # the full reader: it checks more than read_only
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def client_post(world, who, body):
    return world.client.post("/api/v1/exports", headers=bearer(world[who]), json=body)


@pytest.fixture
def kpi_world(world, app, client):
    app.extensions["clock"] = lambda: world.now
    world.client = client
    world.build("tree", "org", "admin", "alice")
    world["street_admin"] = f.admin("kpi_street_admin", world.tree["street"], world.now)
    db.session.commit()
    return world


def test_the_kpi_table_holds_the_node_and_its_children_as_the_kpi_api_shows_them(kpi_world, client):
    world = kpi_world
    district = world.tree["district"]
    rows = build_and_read(world, "admin", {"kind": "kpi_table", "region_id": district.id,
                                           "filters": {"period": "2026-11"}, "nonce": "kpi-table-1"})
    header, body = rows[1], rows[2:]
    assert header[:5] == ["统计期", "地区", "层级", "排名", "得分"] and header[-1] == "后三名"
    api = client.get(f"/api/v1/kpis?region_id={district.id}&period=2026-11&children=true",
                     headers=bearer(world["admin"])).json
    expected = [(api["region"]["name"], None, api["figures"])] + [
        (child["region"]["name"], child["rank"], child["figures"]) for child in api["children"]]
    assert [(row[1], row[3]) for row in body] == [(name, rank) for name, rank, _ in expected]
    labels = {"green": "达标", "yellow": "接近", "red": "未达标", "none": "不适用"}
    for row, (_, _, figures) in zip(body, expected):
        assert row[0] == "2026-11"
        assert row[5:-1] == [cell for figure in figures for cell in (figure["value"], labels[figure["status"]])]
    assert body[0][2] == "区（县）" and {row[2] for row in body[1:]} == {"街道（镇）"}


def test_the_kpi_table_is_scoped_like_the_kpi_api(kpi_world):
    world = kpi_world
    other = client_post(world, "street_admin", {"kind": "kpi_table", "region_id": world.tree["other_street"].id,
                                                "nonce": "kpi-other-street"})
    assert other.status_code == 403 and other.json["error"]["code"] == "not_admin_of_region"
    above = client_post(world, "street_admin", {"kind": "kpi_table", "region_id": world.tree["district"].id,
                                                "nonce": "kpi-above"})
    assert above.status_code == 403
    bad = client_post(world, "admin", {"kind": "kpi_table", "region_id": world.tree["district"].id,
                                       "filters": {"period": "2026-13"}, "nonce": "kpi-bad-period"})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid_period"
    by_org = client_post(world, "admin", {"kind": "kpi_table", "organization_id": world["org"].id,
                                          "nonce": "kpi-by-org"})
    assert by_org.status_code == 422 and by_org.json["error"]["code"] == "invalid_export_scope"
    own = build_and_read(world, "street_admin", {"kind": "kpi_table", "region_id": world.tree["street"].id,
                                                 "nonce": "kpi-own-street"})
    assert [row[1] for row in own[2:]] == ["一街道", "一社区", "二社区"] and own[2][0] == "2026-11"


def test_an_admin_exports_the_activities_held_in_the_region(kpi_world):
    world = kpi_world
    in_street = world.add_activity(title="一社区的活动")
    world.add_activity(title="二社区的活动", of_team=False, address="+二社区").region_id = world.tree["community2"].id
    f.activity(world.org, world.tree["community"], world.now, title="草稿活动", status=ActivityStatus.DRAFT)
    other_org = f.organization("乙区的组织", world.tree["other_district"], world.now)
    f.activity(other_org, world.tree["street"], world.now, title="乙区组织在一街道的活动")
    f.activity(world.org, world.tree["other_community"], world.now, title="甲区组织在三社区的活动")
    db.session.commit()
    rows = build_and_read(world, "street_admin", {"kind": "activities", "region_id": world.tree["street"].id,
                                                  "nonce": "street-activities"})
    body = rows[2:]
    assert sorted(row[1] for row in body) == ["一社区的活动", "乙区组织在一街道的活动", "二社区的活动"]
    by_title = {row[1]: row for row in body}
    assert by_title["一社区的活动"][0] == in_street.id and by_title["一社区的活动"][9] == world.org.name
    assert by_title["二社区的活动"][6] == "'+二社区" and by_title["二社区的活动"][10] == "二社区"
    assert by_title["一社区的活动"][3] == in_street.starts_at.astimezone(SHANGHAI).replace(tzinfo=None, second=0,
                                                                                           microsecond=0)
    # The organisation's list (its organiser sees drafts) is unchanged by the region scope.
    world.build("organizer")
    db.session.commit()
    mine = build_and_read(world, "organizer", {"kind": "activities", "organization_id": world.org.id,
                                               "nonce": "org-activities"})
    assert "草稿活动" in {row[1] for row in mine[2:]} and "乙区组织在一街道的活动" not in {row[1] for row in mine[2:]}


def test_activities_of_a_region_are_for_its_admins_only(kpi_world):
    world = kpi_world
    world.build("organizer")
    db.session.commit()
    for who, region in (("street_admin", "other_street"), ("street_admin", "district"), ("organizer", "street")):
        answer = client_post(world, who, {"kind": "activities", "region_id": world.tree[region].id,
                                          "nonce": f"act-{who}-{region}"})
        assert answer.status_code == 403, (who, region, answer.json)
    assert db.session.scalar(select(Export.id)) is None
