"""积分 in the console: an admin funds an organisation's pool and sets and restores a district rule; an
organiser gives a volunteer a bonus from the pool, and one over the cap is refused in the API's words.

`sim_admin` (admin of 渝中区) funds 渝中区志愿者协会's pool in 拨付积分 (the API's pool balance grows by
that much), sets 每小时积分 to 12 in 积分规则 (本级设置, the API has it) and restores it (恢复继承 → the
earlier source, the API has no own rules). `sim_organizer` then gives a demo volunteer who served at
one of the association's activities (found through the volunteer's own archive) 20 points in 发放奖励:
with a reason (「暴雨夜坚守岗位」): the volunteer's `/me/points` has the bonus line with that memo; 100
more (the default cap is 100 per activity) is refused with the API's `bonus_cap_exceeded` message in
the dialog. Back as `sim_admin`, 账户流水 finds the volunteer by number: the balance is the API's and
the bonus line shows its reason.
"""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.helpers import console_login, demo_organization_id, region_named
from tests.e2e.stack import Stack


REASON = "暴雨夜坚守岗位"


def _pool_balance(stack: Stack, token: str, organization_id: int) -> int:
    answer = stack.api("GET", f"organizations/{organization_id}/points", token=token)
    assert answer.status_code == 200, answer.text
    return answer.json()["balance"]


def _served_volunteer(stack: Stack, organization_id: int, titles: dict[str, int]) -> tuple[str, dict, dict]:
    """A demo volunteer with a record at one of the organisation's activities whose title is unique among
    those the bonus dialog offers: (token, their archive's holder with full name, the record)."""
    for index in range(1, 80):
        token = stack.mp_login(f"demo_v{index:03d}")
        answer = stack.api("GET", "me/archive", token=token)
        if answer.status_code != 200:
            continue
        archive = answer.json()
        for record in archive["records"]:
            if record["organization"]["id"] == organization_id and titles.get(record["name"]) == record["activity_id"]:
                return token, archive["volunteer"], record
    raise AssertionError("no demo volunteer served at an activity of the demo organisation")


def _offered_titles(stack: Stack, token: str, organization_id: int) -> dict[str, int]:
    """Titles of the finished and running activities the dialog lists, each title offered once only."""
    seen: dict[str, list[int]] = {}
    for status, sort in (("finished", "-starts_at"), ("ongoing", "starts_at")):
        answer = stack.api("GET", f"organizations/{organization_id}/activities", token=token,
                           params={"status": status, "limit": 100, "sort": sort})
        assert answer.status_code == 200, answer.text
        for item in answer.json()["items"]:
            seen.setdefault(item["title"], []).append(item["id"])
    return {title: ids[0] for title, ids in seen.items() if len(ids) == 1}


def test_an_admin_funds_and_sets_rules_and_an_organiser_gives_a_bonus(stack, page):
    admin = stack.mp_login("admin")
    organizer = stack.mp_login("organizer")
    district = region_named(stack, admin, "重庆市", "渝中区")
    organization_id = demo_organization_id(stack, organizer)
    assert stack.api("DELETE", f"regions/{district['id']}/points-rules", token=admin).status_code == 200
    before = _pool_balance(stack, admin, organization_id)

    # 拨付积分: 500 points into the association's pool.
    console_login(page, stack, "sim_admin")
    page.goto(stack.console_url("points"))
    expect(page.get_by_role("heading", name="积分")).to_be_visible()
    page.get_by_role("tab", name="拨付积分").click()
    choice = page.locator("[data-test=funding-organization]")
    choice.click()
    page.locator(".el-select-dropdown__item:visible", has_text="渝中区志愿者协会").first.click()
    amount = page.locator("[data-test=funding-amount] input")
    amount.fill("500")
    amount.press("Tab")
    page.locator("[data-test=funding-submit]").click()
    expect(page.locator("[data-test=pool-balance]")).to_have_text(str(before + 500))
    assert _pool_balance(stack, admin, organization_id) == before + 500
    expect(page.locator("[data-test=pool-line-label]").first).to_have_text(
        stack.api("GET", f"organizations/{organization_id}/points", token=admin).json()["items"][0]["code_label"])

    # 积分规则: 12 points per hour set here, then restored.
    page.get_by_role("tab", name="积分规则").click()
    rules = page.locator("[data-test=points-rules]")
    origin = rules.locator("[data-test=rule-origin-points_per_hour]")
    expect(origin).not_to_have_text("本级设置")
    earlier = origin.inner_text()
    rules.locator("[data-test=rule-set-points_per_hour]").click()
    hourly = rules.locator("[data-test=rule-input-points_per_hour] input")
    hourly.fill("12")
    hourly.press("Tab")
    rules.locator("[data-test=points-rules-save]").click()
    expect(origin).to_have_text("本级设置")
    expect(rules.locator("[data-test=rule-value-points_per_hour]")).to_have_text("12 分/小时")
    saved = stack.api("GET", f"regions/{district['id']}/points-rules", token=admin).json()
    assert saved["own"]["points_per_hour"] == 12 and saved["own"]["yearly_cap"] is None, saved
    rules.locator("[data-test=points-rules-inherit]").click()
    page.locator(".el-message-box").get_by_role("button", name="恢复继承").click()
    expect(origin).to_have_text(earlier)
    restored = stack.api("GET", f"regions/{district['id']}/points-rules", token=admin).json()
    assert restored["own"] is None and restored["in_force"]["origins"]["points_per_hour"] != district["id"], restored
    cap = restored["in_force"]["bonus_cap_per_activity"]
    assert cap >= 21, restored

    # 发放奖励 by the organiser, to a volunteer who served at one of the association's activities.
    titles = _offered_titles(stack, organizer, organization_id)
    volunteer, holder, record = _served_volunteer(stack, organization_id, titles)
    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("points"))
    expect(page.locator("[data-test=ranking-note]")).to_have_count(0)
    pool_before = _pool_balance(stack, organizer, organization_id)
    expect(page.locator("[data-test=pool-balance]")).to_have_text(str(pool_before))

    # The picker lists the directory's masked names and mobiles: find the volunteer's line there.
    found = stack.api("GET", "volunteers", token=organizer, params={"q": holder["name"], "status": "approved", "limit": 20})
    assert found.status_code == 200, found.text
    listed = next(item for item in found.json()["items"] if item["id"] == holder["id"])

    def give(points: int) -> None:
        page.locator("[data-test=bonus-open]").click()
        dialog = page.locator("[data-test=bonus-dialog]")
        dialog.locator("[data-test=volunteer-picker]").click()
        page.keyboard.type(holder["name"])
        option = page.locator(".el-select-dropdown__item:visible", has_text=listed["real_name"])
        if listed["mobile"]:
            option = option.filter(has_text=listed["mobile"])
        option.first.click()
        dialog.locator("[data-test=activity-select]").click()
        page.keyboard.type(record["name"])
        page.locator(".el-select-dropdown__item:visible", has_text=record["name"]).first.click()
        field = dialog.locator("[data-test=bonus-amount] input")
        field.fill(str(points))
        field.press("Tab")
        dialog.locator("input[data-test=bonus-reason]").fill(REASON)
        dialog.locator("[data-test=bonus-submit]").click()

    give(20)
    expect(page.locator("[data-test=pool-balance]")).to_have_text(str(pool_before - 20))
    lines = stack.api("GET", "me/points", token=volunteer).json()["items"]
    assert any(line["code"] == "bonus" and line["amount"] == 20 and line["reference"] == f"activity:{record['activity_id']}"
               and line["memo"] == REASON for line in lines), lines

    # Over the cap: the dialog shows the API's words and nothing moves.
    refused = stack.api("POST", f"organizations/{organization_id}/points/bonuses", token=organizer, json={
        "volunteer_id": holder["id"], "activity_id": record["activity_id"], "amount": cap, "reason": REASON,
        "nonce": uuid.uuid4().hex})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "bonus_cap_exceeded", refused.text
    give(cap)
    expect(page.locator("[data-test=bonus-refusal]")).to_have_text(refused.json()["error"]["message"])
    assert _pool_balance(stack, organizer, organization_id) == pool_before - 20

    # The organisation's ranking says whom it shows.
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="积分排行").click()
    expect(page.locator("[data-test=ranking-note]")).to_contain_text("仅显示本人同意公开的志愿者")

    # 账户流水: the admin finds the volunteer by number and reads the bonus line with its reason.
    console_login(page, stack, "sim_admin")
    page.goto(stack.console_url("points"))
    page.get_by_role("tab", name="账户流水").click()
    ledger = page.locator("[data-test=account-ledger]")
    ledger.locator("input[data-test=ledger-volunteer-number]").fill(holder["volunteer_number"])
    ledger.locator("[data-test=ledger-search]").click()
    found = stack.api("GET", f"regions/{district['id']}/points/accounts", token=admin,
                      params={"volunteer_number": holder["volunteer_number"]})
    assert found.status_code == 200, found.text
    [account] = found.json()["items"]
    expect(ledger.locator("[data-test=ledger-balance]")).to_have_text(str(account["balance"]))
    expect(ledger.locator("[data-test=ledger-line-detail]", has_text=REASON).first).to_be_visible()
