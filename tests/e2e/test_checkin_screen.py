"""The live check-in screen (签到大屏) at projector size: a captain's scan through the API shows on it
within 2 s (present count up, the masked name at the top of 最新签到)."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from app.pii import mask_name
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.helpers import approved_volunteer, console_login, open_activity, sign_up, unique_name

PROJECTOR = {"width": 1920, "height": 1080}


def test_a_captains_scan_shows_on_the_projected_screen_within_two_seconds(stack, browser):
    activity = open_activity(stack, title=f"社区义诊{uuid.uuid4().hex[:4]}")
    name = unique_name()
    volunteer, _ = approved_volunteer(stack, f"e2e_screen_{uuid.uuid4().hex[:8]}", name=name)
    signup = sign_up(stack, volunteer, activity["id"])
    assert signup["status"] == "approved", signup

    context = browser.new_context(viewport=PROJECTOR, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        console_login(page, stack, "sim_organizer")
        page.goto(stack.console_url(f"activities/{activity['id']}/screen"))
        screen = page.locator("[data-testid=checkin-screen]")
        expect(screen).to_contain_text(activity["title"])
        present = page.locator("[data-testid=screen-present]")
        expect(present).to_have_text("0")
        expect(page.locator("[data-testid=screen-signed-up]")).to_have_text("1")
        expect(page.locator("[data-testid=screen-qr] img")).to_be_visible()
        assert page.locator("[data-testid=screen-qr]").get_attribute("data-token")
        latest = page.locator("[data-testid=screen-latest]")
        expect(latest).to_contain_text("还没有人签到")

        code = stack.api("GET", "me/checkin-code", token=volunteer)
        assert code.status_code == 200, code.text
        scan = stack.api("POST", f"activities/{activity['id']}/scans", token=stack.mp_login("captain"),
                         json={"code": code.json()["code"], "nonce": uuid.uuid4().hex})
        assert scan.status_code in (200, 201), scan.text
        assert scan.json()["result"] == "checked_in"

        expect(present).to_have_text("1", timeout=2000)
        expect(latest.locator("li.entry").first.locator(".name")).to_have_text(mask_name(name), timeout=2000)
        expect(latest.locator("li.entry").first).to_contain_text("签到")
        assert name not in latest.inner_text()  # masked, never the full name
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "checkin_screen_1920x1080.png"))
        assert errors == []
    finally:
        context.close()
