"""Spreadsheets for import tests: well-formed ones from rows, and the malformed files people (or attackers) send."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from functools import cache

import xlsxwriter

VOLUNTEER_HEADER = ("姓名", "手机号", "身份证号", "类别", "特长技能", "所在社区")
RECORD_HEADER = ("姓名", "身份证号", "手机号", "活动名称", "服务日期", "服务时长（小时）", "服务地点", "服务内容")
# Valid resident ID numbers (check digits right), adults.
IDS = ("11010519491231002X", "110101199003070134", "110101199003074477", "110101198001010010",
       "110101198512120035")


def xlsx(rows: Iterable[Sequence[object]], *, formulas: Sequence[tuple[int, int, str]] = ()) -> bytes:
    """An XLSX whose first sheet holds `rows` (text stays text, numbers numbers); formulas as (row, col, formula)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False})
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(r, c, value)
            else:
                sheet.write_number(r, c, value)
    for r, c, formula in formulas:
        sheet.write_formula(r, c, formula, None, 1)
    book.close()
    return buffer.getvalue()


def _zip(members: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression, compresslevel=1) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


_WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
             'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
             '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
         'Target="worksheets/sheet1.xml"/></Relationships>')


def raw_sheet(sheet_xml: str | bytes, **extra: bytes | str) -> bytes:
    """An XLSX zip around a hand-written sheet XML."""
    return _zip({"xl/workbook.xml": _WORKBOOK, "xl/_rels/workbook.xml.rels": _RELS, "xl/worksheets/sheet1.xml": sheet_xml,
                 **extra})


def sheet_xml(rows_xml: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<sheetData>{rows_xml}</sheetData></worksheet>')


@cache
def million_empty_rows() -> bytes:
    """A header, then a million empty row elements (what a sheet formatted down to the bottom can hold)."""
    header = "<row r=\"1\">" + "".join(f'<c t="inlineStr"><is><t>{name}</t></is></c>' for name in VOLUNTEER_HEADER) + "</row>"
    return raw_sheet(sheet_xml(header + "".join(f'<row r="{n}"/>' for n in range(2, 1_000_002))))


@cache
def zip_bomb() -> bytes:
    """Under a megabyte that inflates to 120 MB of sheet."""
    return raw_sheet(b"<" + b" " * (120 * 1024 * 1024))


def billion_laughs() -> bytes:
    entities = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    return raw_sheet('<?xml version="1.0"?>' + entities + sheet_xml('<row r="1"><c t="inlineStr"><is><t>&lol2;</t></is></c></row>')
                     .removeprefix('<?xml version="1.0" encoding="UTF-8"?>'))
