"""记录证明 and a volunteer's full archive in the console.

The certificate's whole life: a demo volunteer with hours requests it through the API; the demo
organiser reviews it in the console (公示中); someone objects, publicity runs out, the organiser
dismisses the objection and issues it; the PDF
downloads (生成中 while the task worker renders it); its QR code, decoded from the rendered PDF, is the
verification link, which opens as a valid page with the masked name and hours; revoked in the console
with a reason, the same link answers 410 with that reason.

Time: the stack has no pinned clock and publicity is at least a day (the 2015 意见: generally 7), so
the test lets publicity run out by moving its end into the past in the stack's database, as the
passing of days would. Everything else goes through the API and the pages.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pypdfium2
import zxingcpp
from playwright.sync_api import expect

from tests.e2e.helpers import console_login, demo_organization_id
from tests.e2e.stack import Stack

SHANGHAI = timezone(timedelta(hours=8))


def _volunteer_with_hours(stack: Stack, organization_id: int, candidates: range) -> tuple[str, dict]:
    """A demo volunteer (mini-program code, own archive) with service hours recorded by the organisation."""
    for index in candidates:
        code = f"demo_v{index:03d}"
        token = stack.mp_login(code)
        answer = stack.api("GET", "me/archive", token=token)
        if answer.status_code != 200:
            continue
        archive = answer.json()
        if any(r["organization"]["id"] == organization_id and r["minutes"] > 0 for r in archive["records"]):
            return code, archive
    raise AssertionError("no demo volunteer with hours recorded by the demo organisation")


def _end_publicity(stack: Stack, certificate_id: int) -> None:
    """Publicity is over: its end an hour ago (naive UTC text, as SQLAlchemy stores it on SQLite)."""
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(tzinfo=None)
    with sqlite3.connect(stack.database_url.removeprefix("sqlite:///")) as db:
        changed = db.execute("UPDATE certificates SET publicity_ends_at = ? WHERE id = ? AND status = 'publicity'",
                             (past.strftime("%Y-%m-%d %H:%M:%S.%f"), certificate_id)).rowcount
    assert changed == 1


def _qr_text(pdf_path: Path) -> str:
    """The QR code's content, read from the first page rendered at 3× (about 216 dpi)."""
    document = pypdfium2.PdfDocument(str(pdf_path))
    try:
        image = document[0].render(scale=3).to_pil()
    finally:
        document.close()
    found = [b for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(found) == 1, found
    return found[0].text


def test_a_certificate_is_reviewed_issued_verified_from_its_qr_and_revoked(stack, page):
    organizer = stack.mp_login("organizer")
    organization_id = demo_organization_id(stack, organizer)
    code, archive = _volunteer_with_hours(stack, organization_id, range(1, 60))
    token = stack.mp_login(code)
    today = datetime.now(SHANGHAI).date()
    answer = stack.api("POST", "me/certificates", token=token, json={
        "period_start": (today - timedelta(days=365)).isoformat(), "period_end": today.isoformat(),
        "note": "入学材料", "nonce": uuid.uuid4().hex})
    assert answer.status_code == 201, answer.text
    certificate = next(c for c in answer.json()["items"] if c["organization_id"] == organization_id)
    assert certificate["status"] == "requested"
    certificate_id = certificate["id"]

    # The organiser reviews it: approved, it goes into publicity with its serial.
    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("certificates"))
    expect(page.get_by_role("heading", name="记录证明")).to_be_visible()
    request_row = page.locator("[data-test=certificate-table] .el-table__row", has=page.locator(
        f"[data-test=certificate-open][data-id='{certificate_id}']"))
    expect(request_row).to_contain_text(certificate["volunteer_name"])
    expect(request_row).to_contain_text("待审核")
    request_row.locator("[data-test=certificate-open]").click()
    drawer = page.locator("[data-test=certificate-drawer]")
    expect(drawer.locator("[data-test=drawer-status]")).to_have_text("待审核")
    drawer.locator("[data-test=certificate-approve]").click()
    expect(drawer.locator("[data-test=drawer-status]")).to_have_text("公示中")
    expect(drawer.locator("[data-test=publicity-text]")).to_contain_text("公示至")
    expect(drawer.locator("[data-test=certificate-issue]")).to_be_disabled()
    shown = stack.api("GET", f"certificates/{certificate_id}", token=organizer).json()
    assert shown["status"] == "publicity" and shown["serial"], shown
    hours = shown["content"]["service"]["hours"]
    assert hours > 0
    expect(drawer.locator("[data-test=content-hours]")).to_have_text(f"{hours:g} 小时")
    # In publicity the link shows it as such.
    publicised = page.context.new_page()
    assert publicised.goto(shown["verification_url"]).status == 200
    expect(publicised.locator("body")).to_contain_text("公示中")
    publicised.close()

    # Someone objects during publicity; after publicity the objection still holds the issue back
    # until the organiser decides it (dismissed: publicity's outcome stands).
    objector = stack.mp_login(f"e2e_objector_{uuid.uuid4().hex[:6]}")
    raised = stack.api("POST", f"certificates/{certificate_id}/objections", token=objector,
                       json={"reason": "该志愿者当天并未到场", "nonce": uuid.uuid4().hex})
    assert raised.status_code == 201, raised.text
    _end_publicity(stack, certificate_id)
    page.reload()
    page.locator(f"[data-test=certificate-open][data-id='{certificate_id}']").click()
    objections = drawer.locator("[data-test=objection-table]")
    expect(objections).to_contain_text("该志愿者当天并未到场")
    expect(drawer.locator("[data-test=certificate-issue]")).to_be_disabled()
    objections.locator("[data-test=objection-dismiss]").click()
    decision = page.get_by_role("dialog", name="异议不成立（公示继续）")
    decision.locator("[data-test=reason-input]").fill("经核对签到表，当天到场")
    decision.locator("[data-test=reason-confirm]").click()
    expect(objections).to_contain_text("异议不成立")
    decided = stack.api("GET", f"certificates/{certificate_id}/objections", token=organizer).json()["items"]
    assert [(o["status"], o["decision_note"]) for o in decided] == [("dismissed", "经核对签到表，当天到场")]

    # Publicity is over with no objection open: the organiser issues it and downloads the PDF
    # (生成中 until the task worker rendered it).
    expect(drawer.locator("[data-test=certificate-issue]")).to_be_enabled()
    drawer.locator("[data-test=certificate-issue]").click()
    expect(drawer.locator("[data-test=drawer-status]")).to_have_text("已出具")
    expect(drawer.locator("[data-test=snapshot-sha]")).to_have_text(
        stack.api("GET", f"certificates/{certificate_id}", token=organizer).json()["snapshot_sha256"])
    with page.expect_download(timeout=90_000) as pdf:
        drawer.locator("[data-test=certificate-pdf]").click()
    pdf_path = Path(pdf.value.path())
    assert pdf_path.read_bytes().startswith(b"%PDF")
    expect(drawer.locator("[data-test=pdf-status]")).to_have_text("已生成", timeout=15_000)  # the drawer asks again

    # The QR code carries the verification link: open it as a phone would, no login.
    link = _qr_text(pdf_path)
    issued = stack.api("GET", f"certificates/{certificate_id}", token=organizer).json()
    assert link == issued["verification_url"] and link.startswith(f"{stack.url}/v/{issued['serial']}?c=")
    volunteer_name = issued["content"]["identity"]["name"]
    masked = issued["content"]["identity"]["masked_name"]
    phone = page.context.browser.new_context(locale="zh-CN")
    verify = phone.new_page()
    try:
        assert verify.goto(link).status == 200
        body = verify.locator("body")
        expect(body).to_contain_text("有效")
        expect(body).to_contain_text(masked)
        expect(body).to_contain_text(f"{hours} 小时")
        expect(body).to_contain_text(issued["serial"])
        assert volunteer_name not in body.inner_text()

        # Revoked in the console with a reason: the same link answers 410 with the reason.
        drawer.locator("[data-test=certificate-revoke]").click()
        dialog = page.get_by_role("dialog", name="撤销证明")
        dialog.locator("[data-test=reason-input]").fill("服务时长登记有误，需重新出具")
        dialog.locator("[data-test=reason-confirm]").click()
        expect(drawer.locator("[data-test=drawer-status]")).to_have_text("已撤销")
        expect(drawer.locator("[data-test=revocation]")).to_contain_text("服务时长登记有误")
        assert verify.goto(link).status == 410
        expect(body).to_contain_text("已撤销")
        expect(body).to_contain_text("撤销原因：服务时长登记有误，需重新出具")
    finally:
        phone.close()

    after = stack.api("GET", f"certificates/{certificate_id}", token=token).json()
    assert after["status"] == "revoked" and after["revocation_reason"] == "服务时长登记有误，需重新出具"
    machine = stack.http.get(link, params={"format": "json"}, timeout=10)
    assert machine.status_code == 410 and machine.json()["revoked"] is True
    expect(page.locator(".el-message--error")).to_have_count(0)
    assert page.errors == []


def test_the_archive_page_shows_a_records_fields_and_an_added_award(stack, page):
    organizer = stack.mp_login("organizer")
    organization_id = demo_organization_id(stack, organizer)
    # Counting down from the end keeps this test off the first test's volunteer.
    code, own = _volunteer_with_hours(stack, organization_id, range(59, 0, -1))
    volunteer_id = own["volunteer"]["id"]
    seen = stack.api("GET", f"volunteers/{volunteer_id}/archive", token=organizer)
    assert seen.status_code == 200, seen.text
    record = next(r for r in seen.json()["records"] if r["organization"]["id"] == organization_id)

    # Opened from the directory: the volunteer's row links to the archive.
    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("volunteers?tab=directory"))
    page.locator("[data-test=directory-search]").fill(own["volunteer"]["name"])
    directory = page.locator("[data-test=volunteer-directory]")
    expect(directory.locator(".el-table__row")).to_have_count(1)
    directory.locator("[data-test=directory-archive]").click()
    expect(page).to_have_url(stack.console_url(f"volunteers/{volunteer_id}/archive"))
    archive_page = page.locator("[data-test=archive-page]")
    expect(archive_page.get_by_role("heading", name=f"志愿者档案：{seen.json()['volunteer']['name']}")).to_be_visible()
    expect(archive_page.locator("[data-test=archive-hours]")).to_have_text(f"{seen.json()['totals']['service_hours']:g} 小时")
    row = archive_page.locator("[data-test=archive-records] .el-table__row", has_text=record["name"]).first
    expect(row).to_contain_text(record["place"])
    expect(row).to_contain_text(f"{record['hours']:g} 小时")
    expect(row).to_contain_text(record["recorder"]["organization_name"])
    if record["lead"]:
        expect(row).to_contain_text(record["lead"])
    expect(row.locator("[data-test=record-source]").first).to_be_visible()

    # An award, added in the console, is in the archive (page and API); then taken back with a reason.
    title = f"优秀志愿者{uuid.uuid4().hex[:4]}"
    archive_page.get_by_role("tab", name="表彰").click()
    archive_page.locator("[data-test=add-award]").click()
    dialog = page.locator(".el-dialog", has_text="记入表彰")
    dialog.locator("[data-test=entry-title-input]").fill(title)
    day = dialog.locator("[data-test=entry-date] input")
    day.click()
    day.fill(datetime.now(SHANGHAI).date().isoformat())
    day.press("Enter")
    expect(day).to_have_value(datetime.now(SHANGHAI).date().isoformat())
    dialog.locator("[data-test=entry-reason-input]").fill("渝志协〔2026〕12号")
    dialog.locator("[data-test=entry-save]").click()
    awards = archive_page.locator("[data-test=archive-awards]")
    award_row = awards.locator(".el-table__row", has_text=title)
    expect(award_row).to_contain_text("渝志协〔2026〕12号")
    expect(award_row).to_contain_text("有效")
    stored = stack.api("GET", f"volunteers/{volunteer_id}/archive", token=organizer).json()
    award = next(a for a in stored["awards"] if a["title"] == title)
    assert award["organization"]["id"] == organization_id and award["retraction"] is None

    award_row.locator("[data-test=entry-retract]").click()
    confirm = page.get_by_role("dialog", name=f"撤销表彰：{title}")
    confirm.locator("[data-test=reason-input]").fill("表彰文件已撤回")
    confirm.locator("[data-test=reason-confirm]").click()
    expect(award_row.locator("[data-test=entry-retracted]")).to_be_visible()
    expect(award_row).to_contain_text("表彰文件已撤回")
    stored = stack.api("GET", f"volunteers/{volunteer_id}/archive", token=organizer).json()
    assert next(a for a in stored["awards"] if a["title"] == title)["retraction"]["reason"] == "表彰文件已撤回"
    expect(page.locator(".el-message--error")).to_have_count(0)
    assert page.errors == []
