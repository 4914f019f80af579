"""The organiser creates and publishes an activity in the console's form dialog (活动 → 新建活动 →
创建并发布) and finds it in the list as 已发布."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from playwright.sync_api import expect

from tests.e2e.helpers import SHANGHAI, console_login


def _input(scope, hook: str):
    """The <input> of an Element Plus field (el-input puts its data-* attributes on the input itself)."""
    return scope.locator(f"input[data-test={hook}], [data-test={hook}] input")


def _pick_datetime(page, hook: str, value: str) -> None:
    field = _input(page, hook)
    field.click()
    field.fill(value)
    field.press("Enter")
    expect(field).to_have_value(value)


def test_the_organiser_creates_and_publishes_an_activity(stack, page):
    title = f"敬老院包饺子{uuid.uuid4().hex[:4]}"
    day = (datetime.now(SHANGHAI) + timedelta(days=9)).date()
    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("activities"))
    page.locator("[data-test=activity-create]").click()
    dialog = page.locator("[data-test=activity-form]")
    expect(dialog.get_by_text("新建活动")).to_be_visible()

    _input(dialog, "activity-title").fill(title)
    _pick_datetime(page, "activity-starts", f"{day} 09:00")
    _pick_datetime(page, "activity-ends", f"{day} 11:30")
    page.locator("[data-test=activity-region] .el-cascader").click()
    for name in ("重庆市", "渝中区", "解放碑街道", "解放碑社区"):
        page.locator(".el-cascader-menu .el-cascader-node").filter(has_text=re.compile(f"^{name}$")).click()
    expect(_input(page, "activity-region")).to_have_value("解放碑社区")
    _input(dialog, "activity-address").fill("解放碑敬老院一楼食堂")
    capacity = _input(dialog, "activity-capacity")
    capacity.fill("12")
    capacity.press("Tab")

    with page.expect_response(lambda r: r.url.endswith("/api/v1/activities") and r.request.method == "POST") as made:
        dialog.locator("[data-test=activity-save-publish]").click()
    assert made.value.status == 201, made.value.text()
    activity_id = made.value.json()["id"]
    expect(page).to_have_url(re.compile(rf"/console/activities/{activity_id}$"))
    expect(page.locator("[data-test=activity-detail-status]")).to_have_text("已发布")

    page.goto(stack.console_url("activities"))
    _input(page, "activity-search").fill(title)
    row = page.locator("[data-test=activity-list] tbody tr").filter(has_text=title)
    expect(row).to_have_count(1)
    expect(row.locator("[data-test=activity-status]")).to_have_text("已发布")

    answer = stack.api("GET", f"activities/{activity_id}", token=stack.mp_login("organizer"))
    assert answer.status_code == 200, answer.text
    activity = answer.json()
    assert (activity["title"], activity["status"], activity["capacity"]) == (title, "published", 12)
    assert activity["region"]["name"] == "解放碑社区"
    assert activity["address"] == "解放碑敬老院一楼食堂"
    starts = datetime.fromisoformat(activity["starts_at"]).astimezone(SHANGHAI)
    ends = datetime.fromisoformat(activity["ends_at"]).astimezone(SHANGHAI)
    assert (starts.date(), starts.strftime("%H:%M"), ends.strftime("%H:%M")) == (day, "09:00", "11:30")
    assert page.errors == []
