"""Reading the paper sign-in sheet: headers found by name, row numbers as the sheet shows them, bad files refused."""

from __future__ import annotations

import base64
import io
import zipfile
from datetime import date, datetime, time

import pytest

from app.errors import DomainError
from app.services.recording import sheets
from app.timeutil import SHANGHAI
from tests.recording_world import xlsx


def read(rows):
    return sheets.read(base64.b64decode(xlsx(rows)))


def test_columns_are_found_by_their_header_and_rows_keep_their_numbers():
    found = read([[], ["姓名", "手机号", "签到时间", "签退时间", "备注"], ["张三丰", "139-1234-5678", "8:30", "11:00"],
                  [], ["李四", 13800001234, None, None]])
    assert [(r.row, r.name, r.mobile_last4, r.start, r.end) for r in found] == [
        (4, "张三丰", "5678", "8:30", "11:00"), (6, "李四", "1234", None, None)]


def test_a_name_alone_cannot_say_who_it_is():
    with pytest.raises(DomainError) as refused:
        read([["姓名", "签到时间", "签退时间"], ["张三丰", "8:30", "11:00"]])
    assert refused.value.code == "missing_columns"


def test_too_many_rows_are_refused():
    with pytest.raises(DomainError) as refused:
        read([["志愿者编号"]] + [[f"T{i:07d}"] for i in range(sheets.MAX_ROWS + 1)])
    assert refused.value.code == "too_many_rows"


def test_a_file_inflating_past_the_limit_is_refused_before_it_is_opened():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (sheets.MAX_INFLATED_BYTES + 1))
    assert len(buffer.getvalue()) < sheets.MAX_BYTES
    with pytest.raises(DomainError) as refused:
        sheets.read(buffer.getvalue())
    assert refused.value.code == "invalid_spreadsheet"


def test_a_zip_that_is_no_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "你好")
    with pytest.raises(DomainError) as refused:
        sheets.read(buffer.getvalue())
    assert refused.value.code == "invalid_spreadsheet"


@pytest.mark.parametrize("cell, expected", [
    ("8:30", datetime(2026, 12, 5, 8, 30, tzinfo=SHANGHAI)),
    ("8：30", datetime(2026, 12, 5, 8, 30, tzinfo=SHANGHAI)),
    ("2026-12-04 21:05", datetime(2026, 12, 4, 21, 5, tzinfo=SHANGHAI)),
    (time(14, 0), datetime(2026, 12, 5, 14, 0, tzinfo=SHANGHAI)),
    (datetime(2026, 12, 5, 9, 15), datetime(2026, 12, 5, 9, 15, tzinfo=SHANGHAI)),
    (0.5, datetime(2026, 12, 5, 12, 0, tzinfo=SHANGHAI)),
    ("", None),
    (None, None),
])
def test_times_in_the_forms_people_write_them(cell, expected):
    assert sheets.moment(cell, date(2026, 12, 5)) == expected


@pytest.mark.parametrize("cell", ["九点", "25:00", "8点半"])
def test_a_time_that_cannot_be_read_is_a_problem(cell):
    with pytest.raises(ValueError):
        sheets.moment(cell, date(2026, 12, 5))
