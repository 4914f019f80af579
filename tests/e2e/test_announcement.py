"""通知公告: the organiser composes an announcement to one team, sees how many it reaches before
confirming, sends it, and watches its progress reach 已发送 while the stack's worker delivers it
through the WeChat simulator."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.e2e.helpers import MEDICAL_TEAM, console_login


def test_an_announcement_is_sent_and_its_progress_reaches_sent(stack, page):
    title = f"周六义诊通知{uuid.uuid4().hex[:4]}"
    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("announcements"))
    expect(page.get_by_role("heading", name="通知公告")).to_be_visible()

    page.locator("[data-test=audience-kind]").get_by_text("某支队伍").click()
    page.locator("[data-test=audience-kind] ~ .el-select").click()
    page.locator(".el-select-dropdown__item").filter(has_text=MEDICAL_TEAM).click()
    recipients = page.locator("[data-testid=reach-recipients]")
    expect(recipients).to_have_text(re.compile(r"^[1-9][0-9]*$"))
    count = int(recipients.inner_text())
    unreachable = int(page.locator("[data-testid=reach-unreachable]").inner_text())
    assert 0 <= unreachable <= count

    page.locator("input[data-test=announcement-title], [data-test=announcement-title] input").fill(title)
    page.locator("textarea[data-test=announcement-body], [data-test=announcement-body] textarea").fill(
        "本周六上午九点在解放碑社区服务中心开展义诊，请按时签到。")
    page.locator("[data-test=announcement-send]").click()
    dialog = page.get_by_role("dialog", name="确认发送公告")
    expect(dialog).to_contain_text(f"共 {count} 人")
    expect(dialog).to_contain_text(f"队伍「{MEDICAL_TEAM}」")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/announcements") and r.request.method == "POST") as sent:
        dialog.locator("[data-test=announcement-confirm]").click()
    assert sent.value.status in (200, 201, 202), sent.value.text()
    announcement_id = sent.value.json()["id"]

    live = page.locator("[data-test=announcement-live]")
    expect(live).to_contain_text(title)
    expect(live.locator("[data-testid=announcement-status]")).to_have_text("已发送", timeout=60_000)
    expect(live).to_contain_text(f"接收 {count} 人")

    answer = stack.api("GET", f"announcements/{announcement_id}", token=stack.mp_login("organizer"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["recipients"] == count, body
    queued = sum(channel.get("queued", 0) for channel in (body.get("progress") or {}).values())
    assert queued == 0, body
    assert page.errors == []
