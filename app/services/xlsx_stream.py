"""A one-sheet XLSX written row by row straight into its zip: constant memory, a few µs a row.

The exports write up to millions of rows. XlsxWriter's `constant_memory` mode keeps memory flat,
but its per-cell path (dimension checks, one XML call and one regex escape per cell, a temp file
then a second copy into the zip) was two thirds of an export's CPU. This writer emits
the same OOXML (inline strings, so no shared-strings table grows; numbers; dates as serial numbers
with a date format) one row at a time, a batch of rows per write, into the worksheet's zip entry
as it is compressed. Nothing but the current batch is held.

It writes only what the exports need: one sheet, column widths, frozen header rows, three styles
(plain, bold, date-time). The bulletins, with colours and several sheets, stay on XlsxWriter.
Text goes through the `text` function given (the exports pass `spreadsheets._safe`, formula escaping).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from xlsxwriter.utility import xl_col_to_name

PLAIN, BOLD, DATETIME = 0, 1, 2
MAX_TEXT = 32_767  # Excel's limit on a cell's text
_EPOCH = datetime(1899, 12, 30)
_BATCH = 500  # rows joined into one write

# What needs more than the fast path: XML's specials, control characters (not allowed in XML 1.0, written
# as _xHHHH_ the way Excel reads them) and text that already looks like such an escape.
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]|_x[0-9A-Fa-f]{4}_")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_LOOKS_ESCAPED = re.compile(r"(_x[0-9A-Fa-f]{4}_)")
_WHITESPACE = (" ", "\t", "\n", "\r")


def _escape(text: str) -> str:
    text = _LOOKS_ESCAPED.sub(r"_x005F\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def sheet_title(name: str) -> str:
    """A name Excel accepts for a sheet: none of []:*?/\\, no quote at either end, 1 to 31 characters."""
    return re.sub(r"[\[\]:*?/\\]", "_", name).strip("'")[:31] or "Sheet1"


def excel_serial(moment: datetime) -> float:
    """A naive (already local) date-time as Excel's serial day number (1900 system)."""
    return (moment - _EPOCH).total_seconds() / 86400


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/app.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
    '</Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" '
    'Target="docProps/app.xml"/>'
    '</Relationships>')
_APP = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        '<Application>Microsoft Excel</Application></Properties>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/>'
    '</Relationships>')
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd\\ hh:mm"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>')


class SheetWriter:
    """`with SheetWriter(path, sheet_name, widths, frozen_rows=2) as sheet: sheet.row([...])`.

    Cells: str → inline text (escaped for XML, cut at Excel's 32,767 characters); int/float → number;
    bool → boolean; datetime/date (naive, local) → a date-time cell; None or "" → no cell.
    """

    def __init__(self, path: str | Path, sheet_name: str, widths: Sequence[float], *, frozen_rows: int = 0,
                 text: Callable[[str], str] | None = None, compresslevel: int = 1) -> None:
        self._text = text  # applied to every non-empty text first (the exports' formula escaping)
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        self._zip.writestr("[Content_Types].xml", _CONTENT_TYPES)
        self._zip.writestr("_rels/.rels", _ROOT_RELS)
        self._zip.writestr("docProps/app.xml", _APP)
        self._zip.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        self._zip.writestr("xl/styles.xml", _STYLES)
        self._zip.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<bookViews><workbookView/></bookViews><sheets><sheet name="{_attr(sheet_title(sheet_name))}" sheetId="1" '
            'r:id="rId1"/></sheets></workbook>'))
        self._sheet = self._zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        self._letters = [xl_col_to_name(i) for i in range(max(len(widths), 1) + 64)]
        view = '<sheetView workbookViewId="0"/>'
        if frozen_rows:
            view = (f'<sheetView workbookViewId="0"><pane ySplit="{frozen_rows}" topLeftCell="A{frozen_rows + 1}" '
                    'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView>')
        cols = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{w + 0.71:.2f}" customWidth="1"/>'
                       for i, w in enumerate(widths))
        self._sheet.write((
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheetViews>{view}</sheetViews><sheetFormatPr defaultRowHeight="15"/>'
            + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>").encode())
        self._pending: list[str] = []
        self.rows = 0

    def row(self, values: Iterable[Any], *, style: int = PLAIN) -> None:
        """Append one row (its values from column A on)."""
        self.rows += 1
        n = str(self.rows)
        s = f' s="{style}"' if style else ""
        parts = [f'<row r="{n}">']
        append = parts.append
        for letter, value in zip(self._letters, values):
            kind = type(value)
            if kind is str:
                if not value:
                    continue
                if self._text is not None:
                    value = self._text(value)
                if len(value) > MAX_TEXT:
                    value = value[:MAX_TEXT]
                if _SPECIAL.search(value):
                    value = _escape(value)
                if value[0] in _WHITESPACE or value[-1] in _WHITESPACE:
                    append(f'<c r="{letter}{n}"{s} t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>')
                else:
                    append(f'<c r="{letter}{n}"{s} t="inlineStr"><is><t>{value}</t></is></c>')
            elif kind is int or kind is float:
                append(f'<c r="{letter}{n}"{s}><v>{value!r}</v></c>')
            elif value is None:
                continue
            elif kind is bool:
                append(f'<c r="{letter}{n}"{s} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, datetime):
                append(f'<c r="{letter}{n}" s="{DATETIME}"><v>{excel_serial(value.replace(tzinfo=None))!r}</v></c>')
            elif isinstance(value, date):
                append(f'<c r="{letter}{n}" s="{DATETIME}"><v>{(value - _EPOCH.date()).days}</v></c>')
            elif isinstance(value, int):  # subclasses (IntEnum)
                append(f'<c r="{letter}{n}"{s}><v>{int(value)}</v></c>')
            elif isinstance(value, float):
                append(f'<c r="{letter}{n}"{s}><v>{float(value)!r}</v></c>')
            else:
                raise TypeError(f"cannot write a {kind.__name__} to a cell")
        append("</row>")
        self._pending.append("".join(parts))
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._sheet.write("".join(self._pending).encode())
            self._pending = []

    def close(self) -> None:
        if self._sheet is None:
            return
        self._flush()
        self._sheet.write(b"</sheetData></worksheet>")
        self._sheet.close()
        self._sheet = None
        self._zip.close()

    def __enter__(self) -> "SheetWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:  # leave the half-written file to the caller's cleanup
            self._sheet.close() if self._sheet is not None else None
            self._zip.close()
