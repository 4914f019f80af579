"""补录: an organiser enters a past activity with an evidence photo (an entry beyond the window is refused with
the API's words); an admin of the region above approves it; the volunteer's records have it."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

from PIL import Image
from playwright.sync_api import expect

from tests.e2e.helpers import SHANGHAI, approved_volunteer, console_login, region_named, unique_name


def _input(scope, hook: str):
    return scope.locator(f"input[data-test={hook}], [data-test={hook}] input")


def _pick_datetime(scope, hook: str, value: str) -> None:
    field = _input(scope, hook)
    field.click()
    field.fill(value)
    field.press("Enter")
    expect(field).to_have_value(value)


def _photo(path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 120, 200)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())


def test_a_retroactive_entry_is_entered_approved_above_and_credited(stack, page, browser, tmp_path):
    tag = uuid.uuid4().hex[:6]
    title = f"河道清漂{tag}"
    name = unique_name()
    volunteer, me = approved_volunteer(stack, f"e2e_retro_{tag}", name=name)
    photo = tmp_path / "现场.jpg"
    _photo(photo)
    day = (datetime.now(SHANGHAI) - timedelta(days=3)).date()

    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("retroactive-entries"))
    page.locator("[data-test=retro-new]").click()
    dialog = page.get_by_role("dialog", name="新增补录")
    _input(dialog, "retro-title").fill(title)
    _input(dialog, "retro-place").fill("嘉陵江滨江步道")
    _input(dialog, "retro-beneficiary").fill("沿江居民")
    dialog.locator("textarea[data-test=retro-content], [data-test=retro-content] textarea").fill("清理江边漂浮垃圾")
    too_old = (datetime.now(SHANGHAI) - timedelta(days=120)).date()
    _pick_datetime(dialog, "retro-starts", f"{too_old} 09:00")
    _pick_datetime(dialog, "retro-ends", f"{too_old} 11:00")
    dialog.locator("[data-test=retro-picker]").click()
    page.keyboard.type(name)
    page.locator(".el-select-dropdown__item:visible").filter(has_text=me["mobile"][-4:]).click()
    expect(dialog.locator("[data-test=retro-attendees] tbody tr")).to_have_count(1)
    dialog.locator("[data-test=upload-input]").set_input_files(str(photo))
    expect(dialog.locator("[data-test=upload-tile] img")).to_have_count(1)

    # Beyond the window (90 days): the API refuses, and the form says so in its words.
    dialog.locator("[data-test=retro-submit]").click()
    expect(dialog.locator("[data-test=retro-refusal]")).to_contain_text("只能补录已结束、且开始于 90 天内的活动")

    _pick_datetime(dialog, "retro-starts", f"{day} 09:00")
    _pick_datetime(dialog, "retro-ends", f"{day} 11:00")
    dialog.locator("[data-test=retro-submit]").click()
    expect(page.locator(".el-message--success")).to_contain_text("等待上级地区管理员审批")
    mine = page.locator("[data-test=retro-entry]").filter(has_text=title)
    expect(mine).to_have_count(1)
    expect(mine.locator("[data-test=retro-entry-status]")).to_have_text("待审批")

    # The demo organisation sits in 渝中区: its admin is not above it; an admin of 重庆市 is.
    city = region_named(stack, stack.mp_login("admin"), "重庆市")
    code = f"e2e_city_admin_{tag}"
    stack.cli("roles", "grant", f"sim_{code}", "admin", str(city["id"]))
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        admin_page = context.new_page()
        console_login(admin_page, stack, f"sim_{code}")
        admin_page.goto(stack.console_url("retroactive-entries"))
        entry = admin_page.locator("[data-test=retro-entry]").filter(has_text=title)
        expect(entry).to_have_count(1)
        expect(entry).to_contain_text("嘉陵江滨江步道")
        expect(entry.locator("[data-test=retro-entry-org]")).to_have_text("渝中区志愿者协会")
        expect(entry).to_contain_text("服务对象：沿江居民")
        thumbnail = entry.locator("[data-test=retro-evidence] img")
        expect(thumbnail).to_have_count(1)
        expect(thumbnail).to_have_js_property("complete", True)
        assert thumbnail.evaluate("img => img.naturalWidth") > 0  # the signed thumbnail link loads
        entry.locator("[data-test=retro-approve]").click()
        expect(admin_page.locator(".el-message--success")).to_contain_text("1 人的时长已计入")
        expect(entry).to_have_count(0)  # it leaves the pending queue
    finally:
        context.close()

    records = stack.api("GET", "me/records", token=volunteer, params={"per_page": 50})
    assert records.status_code == 200, records.text
    ours = [r for r in records.json()["items"] if r["activity_title"] == title]
    assert [r["minutes"] for r in ours] == [120], records.text
    page.reload()
    expect(mine.locator("[data-test=retro-entry-status]")).to_have_text("已通过并计入")
    assert page.errors == []
