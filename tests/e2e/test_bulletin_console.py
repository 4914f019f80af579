"""月度通报 in the console: a street admin's frozen bulletin shows the same numbers as the KPI panel for
that month, and its downloads are a real XLSX workbook and a real PDF.

Freezing and the PDF run on the stack's background task worker (`flask jobs tasks`).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

import openpyxl
from playwright.sync_api import expect

from tests.e2e.helpers import children, console_login, region_named

SHANGHAI = timezone(timedelta(hours=8))


def _last_month() -> str:
    first = datetime.now(SHANGHAI).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def test_a_bulletin_matches_the_kpi_panel_and_downloads(stack, page):
    admin = stack.mp_login("admin")
    district = region_named(stack, admin, "重庆市", "渝中区")
    street = next(s for s in children(stack, admin, district["id"]) if s["name"] == "解放碑街道")
    code = f"e2e_bulletin_admin_{uuid.uuid4().hex[:6]}"
    stack.cli("roles", "grant", f"sim_{code}", "admin", str(street["id"]))
    token = stack.mp_login(code)
    month = _last_month()

    answer = stack.api("POST", "bulletins", token=token,
                       json={"region_id": street["id"], "month": month, "nonce": uuid.uuid4().hex})
    assert answer.status_code in (200, 202), answer.text
    bulletin_id = answer.json()["id"]
    deadline = time.monotonic() + 90
    while True:
        bulletin = stack.api("GET", f"bulletins/{bulletin_id}", token=token).json()
        if bulletin["status"] == "frozen":
            break
        assert time.monotonic() < deadline, (bulletin, stack.logs())
        time.sleep(0.5)

    console_login(page, stack, f"sim_{code}")
    page.goto(stack.console_url("bulletins"))
    page.locator("[data-test=bulletin-link]", has_text=bulletin["title"]).click()
    detail = page.locator("[data-test=bulletin-detail]")
    expect(detail.get_by_role("heading", name=bulletin["title"])).to_be_visible()
    values = detail.locator("[data-test=bulletin-total] [data-test=bulletin-value]")
    expect(values.first).to_be_visible()
    shown = {values.nth(i).get_attribute("data-key"): values.nth(i).inner_text().strip() for i in range(values.count())}
    assert len(shown) == len(bulletin["content"]["total"]["figures"]), shown

    # The KPI panel of the same street and month shows the same numbers.
    page.goto(stack.console_url(f"workbench?period={month}"))
    panel = page.locator("[data-test=kpi-panel]")
    expect(panel.locator("[data-test=kpi-node]")).to_contain_text("解放碑街道")
    for key, text in shown.items():
        expect(panel.locator(f"[data-test=kpi-light][data-key={key}] [data-test=kpi-value]")).to_have_text(text)

    # Downloads: a workbook openpyxl opens, a PDF (生成中 while it is rendered, then the file).
    page.go_back()
    expect(detail.get_by_role("heading", name=bulletin["title"])).to_be_visible()
    with page.expect_download(timeout=30_000) as xlsx:
        detail.locator("[data-test=bulletin-xlsx]").click()
    workbook = openpyxl.load_workbook(BytesIO(Path(xlsx.value.path()).read_bytes()))
    assert workbook.sheetnames, workbook
    with page.expect_download(timeout=90_000) as pdf:
        detail.locator("[data-test=bulletin-pdf]").click()
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF")
    expect(page.locator(".el-message--error")).to_have_count(0)
    assert page.errors == []
