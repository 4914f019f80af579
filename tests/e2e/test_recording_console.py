"""Recording time on a held activity in the console: the sign-in sheet's template, an XLSX sheet's preview
and commit, a declaration confirmed from 待确认申报, the table's refusals, an attendee's evaluation, and a
photo of the summary shown in the evidence gallery; each checked in the API."""

from __future__ import annotations

import io
import sqlite3
import uuid
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.helpers import (SHANGHAI, a_community_of_yuzhong, console_login, open_activity, sign_up, unique_mobile,
                               unique_name)


def _volunteer(stack, code: str) -> dict:
    """A new approved volunteer whose name and mobile the sign-in sheet can carry."""
    token = stack.mp_login(code)
    name, mobile = unique_name(), unique_mobile()
    community = a_community_of_yuzhong(stack, token)
    made = stack.api("POST", "volunteers", token=token, json={
        "real_name": name, "mobile": mobile, "birth_date": "1990-05-01", "region_id": community["id"]})
    assert made.status_code == 201, made.text
    reviewed = stack.api("POST", f"volunteers/{made.json()['id']}/review", token=stack.mp_login("organizer"),
                         json={"decision": "approve"})
    assert reviewed.status_code == 200, reviewed.text
    return {"token": token, "id": made.json()["id"], "name": name, "mobile": mobile}


def _held(stack, activity: dict, *, ended_ago: timedelta) -> tuple[datetime, datetime]:
    """Move the activity (signed up for while it was ahead) into the past: no API makes a held one directly.

    The stack's database is its own SQLite file; SQLite keeps UTC as naive text.
    """
    starts = datetime.now(SHANGHAI).replace(second=0, microsecond=0) - ended_ago - timedelta(hours=3)
    ends = starts + timedelta(hours=3)
    with closing(sqlite3.connect(stack.database_url.removeprefix("sqlite:///"))) as db, db:
        db.execute("UPDATE activities SET starts_at = ?, ends_at = ? WHERE id = ?",
                   (_utc_text(starts), _utc_text(ends), activity["id"]))
    return starts, ends


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sheet(starts: datetime, rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append([f"签到表 {starts:%Y-%m-%d}"])
    sheet.append(["姓名", "手机后四位", "签到时间", "签退时间"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _jpeg(colour: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def _archive_line(stack, volunteer: dict, activity_id: int) -> dict:
    answer = stack.api("GET", "me/archive", token=volunteer["token"])
    assert answer.status_code == 200, answer.text
    return next(line for line in answer.json()["records"] if line["activity_id"] == activity_id)


def test_recording_an_activitys_time_in_the_console(stack, page):
    suffix = uuid.uuid4().hex[:4]
    activity = open_activity(stack, title=f"社区助老服务{suffix}", starts_in=timedelta(hours=2))
    amy, ben, cai = (_volunteer(stack, f"rec_{suffix}_{who}") for who in ("amy", "ben", "cai"))
    for volunteer in (amy, ben, cai):
        sign_up(stack, volunteer["token"], activity["id"])
    starts, ends = _held(stack, activity, ended_ago=timedelta(hours=1))

    # Cai could not scan: a declaration with a photo, through the mini-program's API.
    photo = stack.api("POST", "uploads", token=cai["token"],
                      data={"purpose": "declaration_photo", "nonce": f"photo-{suffix}-1"},
                      files={"file": ("scene.jpg", _jpeg("orange"), "image/jpeg")})
    assert photo.status_code == 201, photo.text
    declared = stack.api("POST", f"activities/{activity['id']}/declarations", token=cai["token"], json={
        "started_at": starts.isoformat(), "ended_at": ends.isoformat(), "note": "手机没电没能扫码",
        "photos": [photo.json()["token"]], "nonce": f"declare-{suffix}-1"})
    assert declared.status_code == 201, declared.text

    # The paper sheet: Amy all along, Ben half an hour late, and a line nobody signed up under (row 5).
    def at(moment: datetime) -> str:  # as typed on the sheet, with its own date (the activity may cross midnight)
        return f"{moment:%Y-%m-%d %H:%M}"

    sheet = _sheet(starts, [
        [amy["name"], amy["mobile"][-4:], at(starts), at(ends)],
        [ben["name"], ben["mobile"][-4:], at(starts + timedelta(minutes=30)), at(ends)],
        ["查无此人", "0000", at(starts), at(ends)],
    ])
    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url(f"/activities/{activity['id']}?tab=bulk"))
    page.locator("[data-test=bulk-mode-sheet]").click()
    with page.expect_download() as got:
        page.locator("[data-test=sheet-template]").click()
    from openpyxl import load_workbook

    assert got.value.suggested_filename.endswith(".xlsx")
    template = list(load_workbook(io.BytesIO(Path(got.value.path()).read_bytes())).active.iter_rows(values_only=True))
    assert template[1][:5] == ("姓名", "志愿者编号", "手机后四位", "签到时间", "签退时间")
    assert len(template) == 2 + 3 and all(row[1] for row in template[2:]), template  # the three, by number
    page.locator("[data-test=sheet-input]").set_input_files(
        {"name": "签到表.xlsx", "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "buffer": sheet})
    expect(page.locator("[data-test=sheet-preview-summary]")).to_contain_text("2 行可提交，1 行有问题")
    expect(page.locator("[data-test=sheet-row-problem]")).to_have_count(1)
    expect(page.locator("[data-test=sheet-row-problem]")).to_contain_text("第 5 行：")
    page.locator("[data-test=sheet-commit]").click()
    expect(page.locator("[data-test=sheet-result-summary]")).to_contain_text("已计入 2 人，共 5 小时 30 分钟")
    expect(page.locator("[data-test=sheet-row-outcome]").first).to_contain_text("已计入 3 小时")

    for volunteer, minutes in ((amy, 180), (ben, 150)):
        line = _archive_line(stack, volunteer, activity["id"])
        assert line["minutes"] == minutes and line["sources"] == ["bulk"], line
        assert [entry["source"] for entry in line["entries"]] == ["bulk"]

    # 待确认申报: Cai's declaration with its photo; confirmed there, credited in the API.
    page.goto(stack.console_url("/declarations"))
    row = page.locator("[data-test=declarations] tr", has_text=activity["title"])
    expect(row).to_have_count(1)
    expect(row.locator("[data-test=declaration-photo] img")).to_be_visible()
    row.locator("[data-test=declaration-confirm]").click()
    expect(page.get_by_text("计入 3 小时")).to_be_visible()
    decided = stack.api("GET", f"declarations/{declared.json()['id']}", token=cai["token"]).json()
    assert decided["status"] == "approved" and decided["record_id"], decided
    assert _archive_line(stack, cai, activity["id"])["sources"] == ["declaration"]

    # The table, with the activity's times: everyone is credited already, so each row is refused with why.
    page.goto(stack.console_url(f"/activities/{activity['id']}?tab=bulk"))
    expect(page.locator("[data-test=bulk-table] tbody tr")).to_have_count(3)
    page.locator("[data-test=bulk-submit]").click()
    expect(page.locator("[data-test=bulk-table-summary]")).to_contain_text("已计入 0 人")
    expect(page.locator("[data-test=bulk-table-result]").get_by_text("未计入：")).to_have_count(3)

    # 评价: Amy rated 优秀 with a note; the API has it.
    page.goto(stack.console_url(f"/activities/{activity['id']}?tab=evaluation"))
    expect(page.locator("[data-test=attendee-evaluations] tbody tr")).to_have_count(3)
    amy_row = page.locator("[data-test=attendee-evaluations] tbody tr").nth(0)
    amy_row.get_by_text("优秀").click()
    amy_row.locator("input[data-test=attendee-note], [data-test=attendee-note] input").fill("全程耐心陪伴")
    page.locator("[data-test=attendee-evaluations-save]").click()
    expect(page.get_by_text("已保存 1 人的评价")).to_be_visible()
    rated = stack.api("GET", f"activities/{activity['id']}/evaluations", token=stack.mp_login("organizer")).json()
    assert [(a["rating"], a["note"]) for a in rated["attendees"] if a["rating"]] == [("excellent", "全程耐心陪伴")]

    # 总结与照片: a photo uploaded and saved shows as a thumbnail; the API's report lists it.
    page.goto(stack.console_url(f"/activities/{activity['id']}?tab=report"))
    page.locator("textarea[data-test=report-summary], [data-test=report-summary] textarea").fill("陪伴老人两小时，读报、量血压。")
    page.locator("[data-test=upload-input]").set_input_files(
        {"name": "合影.jpg", "mimeType": "image/jpeg", "buffer": _jpeg("teal")})
    expect(page.locator("[data-test=upload-tile] img")).to_be_visible()
    page.locator("[data-test=report-save]").click()
    expect(page.locator("[data-test=report-revision]")).to_contain_text("第 1 版")
    expect(page.locator("[data-test=gallery-photo] img")).to_have_count(2)  # the report's and Cai's declaration's
    report = stack.api("GET", f"activities/{activity['id']}/report", token=stack.mp_login("organizer")).json()
    assert report["summary"] == "陪伴老人两小时，读报、量血压。" and len(report["photos"]) == 1, report
    assert page.errors == []
