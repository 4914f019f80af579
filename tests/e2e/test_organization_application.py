"""An organisation applies in the console and the admin of its district approves it there (组织与队伍 →
组织申请); the applicant becomes its first organiser.

The applicant is an approved volunteer without any role: the console lets them in with nothing but the
申请成立组织 page and their own applications. An account that is neither a volunteer nor holds a role
cannot log in at all.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import approved_volunteer, console_login, unique_mobile
from tests.e2e.stack import CliError

CREDIT_CODE = "91350100M000100Y43"  # a valid 统一社会信用代码 (GB 32100 check character)


def test_a_role_less_account_cannot_get_a_console_login_link(stack):
    stack.mp_login("e2e_no_role")  # the account exists, with no role
    with pytest.raises(CliError, match="no_console_role"):
        stack.login_link("sim_e2e_no_role")


def test_the_admin_approves_an_application_and_the_applicant_becomes_its_organiser(stack, page):
    applicant_code = f"e2e_applicant_{uuid.uuid4().hex[:8]}"
    approved_volunteer(stack, applicant_code)
    name = f"解放碑街道助老服务社{uuid.uuid4().hex[:4]}"

    console_login(page, stack, f"sim_{applicant_code}")
    expect(page.locator("[data-test=apply-page]")).to_be_visible()
    form = page.locator("[data-test=apply-organization]")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=credit_code]").fill(CREDIT_CODE)
    form.locator(".el-cascader").click()
    for region in ("重庆市", "渝中区"):
        page.locator(".el-cascader-menu .el-cascader-node").filter(has_text=re.compile(f"^{region}$")).click()
    # Any level may be picked: a street is chosen by its radio, a click on its name only opens it.
    page.locator(".el-cascader-menu .el-cascader-node").filter(has_text=re.compile("^解放碑街道$")).locator(".el-radio").click()
    expect(form.locator(".el-cascader input")).to_have_value("解放碑街道")
    page.keyboard.press("Escape")
    form.locator("input[name=contact_name]").fill("陈静")
    form.locator("input[name=contact_mobile]").fill(unique_mobile())
    page.locator("[data-test=apply-submit]").click()
    mine = page.locator("[data-test=my-applications] tbody tr").filter(has_text=name)
    expect(mine).to_have_count(1)
    expect(mine.locator("[data-test=application-status]")).to_have_text("待审核")
    page.context.clear_cookies()

    applicant = stack.mp_login(applicant_code)
    listed = stack.api("GET", "organizations", token=applicant).json()["items"]
    assert [(o["name"], o["status"]) for o in listed] == [(name, "pending")]
    organization = listed[0]

    console_login(page, stack, "sim_admin")
    page.goto(stack.console_url("organizations"))
    expect(page.get_by_role("tab", name="组织申请")).to_be_visible()
    row = page.locator("[data-test=organization-applications] tbody tr").filter(has_text=name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("解放碑街道")
    row.locator("[data-test=approve-org]").click()
    expect(page.locator(".el-message--success")).to_contain_text(f"已通过「{name}」")
    expect(row).to_have_count(0)  # the list shows pending applications

    admin = stack.mp_login("admin")
    answer = stack.api("GET", f"organizations/{organization['id']}", token=admin)
    assert answer.json()["status"] == "approved", answer.text
    grants = stack.api("GET", "role-grants", token=admin, params={"organization_id": organization["id"]})
    assert grants.status_code == 200, grants.text
    organizers = [g["account_id"] for g in grants.json()["items"] if g["role"] == "organizer"]
    assert organizers == [organization["applicant_account_id"]], grants.text

    # And the applicant can now open the console as that organisation's organiser.
    page.context.clear_cookies()
    console_login(page, stack, f"sim_{applicant_code}")
    expect(page.locator("[data-test=scope-switcher]")).to_contain_text(name)
    assert page.errors == []
