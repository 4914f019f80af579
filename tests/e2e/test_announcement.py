"""通知公告: the organiser composes an announcement to a team, sees how many it reaches (and how many
only by the in-app inbox) before confirming, sends it, and watches its progress reach 已发送 while the
stack's worker delivers it through the WeChat simulator.

The test makes its own team of two new volunteers: one accepted the announcement's subscribe message
(delivered by the worker through the simulator), one did not (inbox only, counted as unreachable).
"""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import expect

from tests.e2e.helpers import approved_volunteer, console_login, demo_organization_id

ANNOUNCEMENT_TEMPLATE = "sim_tmpl_announcement"  # config.example.toml [wechat.templates] announcement


def _team_of_two(stack) -> tuple[str, str]:
    """A new open team of the demo organisation with two members, the first subscribed: (team name, subscriber openid)."""
    organizer = stack.mp_login("organizer")
    name = f"公告测试队{uuid.uuid4().hex[:4]}"
    made = stack.api("POST", f"organizations/{demo_organization_id(stack, organizer)}/teams", token=organizer,
                     json={"name": name, "join_mode": "open"})
    assert made.status_code == 201, made.text
    codes = [f"e2e_news_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for code in codes:
        token, _ = approved_volunteer(stack, code)
        joined = stack.api("POST", f"teams/{made.json()['id']}/join", token=token)
        assert joined.status_code == 201, joined.text
        if code == codes[0]:
            report = stack.api("POST", "me/subscriptions", token=token, json={
                "report_id": uuid.uuid4().hex, "results": {ANNOUNCEMENT_TEMPLATE: "accept"}})
            assert report.status_code == 200 and report.json()["added"] == 1, report.text
    return name, f"sim_{codes[0]}"


def test_an_announcement_is_sent_and_its_progress_reaches_sent(stack, page):
    team, subscriber = _team_of_two(stack)
    title = f"周六义诊通知{uuid.uuid4().hex[:4]}"
    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("announcements"))
    expect(page.get_by_role("heading", name="通知公告")).to_be_visible()

    page.locator("[data-test=audience-kind]").get_by_text("某支队伍").click()
    page.locator("[data-test=audience-kind] ~ .el-select").click()
    page.locator(".el-select-dropdown__item").filter(has_text=team).click()
    expect(page.locator("[data-testid=reach-recipients]")).to_have_text("2")
    expect(page.locator("[data-testid=reach-unreachable]")).to_have_text("1")

    page.locator("input[data-test=announcement-title], [data-test=announcement-title] input").fill(title)
    page.locator("textarea[data-test=announcement-body], [data-test=announcement-body] textarea").fill(
        "本周六上午九点在解放碑社区服务中心开展义诊，请按时签到。")
    page.locator("[data-test=announcement-send]").click()
    dialog = page.get_by_role("dialog", name="确认发送公告")
    expect(dialog).to_contain_text("共 2 人，其中 1 人只能在站内信查看")
    expect(dialog).to_contain_text(f"队伍「{team}」")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/announcements") and r.request.method == "POST") as sent:
        dialog.locator("[data-test=announcement-confirm]").click()
    assert sent.value.status in (200, 201, 202), sent.value.text()
    announcement_id = sent.value.json()["id"]

    live = page.locator("[data-test=announcement-live]")
    expect(live).to_contain_text(title)
    expect(live.locator("[data-testid=announcement-status]")).to_have_text("已发送", timeout=60_000)
    expect(live).to_contain_text("接收 2 人，其中 1 人只能在站内信查看")
    expect(live.locator("[data-testid=announcement-channels] tbody tr").first).to_be_visible()

    answer = stack.api("GET", f"announcements/{announcement_id}", token=stack.mp_login("organizer"))
    assert answer.status_code == 200, answer.text
    progress = answer.json()["progress"]
    assert sum(channel["queued"] for channel in progress.values()) == 0, progress
    assert progress["miniprogram_subscribe"]["sent"] == 1, progress
    delivered = [m for m in stack.simulator.messages() if title in json.dumps(m, ensure_ascii=False)]
    assert len(delivered) == 1 and subscriber in json.dumps(delivered[0]), delivered
    assert page.errors == []
