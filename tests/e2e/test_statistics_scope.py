"""An admin of 解放碑街道 only opens 统计分析 and sees that street's numbers: its communities, its
registered volunteers (one new one at home there), and nothing of another street (where another new
volunteer lives), although the district's admin counts both."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.helpers import children, console_login, region_named, unique_mobile, unique_name


def _registered(stack, code: str, community_id: int) -> None:
    """A new volunteer living in the community, approved by the district's admin."""
    token = stack.mp_login(code)
    answer = stack.api("POST", "volunteers", token=token, json={
        "real_name": unique_name(), "mobile": unique_mobile(), "birth_date": "1990-05-01", "region_id": community_id})
    assert answer.status_code == 201, answer.text
    review = stack.api("POST", f"volunteers/{answer.json()['id']}/review", token=stack.mp_login("admin"),
                       json={"decision": "approve"})
    assert review.status_code == 200, review.text


def _statistics(stack, token: str, region_id: int) -> dict:
    answer = stack.api("GET", "statistics", token=token, params={"region_id": region_id})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_street_admin_sees_only_their_streets_statistics(stack, page):
    admin = stack.mp_login("admin")
    district = region_named(stack, admin, "重庆市", "渝中区")
    streets = children(stack, admin, district["id"])
    ours = next(s for s in streets if s["name"] == "解放碑街道")
    other = next(s for s in streets if s["id"] != ours["id"])
    our_communities = children(stack, admin, ours["id"])
    other_communities = children(stack, admin, other["id"])
    assert our_communities and other_communities, (our_communities, other_communities)

    tag = uuid.uuid4().hex[:6]
    before = _statistics(stack, admin, district["id"])["volunteers"]["total"]
    _registered(stack, f"e2e_stats_ours_{tag}", our_communities[0]["id"])
    _registered(stack, f"e2e_stats_other_{tag}", other_communities[0]["id"])
    assert _statistics(stack, admin, district["id"])["volunteers"]["total"] == before + 2

    code = f"e2e_stats_admin_{tag}"
    stack.cli("roles", "grant", f"sim_{code}", "admin", str(ours["id"]))
    street_admin = stack.mp_login(code)
    expected = _statistics(stack, street_admin, ours["id"])
    refused = stack.api("GET", "statistics", token=street_admin, params={"region_id": other["id"]})
    assert refused.status_code == 403, refused.text
    assert {line["label"] for line in expected["volunteers"]["by_region"]} <= {c["name"] for c in our_communities} | {
        "解放碑街道（本级）"}

    console_login(page, stack, f"sim_{code}")
    expect(page.locator("[data-test=scope-switcher]")).to_contain_text("解放碑街道")
    page.goto(stack.console_url("statistics"))
    totals = page.locator("[data-test=totals]")
    expect(totals.locator("[data-key=volunteers]")).to_contain_text(str(expected["volunteers"]["total"]))
    expect(totals.locator("[data-key=activities]")).to_contain_text(str(expected["activities"]["total"]))
    expect(page.locator("[data-test=by-region] [data-test=stat-chart] svg")).to_be_visible()

    # The region table lists the street's communities with the API's counts, and nothing of the other street.
    rows = page.locator("[data-test=by-region] .el-table__body tbody tr")
    expect(rows).to_have_count(len(expected["volunteers"]["by_region"]))
    shown = {row.split("\t")[0].strip(): row.split("\t")[1].strip() for row in rows.all_inner_texts()}
    assert shown == {line["label"]: str(line["count"]) for line in expected["volunteers"]["by_region"]}, shown
    # (An organisation's name may name another street: hours count by the organisation that held the activity.)
    by_region = page.locator("[data-test=by-region]")
    for name in [other["name"], district["name"]]:
        expect(by_region).not_to_contain_text(name)
    for name in [c["name"] for c in other_communities]:
        expect(page.locator("[data-test=statistics]")).not_to_contain_text(name)
    expect(page.locator(".el-message--error")).to_have_count(0)
    assert page.errors == []
