"""A captain (sim_captain, 医疗卫生志愿服务队) sees only their team's activities in 活动: an activity of
another team of the same organisation, which the organiser's API answer lists, is absent."""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import expect

from tests.e2e.helpers import MEDICAL_TEAM, console_login, open_activity

OTHER_TEAM = "法律援助志愿服务队"


def test_a_captain_sees_only_their_teams_activities(stack, page):
    tag = uuid.uuid4().hex[:4]
    ours = open_activity(stack, title=f"血压义测{tag}", team=MEDICAL_TEAM, starts_in=timedelta(days=3))
    theirs = open_activity(stack, title=f"法律咨询{tag}", team=OTHER_TEAM, starts_in=timedelta(days=3))

    # The organiser's answer has both.
    listed = stack.api("GET", "activities", token=stack.mp_login("organizer"),
                       params={"organization_id": ours["organization"]["id"], "q": tag})
    assert listed.status_code == 200, listed.text
    assert {a["id"] for a in listed.json()["items"]} >= {ours["id"], theirs["id"]}, listed.text

    console_login(page, stack, "sim_captain")
    expect(page.locator("[data-test=scope-switcher]")).to_contain_text(MEDICAL_TEAM)
    page.goto(stack.console_url("activities"))
    rows = page.locator("[data-test=activity-list] tbody tr")
    expect(rows.first).to_be_visible()
    # Every activity the captain is shown is their team's.
    shown = rows.all_inner_texts()
    assert shown and all(MEDICAL_TEAM in row for row in shown), shown

    page.locator("input[data-test=activity-search], [data-test=activity-search] input").fill(tag)
    expect(rows.filter(has_text=ours["title"])).to_have_count(1)
    expect(rows).to_have_count(1)
    expect(page.locator("[data-test=activity-list]")).not_to_contain_text(theirs["title"])
    expect(page.locator("[data-test=activity-list]")).not_to_contain_text(OTHER_TEAM)
    assert page.errors == []
