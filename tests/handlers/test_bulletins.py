"""The bulletin API: who reads which node's bulletins, downloads, the admin's freeze; quarterly reports over HTTP."""

from __future__ import annotations

import io
import re
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.extensions import db
from app.services.bulletins import downloads, tasks
from models import Bulletin, BulletinStatus, PdfStatus
from tests import factories as f
from tests.services.test_bulletins import OCTOBER_FROZEN_AT, _freeze, town  # noqa: F401 (fixture)

URL = "/api/v1/bulletins"


@pytest.fixture
def cast(app, town):  # noqa: F811
    outsider_region = town["streets"][0]
    people = dict(town)
    people["volunteer"] = f.approved_volunteer("sim_reader_volunteer", town["communities"][0], OCTOBER_FROZEN_AT).account
    people["other_admin"] = f.admin("sim_other_admin", outsider_region, OCTOBER_FROZEN_AT)
    frozen = _freeze(town["district"], "2026-10", OCTOBER_FROZEN_AT)
    with unit_of_work():
        generating = Bulletin(region_id=town["district"].id, month="2026-09", status=BulletinStatus.GENERATING,
                              pdf_status=PdfStatus.PENDING, created_at=OCTOBER_FROZEN_AT)
        db.session.add(generating)
    app.extensions["clock"] = lambda: OCTOBER_FROZEN_AT + timedelta(hours=1)
    headers = {name: f.bearer(people[name]) for name in ("district_admin", "city_admin", "street_admin", "organizer",
                                                           "volunteer", "other_admin")}
    return {"district": town["district"].id, "street": town["streets"][0].id, "community": town["communities"][0].id,
            "frozen": frozen.id, "generating": generating.id, "headers": headers}


def test_admins_over_the_node_list_all_and_organisers_below_the_frozen_ones(client, cast):
    for who in ("district_admin", "city_admin"):
        answer = client.get(f"{URL}?region_id={cast['district']}", headers=cast["headers"][who])
        assert answer.status_code == 200
        assert [(item["month"], item["status"]) for item in answer.json["items"]] == [
            ("2026-10", "frozen"), ("2026-09", "generating")]
        assert answer.json["items"][0]["content"] is None and "甲区" in answer.json["items"][0]["summary"]
    organiser = client.get(f"{URL}?region_id={cast['district']}", headers=cast["headers"]["organizer"])
    assert [item["month"] for item in organiser.json["items"]] == ["2026-10"]
    detail = client.get(f"{URL}/{cast['frozen']}", headers=cast["headers"]["organizer"])
    assert detail.status_code == 200 and detail.json["content"]["month"] == "2026-10"
    assert len(detail.json["content_sha256"]) == 64
    assert client.get(f"{URL}/{cast['generating']}", headers=cast["headers"]["organizer"]).status_code == 404


@pytest.mark.parametrize("who, status, code", [
    (None, 401, "missing_token"),
    ("street_admin", 403, "not_bulletin_reader"),    # a child's admin does not read the district's bulletin
    ("volunteer", 403, "not_bulletin_reader"),
])
def test_others_may_not_read(client, cast, who, status, code):
    headers = cast["headers"][who] if who else {}
    for path in (f"{URL}?region_id={cast['district']}", f"{URL}/{cast['frozen']}", f"{URL}/{cast['frozen']}/xlsx",
                 f"{URL}/{cast['frozen']}/pdf"):
        answer = client.get(path, headers=headers)
        assert (answer.status_code, answer.json["error"]["code"]) == (status, code), path


def test_the_xlsx_downloads_and_a_generating_bulletin_is_not_ready(client, cast):
    import openpyxl

    answer = client.get(f"{URL}/{cast['frozen']}/xlsx", headers=cast["headers"]["district_admin"])
    assert answer.status_code == 200 and answer.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''" in answer.headers["Content-Disposition"]
    assert openpyxl.load_workbook(io.BytesIO(answer.data)).sheetnames[:2] == ["总览", "排名"]
    for suffix in ("xlsx", "pdf"):
        pending = client.get(f"{URL}/{cast['generating']}/{suffix}", headers=cast["headers"]["district_admin"])
        assert (pending.status_code, pending.json["error"]["code"]) == (409, "bulletin_not_ready")


def _inflated(pdf: bytes) -> bytes:
    """The PDF with every deflated stream (object streams included) inflated and appended: searchable text."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", match.end())
        try:
            parts.append(zlib.decompress(pdf[match.end():end]))
        except zlib.error:
            continue
    return b"\n".join(parts)


def test_the_pdf_is_409_while_rendering_then_a_signed_link_to_an_a4_pdf_with_a_cjk_font(app, client, cast):
    """The one test that renders a PDF (about 1–2 s, plus the font subset once per machine)."""
    first = client.get(f"{URL}/{cast['frozen']}/pdf", headers=cast["headers"]["district_admin"])
    assert (first.status_code, first.json["error"]["code"]) == (409, "pdf_not_ready")
    db.session.rollback()  # the requests ran in the fixture's app context: end their read before the worker writes
    with app.app_context():
        assert tasks.render(cast["frozen"]) is True
        assert tasks.render(cast["frozen"]) is False            # rendered once; a second run stores nothing
    answer = client.get(f"{URL}/{cast['frozen']}/pdf", headers=cast["headers"]["organizer"])
    assert answer.status_code == 303 and answer.headers["Location"] == answer.json["url"]
    assert answer.json["url"].startswith("/api/v1/files/") and answer.json["expires_in"] == 600
    pdf = client.get(answer.json["url"]).data
    assert pdf.startswith(b"%PDF")
    objects = _inflated(pdf)
    assert re.search(rb"/MediaBox\s*\[\s*0 0 595\.\d+ 841\.\d+", objects)           # A4 in points
    # The subset of our GB2312 cut of Noto Sans CJK SC is embedded (a FontFile, a ABCDEF+ subset name).
    fonts = set(re.findall(rb"/FontName\s*/([A-Z]{6}\+[A-Za-z0-9-]+)", objects))
    assert any(b"Noto" in name and b"GB2312" in name for name in fonts), fonts
    assert re.search(rb"/FontFile[23]?\s+\d+ 0 R", objects)


def test_an_admin_freezes_a_missing_month_once(app, client, cast, monkeypatch):
    queued = []
    rendering = []
    monkeypatch.setattr("handlers.bulletins.bulletin_tasks.freeze_bulletin", lambda bulletin_id: queued.append(bulletin_id))
    monkeypatch.setattr("app.services.bulletins.tasks.render_pdf", lambda bulletin_id: rendering.append(bulletin_id))
    admin = cast["headers"]["district_admin"]
    body = {"region_id": cast["district"], "month": "2026-08", "nonce": "freeze-august-1"}
    answer = client.post(URL, json=body, headers=admin)
    assert answer.status_code == 202 and answer.json["status"] == "generating" and queued == [answer.json["id"]]
    replay = client.post(URL, json=body, headers=admin)
    assert replay.status_code == 202 and replay.headers.get("Idempotent-Replayed") == "true"
    other_nonce = client.post(URL, json=dict(body, nonce="freeze-august-2"), headers=admin)
    assert other_nonce.json["id"] == answer.json["id"] and queued == [answer.json["id"]]   # claimed already
    with app.app_context():
        assert tasks.run(answer.json["id"]) is True
        assert tasks.run(answer.json["id"]) is False and rendering == [answer.json["id"]]   # the PDF queued once
        assert db.session.scalar(select(func.count()).select_from(Bulletin).where(Bulletin.month == "2026-08")) == 1
    frozen = client.post(URL, json=dict(body, nonce="freeze-august-3"), headers=admin)
    assert frozen.json["status"] == "frozen"


@pytest.mark.parametrize("who, region, month, status, code", [
    ("district_admin", "district", "2026-11", 422, "month_not_closed"),
    ("district_admin", "community", "2026-09", 422, "region_has_no_bulletin"),
    ("district_admin", "district", "2026-Q3", 422, "invalid_period"),
    ("street_admin", "district", "2026-09", 403, "not_admin_of_region"),
    ("organizer", "district", "2026-09", 403, "not_admin_of_region"),
])
def test_freeze_refusals(client, cast, who, region, month, status, code):
    answer = client.post(URL, json={"region_id": cast[region], "month": month, "nonce": f"n-{who}-{region}"[:60]},
                         headers=cast["headers"][who])
    assert (answer.status_code, answer.json["error"]["code"]) == (status, code)


def test_quarterly_reports_over_http(client, cast, app):
    app.extensions["clock"] = lambda: OCTOBER_FROZEN_AT + timedelta(days=40)   # 12 December
    street_admin, district_admin = cast["headers"]["street_admin"], cast["headers"]["district_admin"]
    body = {"region_id": cast["street"], "quarter": "2026-Q4", "note": "本季度已开展培训。", "nonce": "report-q4-1"}
    answer = client.post("/api/v1/quarterly-reports", json=body, headers=street_admin)
    assert answer.status_code == 201 and answer.json["quarter"] == "2026-Q4" and len(answer.json["figures"]) == 9
    assert client.post("/api/v1/quarterly-reports", json=body, headers=street_admin).status_code == 201   # replay
    again = client.post("/api/v1/quarterly-reports", json=dict(body, nonce="report-q4-2"), headers=street_admin)
    assert (again.status_code, again.json["error"]["code"]) == (409, "report_already_submitted")
    listed = client.get(f"/api/v1/quarterly-reports?region_id={cast['district']}&quarter=2026-Q4",
                        headers=district_admin)
    assert listed.status_code == 200
    states = {unit["name"]: unit["state"] for unit in listed.json["units"]}
    assert states == {"一街道": "submitted", "二街道": "not_yet", "三街道": "not_yet", "四街道": "not_yet"}
    refused = client.get(f"/api/v1/quarterly-reports?region_id={cast['district']}&quarter=2026-Q4",
                         headers=street_admin)
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "not_admin_of_region")
