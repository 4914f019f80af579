"""The workbench's KPI panel as a street admin sees it: only their street and its communities, the
numbers the API gives them, drill-down into a community and back, never above their own street.
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.e2e.helpers import approved_volunteer, children, console_login, region_named


def _street_admin(stack, street_id: int) -> tuple[str, str]:
    """A new account made admin of the street: (openid, its mini-program token)."""
    code = f"e2e_kpi_admin_{uuid.uuid4().hex[:6]}"
    stack.cli("roles", "grant", f"sim_{code}", "admin", str(street_id))
    return f"sim_{code}", stack.mp_login(code)


def _format(value, unit: str) -> str:
    """The panel's way of writing a value (console/src/lib/kpi.ts formatValue)."""
    if value is None:
        return "—"
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return {"percent": f"{text}%", "hours": f"{text} 小时"}.get(unit, text)


def test_a_street_admin_sees_their_street_only_and_drills_into_a_community(stack, page):
    admin = stack.mp_login("admin")
    district = region_named(stack, admin, "重庆市", "渝中区")
    streets = children(stack, admin, district["id"])
    ours = next(s for s in streets if s["name"] == "解放碑街道")
    foreign = [s["name"] for s in streets if s["id"] != ours["id"]]
    communities = children(stack, admin, ours["id"])
    approved_volunteer(stack, f"e2e_kpi_vol_{uuid.uuid4().hex[:6]}")  # someone registered in 解放碑社区

    openid, token = _street_admin(stack, ours["id"])
    # The API itself keeps the street admin to their street: the district is refused.
    refused = stack.api("GET", "kpis", token=token, params={"region_id": district["id"]})
    assert refused.status_code in (403, 404), refused.text

    console_login(page, stack, openid)
    page.goto(stack.console_url("workbench"))
    panel = page.locator("[data-test=kpi-panel]")
    expect(panel.locator("[data-test=kpi-node]")).to_contain_text("解放碑街道")
    expect(panel.locator("[data-test=kpi-light]").first).to_be_visible()
    period = re.search(r"period=([0-9Q-]+)", page.url).group(1)

    # Each traffic light shows the API's value and colour for the street in that period.
    answer = stack.api("GET", "kpis", token=token, params={"region_id": ours["id"], "period": period, "children": "true"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    for figure in body["figures"]:
        light = panel.locator(f"[data-test=kpi-light][data-key={figure['key']}]")
        expect(light.locator("[data-test=kpi-value]")).to_have_text(_format(figure["value"], figure["unit"]))
        expect(light).to_have_attribute("data-status", figure["status"])

    # The ranking lists the street's communities, in the API's order, and nothing of other streets.
    ranking = panel.locator("[data-test=kpi-ranking]")
    names = [row["region"]["name"] for row in body["children"]]
    assert sorted(names) == sorted(c["name"] for c in communities if not c.get("retired")), names
    expect(ranking.locator("[data-test=kpi-child]")).to_have_text(names)
    for name in foreign + ["渝中区"]:
        expect(panel).not_to_contain_text(name)

    # Drill into 解放碑社区, then back up: the trail starts at the street, never above it.
    ranking.locator("[data-test=kpi-child]", has_text="解放碑社区").click()
    expect(panel.locator("[data-test=kpi-node]")).to_contain_text("解放碑社区")
    trail = panel.locator("[data-test=kpi-trail]")
    expect(trail.locator(".el-breadcrumb__inner")).to_have_text(["解放碑街道", "解放碑社区"])
    expect(ranking).to_have_count(0)  # a community has no children to rank
    page.reload()  # the trail survives a reload (?at=…), still under the street
    expect(panel.locator("[data-test=kpi-node]")).to_contain_text("解放碑社区")
    trail.get_by_text("解放碑街道").click()
    expect(panel.locator("[data-test=kpi-node]")).to_contain_text("解放碑街道")
    expect(trail).to_have_count(0)
    expect(panel).not_to_contain_text("渝中区")

    # The period picker: a quarter of the same year, with the API's value again.
    panel.locator("[data-test=kpi-period-kind]").get_by_text("季度").click()
    expect(page).to_have_url(re.compile(r"period=\d{4}-Q[1-4]"))
    quarter = re.search(r"period=([0-9Q-]+)", page.url).group(1)
    again = stack.api("GET", "kpis", token=token, params={"region_id": ours["id"], "period": quarter}).json()
    first = again["figures"][0]
    expect(panel.locator(f"[data-test=kpi-light][data-key={first['key']}] [data-test=kpi-value]")).to_have_text(
        _format(first["value"], first["unit"]))
    expect(page.locator(".el-message--error")).to_have_count(0)
    assert page.errors == []
