"""Spreadsheets the console downloads (XLSX through xlsxwriter), built in memory."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import xlsxwriter

from app.services.volunteers import CATEGORY_LABELS, Category
from app.timeutil import to_local

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

STATUS_LABELS = {"pending": "审核中", "approved": "已通过", "rejected": "未通过", "suspended": "已暂停",
                 "deleted": "已注销"}
GENDER_LABELS = {"male": "男", "female": "女"}
_VOLUNTEER_COLUMNS = (("编号", 8), ("姓名", 10), ("手机号", 14), ("性别", 6), ("年龄", 6), ("类别", 18),
                      ("特长技能", 24), ("所在社区", 16), ("状态", 8), ("服务时长（小时）", 14), ("服务次数", 10),
                      ("注册时间", 18), ("志愿者编号", 22))


# What makes a spreadsheet read a cell as a formula (OWASP's CSV-injection list; tab and CR too).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe(text: str) -> str:
    """A cell's text that a spreadsheet will not run as a formula (=, +, -, @, tab or CR first)."""
    return "'" + text if text[:1] in _FORMULA_STARTS else text


def volunteer_sheet(items: Iterable[Mapping[str, Any]], *, now: datetime) -> bytes:
    """The directory rows (already masked) as an XLSX file: one header note, one header row, one row each."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet("志愿者")
    bold = book.add_format({"bold": True})
    rows = list(items)
    sheet.write(0, 0, f"志愿者名录（{to_local(now).strftime('%Y-%m-%d %H:%M')} 导出，共 {len(rows)} 人；"
                      "姓名和手机号已脱敏）")
    for column, (title, width) in enumerate(_VOLUNTEER_COLUMNS):
        sheet.write(1, column, title, bold)
        sheet.set_column(column, column, width)
    for index, item in enumerate(rows, start=2):
        categories = "、".join(CATEGORY_LABELS.get(Category(c), c) if c in Category.__members__.values() else c
                               for c in item["categories"])
        values = (item["id"], item["real_name"], item["mobile"] or "", GENDER_LABELS.get(item["gender"] or "", ""),
                  item["age"] if item["age"] is not None else "", categories, "、".join(item["skills"]),
                  item["region"].name, STATUS_LABELS.get(item["status"], item["status"]),
                  round(item["total_service_minutes"] / 60, 1), item["service_record_count"],
                  to_local(item["created_at"]).strftime("%Y-%m-%d %H:%M"), item["volunteer_number"] or "")
        for column, value in enumerate(values):
            if isinstance(value, str):
                sheet.write_string(index, column, _safe(value))
            else:
                sheet.write_number(index, column, value)
    sheet.freeze_panes(2, 0)
    book.close()
    return buffer.getvalue()
