"""积分兑换 in the console: the demo organiser publishes a reward (stock 2), a volunteer with points redeems
it through the mini-program API, and the station types the 6-digit code at the pick-up desk.

The volunteer's points are earned through the ledger's own service (`ledger.earn`, as the earning
jobs do), run in a Python process on the stack's database: no API gives points without service hours.
The desk shows 兑换成功 with the reward and the masked name; the same code typed again shows the API's
refusal in its words; the API then says fulfilled and the stock is 1. The reward's 兑换记录 drawer lists
the fulfilled redemption (masked name, who handed it over) and filters by state. 下架, confirmed,
withdraws it. An operator named on the 核销员 tab is removed after a confirmation.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

from playwright.sync_api import expect

from tests.e2e.helpers import approved_volunteer, console_login, demo_organization_id, unique_name
from tests.e2e.stack import Stack
from tests.faults.harness import ROOT

EARN = """
import sys
from app import create_app
from app.extensions import db
from app.services.points import ledger
from app.timeutil import current_time

with create_app().app_context():
    ledger.earn(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), "e2e", current_time())
    db.session.commit()
"""


ACCOUNT_OF = """
import sys
from app import create_app
from app.extensions import db
from models import Volunteer

with create_app().app_context():
    print(db.session.get(Volunteer, int(sys.argv[1])).account_id)
"""


def _account_of(stack: Stack, volunteer_id: int) -> int:
    done = subprocess.run([sys.executable, "-c", ACCOUNT_OF, str(volunteer_id)], cwd=ROOT, env=stack.env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def _earn(stack: Stack, region_id: int, volunteer_id: int, amount: int) -> None:
    done = subprocess.run([sys.executable, "-c", EARN, f"e2e-earn-{uuid.uuid4().hex}", str(region_id), str(volunteer_id),
                           str(amount)], cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _reward(stack: Stack, token: str, organization_id: int, title: str) -> dict:
    answer = stack.api("GET", f"organizations/{organization_id}/rewards?limit=100", token=token)
    assert answer.status_code == 200, answer.text
    return next(r for r in answer.json()["items"] if r["title"] == title)


def test_a_reward_is_published_redeemed_and_handed_over_once_at_the_desk(stack, page):
    organizer = stack.mp_login("organizer")
    organization_id = demo_organization_id(stack, organizer)
    title = f"环保袋{uuid.uuid4().hex[:6]}"

    # Published in the console with a stock of 2; the list and the API have it.
    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("rewards"))
    expect(page.get_by_role("heading", name="积分兑换")).to_be_visible()
    page.locator("[data-test=reward-new]").click()
    dialog = page.locator(".el-dialog", has_text="发布奖励")
    dialog.locator("input[data-test=reward-form-title]").fill(title)
    dialog.locator("[data-test=reward-form-price] input").fill("30")
    dialog.locator("[data-test=reward-form-stock] input").fill("2")
    dialog.locator("input[data-test=reward-form-place]").fill("解放碑社区服务站")
    dialog.locator("input[data-test=reward-form-place]").press("Tab")
    dialog.locator("[data-test=reward-save]").click()
    row = page.locator("[data-test=reward-table] .el-table__row", has_text=title)
    expect(row.locator("[data-test=reward-stock]")).to_have_text("2")
    expect(row.locator("[data-test=reward-status]")).to_have_text("兑换中")
    expect(row.locator("[data-test=reward-price]")).to_have_text("30 积分")
    reward = _reward(stack, organizer, organization_id, title)
    assert reward["stock"] == 2 and reward["points_price"] == 30 and reward["status"] == "published", reward

    # A volunteer with points redeems it through the API: a held redemption with a 6-digit code.
    code = f"e2e_rewards_{uuid.uuid4().hex[:8]}"
    name = unique_name()
    volunteer, me = approved_volunteer(stack, code, name=name)
    _earn(stack, me["region"]["id"], me["id"], 100)
    redeemed = stack.api("POST", f"rewards/{reward['id']}/redemptions", token=volunteer, json={"nonce": uuid.uuid4().hex})
    assert redeemed.status_code == 201, redeemed.text
    pickup_code = redeemed.json()["pickup_code"]
    assert redeemed.json()["status"] == "held" and len(pickup_code) == 6

    # The desk: typed and Enter → 兑换成功 with the reward and the masked name; the field is empty and focused.
    page.get_by_role("tab", name="兑换核销").click()
    field = page.locator("input[data-test=pickup-input]")
    expect(field).to_be_focused()
    field.fill(pickup_code)
    field.press("Enter")
    result = page.locator("[data-test=pickup-result]")
    expect(result.locator("[data-test=pickup-result-title]")).to_have_text("兑换成功")
    expect(result.locator("[data-test=pickup-result-detail]")).to_contain_text(title)
    masked = name[0] + "*" * (len(name) - 2) + name[-1]
    expect(result.locator("[data-test=pickup-result-detail]")).to_contain_text(f"{masked} · {title}")
    expect(result.locator("[data-test=pickup-result-detail]")).not_to_contain_text(name)
    expect(field).to_have_value("")
    expect(field).to_be_focused()

    # The same code again: the API's refusal, in its words.
    again = stack.api("POST", f"stations/{organization_id}/pickups", token=organizer,
                      json={"code": pickup_code, "nonce": uuid.uuid4().hex})
    assert again.status_code in (404, 409), again.text
    page.keyboard.type(pickup_code)
    page.keyboard.press("Enter")
    expect(result.locator("[data-test=pickup-result-title]")).not_to_have_text("兑换成功")
    expect(result.locator("[data-test=pickup-result-detail]")).to_have_text(again.json()["error"]["message"])
    expect(field).to_have_value("")

    # The API: fulfilled, and one unit left.
    mine = stack.api("GET", "me/redemptions", token=volunteer).json()["items"]
    assert [(r["reward_id"], r["status"]) for r in mine] == [(reward["id"], "fulfilled")], mine
    assert _reward(stack, organizer, organization_id, title)["stock"] == 1
    page.get_by_role("tab", name="奖励与库存").click()
    expect(row.locator("[data-test=reward-stock]")).to_have_text("1")

    # The reward's 兑换记录: the fulfilled redemption, the volunteer masked, handed over by the organiser.
    listed = stack.api("GET", f"rewards/{reward['id']}/redemptions", token=organizer).json()["items"]
    assert [(r["status"], r["volunteer_name"]) for r in listed] == [("fulfilled", masked)], listed
    row.locator("[data-test=reward-redemptions]").click()
    drawer = page.locator(".el-drawer", has_text="兑换记录")
    lines = drawer.locator("[data-test=redemptions-table] .el-table__row")
    expect(lines).to_have_count(1)
    expect(lines.first.locator("[data-test=redemption-status]")).to_have_text("已领取")
    expect(lines.first.locator("[data-test=redemption-person]")).to_contain_text(masked)
    expect(lines.first.locator("[data-test=redemption-person]")).not_to_contain_text(name)
    # The demo organiser has no volunteer archive: the account that handed it over is named instead.
    handed_by = listed[0]["fulfilled_by_name"] or f"账号 {listed[0]['fulfilled_by_account_id']}"
    expect(lines.first.locator("[data-test=redemption-handed-by]")).to_have_text(handed_by)
    drawer.locator("[data-test=redemptions-status]").get_by_text("待领取", exact=True).click()
    expect(lines).to_have_count(0)
    drawer.locator("[data-test=redemptions-status]").get_by_text("已领取", exact=True).click()
    expect(lines).to_have_count(1)
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()

    # 下架 with a confirmation: the list says 已下架 and the API has it withdrawn.
    row.locator("[data-test=reward-withdraw]").click()
    page.locator(".el-message-box").get_by_role("button", name="下架").click()
    expect(row.locator("[data-test=reward-status]")).to_have_text("已下架")
    assert _reward(stack, organizer, organization_id, title)["status"] == "withdrawn"


def test_an_operator_is_named_and_removed_on_the_operators_tab(stack, page):
    organizer = stack.mp_login("organizer")
    organization_id = demo_organization_id(stack, organizer)
    name = unique_name()
    _, me = approved_volunteer(stack, f"e2e_operator_{uuid.uuid4().hex[:8]}", name=name)
    account_id = _account_of(stack, me["id"])
    masked = name[0] + "*" * (len(name) - 2) + name[-1]

    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("rewards"))
    page.get_by_role("tab", name="核销员").click()
    page.locator("[data-test=operator-id] input").fill(str(account_id))
    page.locator("[data-test=operator-add]").click()
    line = page.locator("[data-test=operators-table] .el-table__row", has_text=masked)
    expect(line.locator("[data-test=operator-person]")).to_contain_text(masked)
    operators = stack.api("GET", f"stations/{organization_id}/operators", token=organizer).json()["items"]
    assert account_id in [o["account_id"] for o in operators], operators

    # 移除 asks first; cancelling keeps the operator, confirming removes them (the API agrees).
    line.locator("[data-test=operator-remove]").click()
    page.locator(".el-message-box").get_by_role("button", name="取消").click()
    expect(line).to_have_count(1)
    line.locator("[data-test=operator-remove]").click()
    page.locator(".el-message-box").get_by_role("button", name="移除").click()
    expect(line).to_have_count(0)
    operators = stack.api("GET", f"stations/{organization_id}/operators", token=organizer).json()["items"]
    assert account_id not in [o["account_id"] for o in operators], operators
