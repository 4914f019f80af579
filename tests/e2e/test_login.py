"""Logging in to the console: by a one-time login link, by scanning the mini-program code (confirmed
through the API as the mini-program would), and logging out (the old session is dead afterwards)."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.e2e.helpers import DEMO_ORGANIZATION


def _me(stack, cookies) -> requests.Response:
    jar = {cookie["name"]: cookie["value"] for cookie in cookies}
    return requests.get(f"{stack.url}/api/v1/console/me", cookies=jar, timeout=10)


def test_a_login_link_opens_the_console_as_its_account(stack, page):
    page.goto(stack.login_link("sim_organizer"))
    expect(page).to_have_url(re.compile(r"/console/workbench"))
    me = page.request.get(f"{stack.url}/api/v1/console/me").json()
    expect(page.locator("[data-test=user-name]")).to_have_text(me["display_name"])
    expect(page.locator("[data-test=scope-switcher]")).to_contain_text(DEMO_ORGANIZATION)
    expect(page.get_by_role("heading", name="工作台")).to_be_visible()
    assert "link=" not in page.url  # the spent token is dropped from the address bar
    assert page.errors == []


def test_a_used_login_link_does_not_log_in_again(stack, browser):
    link = stack.login_link("sim_organizer")
    first = browser.new_context()
    second = browser.new_context()
    try:
        one = first.new_page()
        one.goto(link)
        expect(one.locator("[data-test=user-name]")).not_to_be_empty()
        two = second.new_page()
        two.goto(link)
        expect(two.get_by_text("登录链接无效")).to_be_visible()
        expect(two.locator("[data-test=login-qr] img")).to_be_visible()
        assert _me(stack, second.cookies()).status_code == 401
    finally:
        first.close()
        second.close()


def test_scanning_the_code_logs_in_and_logging_out_ends_the_session(stack, page):
    with page.expect_response(lambda r: r.url.endswith("/api/v1/console/sessions") and r.request.method == "POST") as made:
        page.goto(stack.console_url("login"))
    ticket = made.value.json()["ticket"]
    qr = page.locator("[data-test=login-qr] img")
    expect(qr).to_be_visible()
    assert (qr.get_attribute("src") or "").startswith("data:image/png;base64,")
    expect(page.locator("[data-test=countdown]")).to_have_text(re.compile(r"\d"))

    # The mini-program scans the code and confirms with its own bearer token.
    confirmed = stack.api("POST", f"console/sessions/{ticket}/confirm", token=stack.mp_login("organizer"))
    assert confirmed.status_code in (200, 204), confirmed.text

    expect(page).to_have_url(re.compile(r"/console/workbench"), timeout=15_000)
    me = page.request.get(f"{stack.url}/api/v1/console/me").json()
    expect(page.locator("[data-test=user-name]")).to_have_text(me["display_name"])
    expect(page.locator("[data-test=scope-switcher]")).to_contain_text(DEMO_ORGANIZATION)
    # The ticket is single-use.
    again = stack.api("POST", f"console/sessions/{ticket}/confirm", token=stack.mp_login("organizer"))
    assert again.status_code >= 400, again.text

    session_cookies = page.context.cookies()
    assert _me(stack, session_cookies).status_code == 200
    page.locator("[data-test=logout]").click()
    expect(page).to_have_url(re.compile(r"/console/login"))
    expect(page.locator("[data-test=login-qr] img")).to_be_visible()
    assert _me(stack, session_cookies).status_code == 401
    page.goto(stack.console_url("workbench"))
    expect(page).to_have_url(re.compile(r"/console/login"))
    assert page.errors == []
