"""An organiser of another organisation (sim_organizer_cqk, 磁器口街道志愿服务站) opens an activity of
渝中区志愿者协会 by its URL: the page shows the API's refusal and nothing of the activity."""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import expect

from tests.e2e.helpers import console_login, open_activity

OTHER_ORGANIZER = "organizer_cqk"


def test_another_organisations_organiser_cannot_open_the_activity_by_url(stack, page):
    activity = open_activity(stack, title=f"重阳敬老{uuid.uuid4().hex[:4]}", starts_in=timedelta(days=2))
    refusal = stack.api("GET", f"activities/{activity['id']}/signups", token=stack.mp_login(OTHER_ORGANIZER),
                        params={"per_page": 1})
    assert refusal.status_code in (403, 404), refusal.text
    message = refusal.json()["error"]["message"]

    console_login(page, stack, f"sim_{OTHER_ORGANIZER}")
    expect(page.locator("[data-test=scope-switcher]")).to_contain_text("磁器口街道志愿服务站")
    page.goto(stack.console_url(f"activities/{activity['id']}"))
    expect(page.locator("[data-test=activity-load-error]")).to_contain_text(message)
    body = page.locator("body")
    for secret in (activity["title"], activity["address"]):
        expect(body).not_to_contain_text(secret)
    expect(page.locator("[data-test=activity-detail-status]")).to_have_count(0)
    expect(page.locator("[data-test=open-screen]")).to_have_count(0)
    expect(page.locator("[data-test=attendance-sheet]")).to_have_count(0)

    # The check-in screen's URL refuses as well, without the activity's title or code.
    page.goto(stack.console_url(f"activities/{activity['id']}/screen"))
    screen = page.locator("[data-testid=checkin-screen]")
    expect(screen).to_be_visible()
    expect(screen).not_to_contain_text(activity["title"])
    expect(page.locator("[data-testid=screen-qr] img")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_text(stack.api(
        "GET", f"activities/{activity['id']}/checkin-board", token=stack.mp_login(OTHER_ORGANIZER)).json()["error"]["message"])
    expect(page.locator("[data-testid=screen-present]")).to_have_count(0)
    # A refusal is final: the screen does not pretend the connection dropped and is being retried.
    page.wait_for_timeout(2500)  # two polling intervals, for a retry note to have appeared
    expect(page.locator("[data-testid=screen-connection]")).to_have_count(0)
    assert page.errors == []
