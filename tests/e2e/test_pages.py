"""Each of the console's ten pages (and an activity's detail) at 1366×768, as the organiser or the
admin: its main content renders (heading, rows, chart) and no page error happens. The `page` fixture
leaves each one's screenshot in test-artifacts/screenshots/test_pages__test_each_page_renders[…].png.

And a street admin sees nothing of another street: not in the volunteer directory, not in the region tree.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import children, console_login, region_named
from tests.e2e.stack import Stack

DEMO_ACTIVITY = "社区义诊"


def _demo_activity_id(stack: Stack) -> int:
    token = stack.mp_login("organizer")
    answer = stack.api("GET", "activities", token=token, params={"organization_id": 1, "q": DEMO_ACTIVITY})
    assert answer.status_code == 200, answer.text
    return next(a["id"] for a in answer.json()["items"] if a["title"] == DEMO_ACTIVITY)


def _rows(page: Page, hook: str):
    return page.locator(f"[data-test={hook}] tbody tr")


def _workbench(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="工作台")).to_be_visible()
    expect(page.locator("[data-test=attention] .attention").first).to_be_visible()
    expect(page.locator("[data-test=trend-chart] svg").first).to_be_visible()


def _volunteers(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="志愿者")).to_be_visible()
    page.get_by_role("tab", name="志愿者名录").click()
    expect(_rows(page, "volunteer-directory").first).to_be_visible()
    # The directory masks mobile numbers.
    expect(_rows(page, "volunteer-directory").first).to_contain_text(re.compile(r"1\d\d\*{4}\d{4}"))


def _organizations(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="渝中区志愿者协会")).to_be_visible()
    expect(_rows(page, "teams").filter(has_text="医疗卫生志愿服务队")).to_have_count(1)


def _activities(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="活动", exact=True)).to_be_visible()
    expect(_rows(page, "activity-list").first).to_be_visible()


def _activity_detail(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name=re.compile(DEMO_ACTIVITY))).to_be_visible()
    expect(page.locator("[data-test=activity-detail-status]")).to_be_visible()


def _screen(page: Page, stack: Stack) -> None:
    expect(page.locator("[data-testid=checkin-screen]")).to_contain_text(DEMO_ACTIVITY)
    expect(page.locator("[data-testid=screen-signed-up]")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("[data-testid=screen-qr] img")).to_be_visible()


def _announcements(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="通知公告")).to_be_visible()
    expect(page.locator("[data-test=announcement-send]")).to_be_visible()
    page.get_by_role("tab", name="发送记录").click()
    expect(_rows(page, "announcement-history").first).to_be_visible()  # the demo's delivered one


def _calendar(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="节庆日与活动计划")).to_be_visible()
    expect(page.locator("[data-test=festival-calendar]")).to_be_visible()
    expect(page.locator("[data-test=campaign-target]")).to_contain_text("/")


def _trainings(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="培训")).to_be_visible()
    expect(page.locator("[data-test=training-summary]")).to_be_visible()
    expect(_rows(page, "training-teams").first).to_be_visible()


def _regions(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="地区与权限")).to_be_visible()
    expect(_rows(page, "region-tree").filter(has_text="解放碑社区")).to_have_count(1)


def _audit_log(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="操作日志")).to_be_visible()
    expect(page.locator("[data-test=audit-log]")).to_be_visible()


def _retroactive(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="补录")).to_be_visible()
    expect(page.locator("[data-test=retro-list]")).to_be_visible()


def _imports(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="导入")).to_be_visible()
    expect(page.locator("[data-test=import-upload]")).to_be_visible()
    expect(page.locator("[data-test=import-history]")).to_be_visible()


def _transfers(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="转移")).to_be_visible()
    expect(page.locator("[data-test=transfer-list]")).to_be_visible()


def _certificates(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="记录证明")).to_be_visible()
    # An admin picks the issuing organisation; one of the region's is chosen at once.
    expect(page.locator("[data-test=certificate-organization]")).not_to_contain_text("选择出具组织")
    expect(page.locator("[data-test=certificate-table]")).to_be_visible()


def _stars(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="星级评定")).to_be_visible()
    expect(page.locator("[data-test=star-table]")).to_be_visible()


def _rewards(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="积分兑换")).to_be_visible()
    expect(page.locator("[data-test=reward-table]")).to_be_visible()


def _points(page: Page, stack: Stack) -> None:
    expect(page.get_by_role("heading", name="积分")).to_be_visible()
    expect(page.locator("[data-test=points-pool]")).to_be_visible()


PAGES = [
    ("workbench", "sim_organizer", "workbench", _workbench),
    ("volunteers", "sim_organizer", "volunteers", _volunteers),
    ("organizations", "sim_organizer", "organizations", _organizations),
    ("activities", "sim_organizer", "activities", _activities),
    ("activity-detail", "sim_organizer", "activities/{activity}", _activity_detail),
    ("checkin-screen", "sim_organizer", "activities/{activity}/screen", _screen),
    ("announcements", "sim_organizer", "announcements", _announcements),
    ("calendar", "sim_organizer", "calendar", _calendar),
    ("trainings", "sim_admin", "trainings", _trainings),
    ("regions", "sim_admin", "regions", _regions),
    ("audit-log", "sim_admin", "audit-log", _audit_log),
    ("retroactive-entries", "sim_admin", "retroactive-entries", _retroactive),
    ("imports", "sim_organizer", "imports", _imports),
    ("transfers", "sim_organizer", "transfers", _transfers),
    ("certificates", "sim_admin", "certificates", _certificates),
    ("stars", "sim_admin", "stars", _stars),
    ("rewards", "sim_organizer", "rewards", _rewards),


    ("points", "sim_organizer", "points", _points),
]


@pytest.mark.parametrize(("name", "openid", "path", "check"), PAGES, ids=[p[0] for p in PAGES])
def test_each_page_renders(stack, page, name, openid, path, check):
    console_login(page, stack, openid)
    if "{activity}" in path:
        path = path.format(activity=_demo_activity_id(stack))
    page.goto(stack.console_url(path))
    check(page, stack)
    expect(page.locator(".el-message--error")).to_have_count(0)
    assert page.errors == []
    assert not [line for line in page.console_lines if "Content Security Policy" in line], page.console_lines


def test_a_street_admin_sees_nothing_of_another_street(stack, page):
    token = stack.mp_login("admin")
    district = region_named(stack, token, "重庆市", "渝中区")
    streets = children(stack, token, district["id"])
    ours = next(s for s in streets if s["name"] == "解放碑街道")
    others = [s for s in streets if s["id"] != ours["id"]]
    assert others, streets
    foreign = [s["name"] for s in others] + [c["name"] for s in others for c in children(stack, token, s["id"])]
    our_communities = [c["name"] for c in children(stack, token, ours["id"])]

    openid = f"sim_e2e_street_admin_{uuid.uuid4().hex[:6]}"
    stack.cli("roles", "grant", openid, "admin", str(ours["id"]))
    console_login(page, stack, openid)
    expect(page.locator("[data-test=scope-switcher]")).to_contain_text("解放碑街道")

    page.goto(stack.console_url("volunteers"))
    page.get_by_role("tab", name="志愿者名录").click()
    rows = _rows(page, "volunteer-directory")
    expect(rows.first).to_be_visible()
    shown = rows.all_inner_texts()
    assert all(any(community in row for community in our_communities) for row in shown), shown
    directory = page.locator("[data-test=volunteer-directory]")
    for name in foreign:
        expect(directory).not_to_contain_text(name)

    page.goto(stack.console_url("regions"))
    tree = page.locator("[data-test=region-tree]")
    expect(_rows(page, "region-tree").first).to_contain_text("解放碑街道")
    for name in our_communities:
        expect(tree).to_contain_text(name)
    for name in foreign + ["渝中区"]:
        expect(tree).not_to_contain_text(name)
    assert page.errors == []
