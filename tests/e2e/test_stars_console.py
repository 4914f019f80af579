"""星级评定 in the console: a district admin approves a star application into publicity, and sets and
restores their district's star rules.

A demo volunteer qualifies for 1★ under a district rule set through the API (1 hour for 1★: the demo
records are a few hours, and no API gives hours without an activity), applies through the mini-program
API, and `sim_admin` (admin of 渝中区, above the street that approves 1★ by default) approves it in the
console: 公示中 with the publicity end the API has. The rule is dropped again, then set in 星级规则
(1★ at 80 hours → 本级设置, the API has it) and restored (恢复继承 → 系统默认, the API has none).
The 星级评定 menu item's badge counts the applications waiting for the admin and drops by one after
the approval. An admin of the volunteer's street only may not approve a 3★ (the district's by default): the page
shows the API's refusal in its words and the application stays 待审核.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from playwright.sync_api import expect

from tests.e2e.helpers import SHANGHAI, children, console_login, region_named
from tests.e2e.stack import Stack




def _rules(stack: Stack, token: str, region_id: int) -> dict:
    answer = stack.api("GET", f"regions/{region_id}/star-rules", token=token)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _applicant(stack: Stack, candidates: range, level: int = 1) -> tuple[str, dict]:
    """A demo volunteer who may apply for `level` under the low rule: (token, the application)."""
    for index in candidates:
        token = stack.mp_login(f"demo_v{index:03d}")
        answer = stack.api("POST", "me/star-applications", token=token, json={"level": level, "nonce": uuid.uuid4().hex})
        if answer.status_code == 201:
            return token, answer.json()
    raise AssertionError(f"no demo volunteer qualifies for {level}★ under the low rule")


def test_an_admin_approves_a_star_and_sets_and_restores_the_district_rules(stack, page):
    admin = stack.mp_login("admin")
    district = region_named(stack, admin, "重庆市", "渝中区")
    low = stack.api("PUT", f"regions/{district['id']}/star-rules", token=admin, json={
        "thresholds_hours": [1, 5000, 6000, 7000, 8000], "min_months": 0, "nonce": uuid.uuid4().hex})
    assert low.status_code == 200, low.text
    try:
        volunteer, application = _applicant(stack, range(1, 60))
    finally:
        assert stack.api("DELETE", f"regions/{district['id']}/star-rules", token=admin).status_code == 200
    assert application["status"] == "pending" and application["level"] == 1
    application_id = application["id"]

    # The queue shows it as 待审核 with the masked name and number; approved, it goes into publicity.
    console_login(page, stack, "sim_admin")
    page.goto(stack.console_url("stars"))
    expect(page.get_by_role("heading", name="星级评定")).to_be_visible()
    # The menu's badge counts what waits for this admin's review, this application among them.
    badge = page.locator("[data-test=menu-badge-stars]")
    expect(badge).to_be_visible()
    waiting = int(badge.inner_text().strip())
    assert waiting >= 1
    row = page.locator("[data-test=star-table] .el-table__row", has=page.locator(f"[data-test=star-open][data-id='{application_id}']"))
    expect(row).to_contain_text(application["volunteer_name"])
    if application["volunteer_number"]:
        expect(row).to_contain_text(application["volunteer_number"])
    expect(row.locator("[data-test=star-status]")).to_have_text("待审核")
    expect(row.locator("[data-test=star-level]")).to_contain_text("1 星")
    row.locator("[data-test=star-open]").click()
    drawer = page.locator("[data-test=star-drawer]")
    expect(drawer.locator("[data-test=star-drawer-status]")).to_have_text("待审核")
    drawer.locator("[data-test=star-approve]").click()
    expect(drawer.locator("[data-test=star-drawer-status]")).to_have_text("公示中")
    shown = stack.api("GET", f"star-applications/{application_id}", token=admin).json()
    assert shown["status"] == "publicity" and shown["publicity_ends_at"], shown
    ends = datetime.fromisoformat(shown["publicity_ends_at"].replace("Z", "+00:00")).astimezone(SHANGHAI)
    expect(drawer.locator("[data-test=star-publicity-end]")).to_have_text(f"公示至 {ends:%Y-%m-%d %H:%M}")
    if waiting > 1:
        expect(badge).to_have_text(str(waiting - 1))
    else:
        expect(badge).to_have_count(0)
    mine = stack.api("GET", "me/stars", token=volunteer).json()
    assert mine["open_application"]["status"] == "publicity"
    page.keyboard.press("Escape")
    page.locator("[data-test=star-status-publicity]").click()
    expect(page.locator(f"[data-test=star-open][data-id='{application_id}']")).to_be_visible()

    # 星级规则: the district has none of its own; 1★ at 80 hours is saved as 本级设置, then restored.
    page.get_by_role("tab", name="星级规则").click()
    rules = page.locator("[data-test=star-rules]")
    origin = rules.locator("[data-test=rule-origin-thresholds_hours]")
    expect(origin).not_to_have_text("本级设置")
    rules.locator("[data-test=rule-set-thresholds_hours]").click()
    first = rules.locator("[data-test=rule-threshold-1] input")
    first.fill("80")
    first.press("Tab")
    rules.locator("[data-test=star-rules-save]").click()
    expect(origin).to_have_text("本级设置")
    expect(rules.locator("[data-test=rule-value-thresholds_hours]")).to_contain_text("1★ 80 小时")
    saved = _rules(stack, admin, district["id"])
    assert saved["own"]["thresholds_hours"][0] == 80 and saved["own"]["min_months"] is None, saved
    assert saved["in_force"]["origins"]["thresholds_hours"] == district["id"]

    rules.locator("[data-test=star-rules-inherit]").click()
    page.locator(".el-message-box").get_by_role("button", name="恢复继承").click()
    expect(origin).not_to_have_text("本级设置")
    restored = _rules(stack, admin, district["id"])
    assert restored["own"] is None and restored["in_force"]["origins"]["thresholds_hours"] != district["id"], restored
    expect(origin).to_have_text("系统默认" if restored["in_force"]["origins"]["thresholds_hours"] is None
                                else f"继承自 {restored['in_force']['origin_names'][str(restored['in_force']['origins']['thresholds_hours'])]}")


def test_a_street_admin_is_refused_a_three_star_approval_in_the_apis_words(stack, page):
    admin = stack.mp_login("admin")
    district = region_named(stack, admin, "重庆市", "渝中区")
    low = stack.api("PUT", f"regions/{district['id']}/star-rules", token=admin, json={
        "thresholds_hours": [1, 2, 3, 7000, 8000], "min_months": 0, "nonce": uuid.uuid4().hex})
    assert low.status_code == 200, low.text
    try:
        volunteer, application = _applicant(stack, range(1, 60), level=3)
    finally:
        assert stack.api("DELETE", f"regions/{district['id']}/star-rules", token=admin).status_code == 200
    # The volunteer's street gets an admin of its own (3★ is the district's by default).
    community_id = stack.api("GET", "me", token=volunteer).json()["region"]["id"]
    street = next(s for s in children(stack, admin, district["id"])
                  if community_id in {c["id"] for c in children(stack, admin, s["id"])})
    code = f"e2e_stars_street_{uuid.uuid4().hex[:6]}"
    stack.cli("roles", "grant", f"sim_{code}", "admin", str(street["id"]))
    refused = stack.api("POST", f"star-applications/{application['id']}/review", token=stack.mp_login(code),
                        json={"decision": "approve", "nonce": uuid.uuid4().hex})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_star_approver", refused.text

    console_login(page, stack, f"sim_{code}")
    page.goto(stack.console_url("stars"))
    page.locator(f"[data-test=star-open][data-id='{application['id']}']").click()
    drawer = page.locator("[data-test=star-drawer]")
    drawer.locator("[data-test=star-approve]").click()
    expect(page.locator(".el-message--error")).to_contain_text(refused.json()["error"]["message"])
    expect(drawer.locator("[data-test=star-drawer-status]")).to_have_text("待审核")
    assert stack.api("GET", f"star-applications/{application['id']}", token=admin).json()["status"] == "pending"
