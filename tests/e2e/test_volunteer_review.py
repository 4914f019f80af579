"""The organiser approves a newly registered volunteer from the review queue (志愿者 → 注册审核)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import console_login, register_volunteer, unique_name


def test_the_organiser_approves_a_new_registration_from_the_queue(stack, page):
    name = unique_name()
    _, me = register_volunteer(stack, "e2e_newbie", name=name)
    organizer = stack.mp_login("organizer")
    assert stack.api("GET", f"volunteers/{me['id']}", token=organizer).json()["status"] == "pending"

    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("volunteers"))
    queue = page.locator("[data-test=review-queue]")
    row = queue.locator("tbody tr").filter(has_text=me["mobile"][-4:]).filter(has_text=name[0])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("解放碑社区")
    row.locator("[data-test=approve]").click()

    expect(page.locator(".el-message--success")).to_contain_text("已通过 1 人")
    expect(row).to_have_count(0)  # it leaves the queue
    detail = stack.api("GET", f"volunteers/{me['id']}", token=organizer)
    assert detail.status_code == 200, detail.text
    assert detail.json()["status"] == "approved"
    assert page.errors == []
