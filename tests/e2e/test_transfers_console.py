"""转移: a volunteer applies through the API to move to another organisation; its organiser approves in the
console and opens the transfer receipt."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.helpers import approved_volunteer, console_login, unique_name

RECEIVING = "磁器口街道志愿服务站"   # sim_organizer_cqk organises it; it has one team


def test_the_receiving_organiser_approves_a_transfer_and_opens_the_receipt(stack, page):
    tag = uuid.uuid4().hex[:6]
    name = unique_name()
    volunteer, me = approved_volunteer(stack, f"e2e_move_{tag}", name=name)
    receiver = stack.mp_login("organizer_cqk")
    organizations = stack.api("GET", "organizations", token=receiver)
    assert organizations.status_code == 200, organizations.text
    target = next(org["id"] for org in organizations.json()["items"] if org["name"] == RECEIVING)
    applied = stack.api("POST", "me/transfers", token=volunteer, json={
        "kind": "organization", "organization_id": target, "reason": f"搬家到磁器口 {tag}", "nonce": f"e2e-{tag}-apply"})
    assert applied.status_code == 201, applied.text
    transfer_id = applied.json()["id"]

    console_login(page, stack, "sim_organizer_cqk")
    page.goto(stack.console_url("transfers"))
    row = page.locator("[data-test=transfer-list] tbody tr").filter(has_text=tag)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("待审核")
    expect(row).to_contain_text("未加入组织（解放碑社区）")
    row.locator("[data-test=transfer-approve]").click()
    expect(page.locator("[data-test=transfer-team]")).to_contain_text("社区综合志愿服务队")  # its only team, chosen
    page.locator("[data-test=transfer-approve-confirm]").click()
    expect(page.locator(".el-message--success")).to_contain_text("已通过")

    # The pending filter no longer shows it; all of them do, approved with its receipt.
    expect(row).to_have_count(0)
    page.locator("[data-test=transfer-status]").click()
    page.get_by_role("option", name="全部状态").click()
    expect(row).to_have_count(1)
    expect(row).to_contain_text("已通过")
    expect(row).to_contain_text("社区综合志愿服务队")
    with page.context.expect_page() as opened:
        row.locator("[data-test=transfer-receipt]").click()
    receipt = opened.value
    receipt.wait_for_load_state()
    expect(receipt.locator("h1")).to_have_text("志愿服务记录转移凭证")

    state = stack.api("GET", f"transfers/{transfer_id}", token=volunteer).json()
    assert state["status"] == "approved", state
    assert state["joined_team"]["name"] == "社区综合志愿服务队"
    assert state["receipt_number"] and state["receipt_number"] in receipt.content()
    assert page.errors == []
