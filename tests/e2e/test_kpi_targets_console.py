"""指标说明与目标 on the KPI panel: a street admin reads each indicator's definition and the target in
force with its source, sets their street's own target (the API then has it, and the street's
communities inherit it), and restores the inherited one. Below their street they may only read.
"""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.helpers import children, console_login, region_named
from tests.faults.harness import ROOT

KEY = "recorded_rate"


def _catalogue(stack, token: str, region_id: int) -> dict[str, dict]:
    answer = stack.api("GET", "kpi-catalogue", token=token, params={"region_id": region_id})
    assert answer.status_code == 200, answer.text
    return {item["key"]: item for item in answer.json()["items"]}


def test_a_street_admin_sets_and_restores_their_streets_target(stack, page):
    admin = stack.mp_login("admin")
    district = region_named(stack, admin, "重庆市", "渝中区")
    street = next(s for s in children(stack, admin, district["id"]) if s["name"] != "解放碑街道" and children(stack, admin, s["id"]))
    community = children(stack, admin, street["id"])[0]
    code = f"e2e_targets_admin_{uuid.uuid4().hex[:6]}"
    stack.cli("roles", "grant", f"sim_{code}", "admin", str(street["id"]))
    token = stack.mp_login(code)
    before = _catalogue(stack, token, street["id"])[KEY]
    assert before["source"] is None or before["source"]["id"] != street["id"], before

    console_login(page, stack, f"sim_{code}")
    page.goto(stack.console_url("workbench"))
    panel = page.locator("[data-test=kpi-panel]")
    # The street's month may be computed on this first read: give the panel longer than the default.
    expect(panel.locator("[data-test=kpi-node]")).to_contain_text(street["name"], timeout=30_000)
    panel.locator("[data-test=kpi-targets-open]").click()
    drawer = page.locator("[data-test=kpi-targets]")
    expect(drawer.locator("[data-test=kpi-target-value]")).to_have_count(len(_catalogue(stack, token, street["id"])))
    origin = drawer.locator(f"[data-test=kpi-target-origin][data-key={KEY}]")
    expect(origin).to_have_text("系统默认" if before["source"] is None else f"继承自 {before['source']['name']}")
    expect(drawer).to_contain_text("年初至今有服务时长的注册志愿者 ÷ 注册志愿者")
    expect(drawer.locator(f"[data-test=kpi-target-restore][data-key={KEY}]")).to_have_count(0)

    # A band as wide as the target is refused before it is sent; then 75 % with 8 points is saved.
    drawer.locator(f"[data-test=kpi-target-edit][data-key={KEY}]").click()
    dialog = page.get_by_role("dialog", name="设置目标：有记录率")
    target = dialog.locator("[data-test=kpi-target-input] input")
    band = dialog.locator("[data-test=kpi-band-input] input")
    target.fill("75")
    band.fill("75")
    dialog.locator("[data-test=kpi-target-save]").click()
    expect(dialog).to_contain_text("黄灯区间应小于目标")
    band.fill("8")
    page.screenshot(path=str(_shot("edit")))
    dialog.locator("[data-test=kpi-target-save]").click()
    expect(dialog).to_be_hidden()
    expect(origin).to_have_text("本级设置")
    expect(drawer.locator(f"[data-test=kpi-target-value][data-key={KEY}]")).to_have_text("≥ 75%")
    page.screenshot(path=str(_shot("drawer")))
    after = _catalogue(stack, token, street["id"])[KEY]
    assert (after["target"], after["yellow_band"], after["source"]["id"]) == (75, 8, street["id"]), after
    below = _catalogue(stack, token, community["id"])[KEY]
    assert (below["target"], below["source"]["id"]) == (75, street["id"]), below

    # 恢复继承: the street's own setting goes, the earlier source is back.
    drawer.locator(f"[data-test=kpi-target-restore][data-key={KEY}]").click()
    page.locator(".el-popconfirm").get_by_role("button", name="恢复继承").click()
    expect(origin).to_have_text("系统默认" if before["source"] is None else f"继承自 {before['source']['name']}")
    restored = _catalogue(stack, token, street["id"])[KEY]
    assert (restored["target"], restored["source"]) == (before["target"], before["source"]), restored
    expect(page.locator(".el-message--error")).to_have_count(0)
    assert page.errors == []


def _shot(name: str):
    folder = ROOT / "test-artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"test_kpi_targets_console__{name}.png"
