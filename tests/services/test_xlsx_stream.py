"""The exports' streaming sheet writer: what it writes reads back the same in openpyxl's full reader."""

from __future__ import annotations

from datetime import date, datetime

import openpyxl

from app.services import xlsx_stream
from app.services.spreadsheets import _safe


def test_cells_read_back_as_written(tmp_path):
    path = tmp_path / "sheet.xlsx"
    awkward = ["<b>&amp;</b>", " leading space", "tab\tinside", "bell\x07", "_x0041_ literal", "=1+1", "a" * 40_000]
    with xlsx_stream.SheetWriter(path, "志愿者/名录", [10, 20, 30], frozen_rows=2, text=_safe) as sheet:
        sheet.row(["标题"])
        sheet.row(["编号", "名字", "时间"], style=xlsx_stream.BOLD)
        sheet.row([1, "张三", datetime(2026, 11, 3, 14, 30)])
        sheet.row([2.5, None, date(2026, 1, 2), True])
        sheet.row([None, "", 3])
        sheet.row(awkward)
    book = openpyxl.load_workbook(path)
    rows = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    assert book.sheetnames == ["志愿者_名录"] and book.worksheets[0].freeze_panes == "A3"
    assert rows[1][:3] == ["编号", "名字", "时间"] and book.worksheets[0]["A2"].font.b
    assert rows[2][:3] == [1, "张三", datetime(2026, 11, 3, 14, 30)]
    assert rows[3][:4] == [2.5, None, datetime(2026, 1, 2), True]
    assert rows[4][:3] == [None, None, 3]
    # Control characters are not allowed in XML: written as Excel's _xHHHH_ escape (Excel decodes it, openpyxl
    # shows it raw), and a text that looks like such an escape has its underscore escaped (_x005F_).
    assert rows[5][:6] == ["<b>&amp;</b>", " leading space", "tab\tinside", "bell_x0007_", "_x005F_x0041_ literal",
                           "'=1+1"]
    assert rows[5][6] == "a" * xlsx_stream.MAX_TEXT
    assert book.worksheets[0].column_dimensions["B"].width > book.worksheets[0].column_dimensions["A"].width
