"""Reading a paper sign-in sheet typed (or scanned into) an XLSX file: one row per person.

Columns are found by their header (the first of the top ten rows naming 姓名 or 志愿者编号): 姓名,
手机后四位 (or the full 手机号), 志愿者编号, 签到时间, 签退时间. Times may be times of day (the
activity's date is taken), dates with times, or text such as 8:30 / 2026-12-05 08:30. The file is
refused before openpyxl reads it if it is not a zip, too big, or would inflate past a limit.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from app.errors import DomainError
from app.timeutil import SHANGHAI

# The sheet arrives base64-encoded in a JSON body of at most 1 MiB.
MAX_BYTES = 700 * 1024
MAX_INFLATED_BYTES = 40 * 1024 * 1024
MAX_ROWS = 1000
_HEADERS = {
    "name": ("姓名", "名字"),
    "mobile": ("手机后四位", "手机尾号", "手机号后四位", "手机号", "手机", "联系电话", "电话"),
    "number": ("志愿者编号", "编号"),
    "start": ("签到时间", "开始时间", "到达时间", "签到"),
    "end": ("签退时间", "结束时间", "离开时间", "签退"),
}
_TIME_TEXT = re.compile(r"^(?:(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?\s*)?(\d{1,2})[:：时](\d{2})(?::\d{2})?分?$")


@dataclass
class SheetRow:
    row: int                      # the spreadsheet's own row number, as the organiser sees it
    name: str
    mobile_last4: str
    number: str
    start: object
    end: object


def invalid(message: str) -> DomainError:
    return DomainError("invalid_spreadsheet", message, 422, fields={"file": message})


def read(data: bytes) -> list[SheetRow]:
    """The sheet's non-empty rows below its header; 422 for a file that is not a usable sign-in sheet."""
    if len(data) > MAX_BYTES:
        raise DomainError("file_too_large", f"文件不能超过 {MAX_BYTES // 1024} KB，请只保留签到表内容", 413)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        inflated = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise invalid("文件不是 Excel（.xlsx）格式，请另存为 .xlsx 后再上传") from None
    if inflated > MAX_INFLATED_BYTES:
        raise invalid("文件解压后过大，请只保留签到表内容后再上传")
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = _rows(sheet.iter_rows(values_only=True))
    except DomainError:
        raise
    except Exception:  # openpyxl raises many kinds on a damaged workbook
        raise invalid("无法读取该 Excel 文件，请检查文件是否损坏") from None
    return rows


def _rows(values) -> list[SheetRow]:
    columns: dict[str, int] | None = None
    found: list[SheetRow] = []
    for number, cells in enumerate(values, start=1):
        texts = [_text(cell) for cell in cells]
        if columns is None:
            if number > 10:
                break
            columns = _header(texts)
            continue
        if not any(texts):
            continue
        if len(found) >= MAX_ROWS:
            raise DomainError("too_many_rows", f"签到表最多 {MAX_ROWS} 行，请分批上传", 422)

        def cell(key: str, cells=cells, texts=texts) -> object:
            index = columns.get(key)
            return None if index is None or index >= len(cells) else cells[index]

        def cell_text(key: str, texts=texts) -> str:
            index = columns.get(key)
            return "" if index is None or index >= len(texts) else texts[index]

        mobile = re.sub(r"\D", "", cell_text("mobile"))
        found.append(SheetRow(row=number, name=cell_text("name"), mobile_last4=mobile[-4:] if mobile else "",
                              number=cell_text("number"), start=cell("start"), end=cell("end")))
    if columns is None:
        raise DomainError("missing_columns", "找不到表头：请在前 10 行中写明「姓名」「手机后四位」或「志愿者编号」"
                          "「签到时间」「签退时间」", 422)
    return found


def _header(texts: list[str]) -> dict[str, int] | None:
    columns: dict[str, int] = {}
    for index, label in enumerate(texts):
        label = label.replace(" ", "")
        for key, names in _HEADERS.items():
            if key not in columns and label in names:
                columns[key] = index
    if "name" in columns or "number" in columns:
        if "number" not in columns and "mobile" not in columns:
            raise DomainError("missing_columns", "表头缺少「手机后四位」或「志愿者编号」列：仅凭姓名无法确认是哪位志愿者", 422)
        return columns
    return None


def _text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return str(cell).strip()


def moment(value: object, day: date) -> datetime | None:
    """A cell's time as an aware UTC moment (a bare time of day falls on `day`, Shanghai); None if blank.

    Raises ValueError for a cell that is not a time.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        local = value if value.tzinfo else value.replace(tzinfo=SHANGHAI)
        return local.astimezone(SHANGHAI)
    if isinstance(value, time):
        return datetime.combine(day, value.replace(tzinfo=None), tzinfo=SHANGHAI)
    if isinstance(value, (int, float)) and 0 <= value < 1:  # an Excel time of day kept as a fraction
        return datetime.combine(day, time(), tzinfo=SHANGHAI) + timedelta(minutes=round(value * 24 * 60))
    match = _TIME_TEXT.match(str(value).strip())
    if match is None:
        raise ValueError(value)
    year, month, dom, hour, minute = match.groups()
    on = date(int(year), int(month), int(dom)) if year else day
    return datetime(on.year, on.month, on.day, int(hour), int(minute), tzinfo=SHANGHAI)


def template(title: str, day: str, attendees: list[tuple[str, str | None]]) -> bytes:
    """A sign-in sheet to print: a title line, the header `read` looks for, one line per approved sign-up.

    Names are masked (the console never shows them in full): a line with the volunteer number is matched
    by it; a volunteer without one writes their full name and the mobile's last four on the paper.
    """
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet("签到表")
    bold = book.add_format({"bold": True})
    text = book.add_format({"num_format": "@"})
    sheet.write_string(0, 0, f"{title}（{day}）签到表：有志愿者编号的按编号匹配；没有编号的请写全名和手机后四位。"
                             "时间写 8:30 或 2026-12-05 08:30，不填按活动时间", bold)
    for column, label in enumerate(("姓名", "志愿者编号", "手机后四位", "签到时间", "签退时间", "签名")):
        sheet.write_string(1, column, label, bold)
        sheet.set_column(column, column, 16, text)
    for row, (name, number) in enumerate(attendees, start=2):
        sheet.write_string(row, 0, name)
        if number:
            sheet.write_string(row, 1, number)
    book.close()
    return buffer.getvalue()

