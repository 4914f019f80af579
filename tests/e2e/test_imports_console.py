"""导入: an organiser imports a spreadsheet of volunteers with one bad row, commits, and a re-import writes nothing."""

from __future__ import annotations

import uuid

import openpyxl
from playwright.sync_api import expect

from tests.e2e.helpers import console_login, unique_mobile, unique_name

HEADER = ["姓名", "手机号", "身份证号", "类别", "特长技能", "所在社区"]


def _sheet(path, rows) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)


def _directory(stack, token, name: str) -> list[dict]:
    answer = stack.api("GET", "volunteers", token=token, params={"q": name, "limit": 50})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # names are shown masked: the search by the (unique) full name is the check


def test_the_organiser_imports_volunteers_sees_the_bad_row_and_a_reimport_changes_nothing(stack, page, tmp_path):
    tag = uuid.uuid4().hex[:4]
    good = [unique_name(f"导{tag}"), unique_name(f"导{tag}")]
    file = tmp_path / f"名册{tag}.xlsx"
    _sheet(file, [
        [good[0], unique_mobile(), None, None, "急救", "解放碑社区"],
        [unique_name(f"坏{tag}"), "12345", None, None, None, "解放碑社区"],   # row 3: a mobile that is no mobile
        [good[1], unique_mobile(), None, None, None, "解放碑社区"],
    ])
    organizer = stack.mp_login("organizer")

    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("imports"))
    page.locator("[data-test=import-input]").set_input_files(str(file))
    preview = page.locator("[data-test=import-preview]")
    expect(preview.locator("[data-test=import-summary]")).to_have_text("共 3 行：新增 2 行，已存在 0 行，有问题 1 行")
    bad = preview.locator("[data-test=import-rows] tbody tr")
    expect(bad).to_have_count(1)
    expect(bad.first).to_contain_text("3")
    expect(bad.first).to_contain_text("手机号：手机号「12345」格式不对")

    commit = preview.locator("[data-test=import-commit]")
    expect(commit).to_have_text("跳过有问题的 1 行，导入其余 2 行")
    commit.click()
    expect(page.locator(".el-message--success")).to_contain_text("写入 2，已存在 0，跳过 1")
    expect(preview.locator("[data-test=import-outcome]")).to_contain_text("写入 2")
    expect(page.locator("[data-test=import-history] tbody tr").first).to_contain_text("已导入")
    for name in good:
        assert len(_directory(stack, organizer, name)) == 1, name

    # The same file again: both are found by their mobile, nothing is written.
    page.locator("[data-test=import-input]").set_input_files(str(file))
    expect(preview.locator("[data-test=import-summary]")).to_have_text("共 3 行：新增 0 行，已存在 2 行，有问题 1 行")
    expect(preview).to_contain_text("导入过：已有的行会跳过，不会重复写入")
    expect(preview.locator("[data-test=import-rows]")).to_contain_text("已存在，将跳过（按手机号找到已有的志愿者）")
    preview.locator("[data-test=import-commit]").click()
    expect(preview.locator("[data-test=import-outcome]")).to_contain_text("写入 0，已存在 2，跳过 1")
    for name in good:
        assert len(_directory(stack, organizer, name)) == 1, name
    assert page.errors == []


def test_a_file_that_is_no_spreadsheet_shows_the_apis_message(stack, page, tmp_path):
    file = tmp_path / "名册.xlsx"
    file.write_bytes(b"not a zip at all, just text")
    console_login(page, stack, "sim_organizer")
    page.goto(stack.console_url("imports"))
    # The template of the chosen kind downloads with the columns the import reads.
    with page.expect_download() as downloaded:
        page.locator("[data-test=import-template]").click()
    template = tmp_path / "template.xlsx"
    downloaded.value.save_as(template)
    assert downloaded.value.suggested_filename.endswith(".xlsx"), downloaded.value.suggested_filename
    header = [cell.value for cell in next(openpyxl.load_workbook(template).active.iter_rows(max_row=1))]
    assert {"姓名", "手机号", "所在社区"} <= {str(value).rstrip("*") for value in header if value}, header
    page.locator("[data-test=import-input]").set_input_files(str(file))
    error = page.locator("[data-test=import-error]")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator("[data-test=import-preview]")).to_have_count(0)

    # A real spreadsheet without the required columns: the API names them.
    missing = tmp_path / "缺列.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["姓名", "类别"])
    book.active.append(["张三", "社区志愿者"])
    book.save(missing)
    page.locator("[data-test=import-input]").set_input_files(str(missing))
    expect(error).to_contain_text("缺少必填的列：手机号、所在社区")
    expect(page.locator("[data-test=import-preview]")).to_have_count(0)
    assert page.errors == []
