"""An organisation applies and the admin of its district approves it in the console (组织与队伍 →
组织申请); the applicant becomes its first organiser.

A role-less account cannot log in to the console (`flask console login-link` refuses it with
no_console_role, and so would the scan confirmation), so the applicant applies the way it can:
through the API, `POST /api/v1/organizations`, as the mini-program does.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import console_login, region_named, unique_mobile
from tests.e2e.stack import CliError

CREDIT_CODE = "91350100M000100Y43"  # a valid 统一社会信用代码 (GB 32100 check character)


def test_a_role_less_account_cannot_get_a_console_login_link(stack):
    stack.mp_login("e2e_no_role")  # the account exists, with no role
    with pytest.raises(CliError, match="no_console_role"):
        stack.login_link("sim_e2e_no_role")


def test_the_admin_approves_an_application_and_the_applicant_becomes_its_organiser(stack, page):
    applicant_code = f"e2e_applicant_{uuid.uuid4().hex[:8]}"
    applicant = stack.mp_login(applicant_code)
    street = region_named(stack, applicant, "重庆市", "渝中区", "解放碑街道")
    name = f"解放碑街道助老服务社{uuid.uuid4().hex[:4]}"
    applied = stack.api("POST", "organizations", token=applicant, json={
        "name": name, "credit_code": CREDIT_CODE, "region_id": street["id"], "kind": "social",
        "contact_name": "陈静", "contact_mobile": unique_mobile(), "address": "解放碑街道民族路 1 号"})
    assert applied.status_code == 201, applied.text
    organization = applied.json()
    assert organization["status"] == "pending"

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
