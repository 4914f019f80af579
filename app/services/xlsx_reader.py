"""Read the first sheet of an uploaded XLSX row by row, refusing what could hurt the service.

An upload is untrusted: it may be no zip at all, a zip bomb (a few KB that inflate to gigabytes), a
sheet of a million empty rows, XML with entity tricks (billion laughs), or formulas whose cached
values are whatever the last program to save the file wrote. The reader:

- opens the zip and checks every member's declared size, and counts the bytes it really inflates
  (a member can lie about its size), stopping at `max_member_bytes`;
- parses with expat directly, fed 64 KB at a time, refusing any DOCTYPE or entity declaration,
  so memory is one chunk plus the current row, whatever the sheet's size (shared strings are the
  one table held, bounded by the member limit);
- counts every row element, empty or not, and stops past `max_rows`;
- reports every formula cell (up to a few) instead of trusting its cached value.

Values come back as text, as the cell showed them: numbers in their shortest form ("13800138000",
not "1.38e10"), with a flag for cells that were numbers (an 18-digit ID typed as a number has lost
its last digits, and the caller says so). Dates are left to the caller, which knows which column
holds one (a number in a date column is Excel's serial day).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO
from xml.parsers import expat

from app.errors import DomainError

_CHUNK = 64 * 1024
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CELL_REF = re.compile(r"([A-Z]{1,3})(\d+)$")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls (and other OLE2 files)
MAX_FORMULAS_LISTED = 10


class XlsxError(DomainError):
    """The file cannot be read as a sheet: 422 (413 when it inflates too far), a code, why in Chinese."""

    def __init__(self, code: str, message: str, **detail: object) -> None:
        super().__init__(code, message, 413 if code == "import_file_too_large" else 422, context=detail or None)


@dataclass(frozen=True)
class Limits:
    max_member_bytes: int = 100 * 1024 * 1024   # inflated size of any one part (sheet, shared strings)
    max_ratio: int = 200                         # inflated ÷ compressed, for a part over 1 MB
    max_rows: int = 100_000                      # row elements of the sheet, empty ones included
    max_columns: int = 50


@dataclass
class Row:
    number: int                       # 1-based, as Excel shows it
    values: dict[int, str] = field(default_factory=dict)  # 0-based column → text (empty cells absent)
    numeric: set[int] = field(default_factory=set)         # columns whose cell was a number

    def is_empty(self) -> bool:
        return not any(v.strip() for v in self.values.values())


def column_name(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def number_text(raw: str) -> str:
    """A numeric cell's value as a person would type it: 13800138000, 2.5, not 1.38E10 or 2.50."""
    try:
        value = float(raw)
    except ValueError:
        return raw
    if value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    return repr(value)


class _Guarded:
    """A zip member's stream that stops once more than `limit` bytes have come out of it."""

    def __init__(self, inner: IO[bytes], limit: int, name: str) -> None:
        self.inner, self.limit, self.name, self.count = inner, limit, name, 0

    def __enter__(self) -> _Guarded:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.inner.close()

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.count += len(data)
        if self.count > self.limit:
            raise _too_big(self.name)
        return data


def _too_big(name: str) -> XlsxError:
    return XlsxError("import_file_too_large", "文件解压后过大（可能是压缩炸弹），请检查文件或拆分后再导入", part=name)


def _too_many_rows(limits: Limits) -> XlsxError:
    return XlsxError("import_too_many_rows", f"表格行数过多（最多 {limits.max_rows - 1} 行数据；空行也计算在内），"
                     "请删除多余的空行或拆分后再导入", max_rows=limits.max_rows - 1)


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse(*_args: object) -> None:
        raise XlsxError("import_not_xlsx", "文件内容不是有效的 Excel 表格（含不允许的 XML 声明）")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    return parser


def _feed(parser: expat.XMLParserType, stream: _Guarded) -> Iterator[None]:
    """Feed `stream` to `parser` a chunk at a time, yielding after each chunk (rows may be ready)."""
    try:
        while True:
            chunk = stream.read(_CHUNK)
            parser.Parse(chunk, not chunk)
            yield
            if not chunk:
                return
    except expat.ExpatError:
        raise XlsxError("import_not_xlsx", "文件内容已损坏，不是有效的 Excel 表格") from None
    except zipfile.BadZipFile:
        raise XlsxError("import_not_xlsx", "文件已损坏（压缩数据校验失败），请重新保存后再导入") from None


class XlsxReader:
    """The first worksheet of an XLSX file, read as rows; use as a context manager."""

    def __init__(self, source: BinaryIO | bytes, limits: Limits = Limits()) -> None:
        self.limits = limits
        data = io.BytesIO(source) if isinstance(source, bytes) else source
        head = data.read(8)
        data.seek(0)
        if head.startswith(_OLE2_MAGIC):
            raise XlsxError("import_not_xlsx", "这是旧版 Excel（.xls）或加密的文件，请另存为 .xlsx 后再导入")
        try:
            self.zip = zipfile.ZipFile(data)
        except (zipfile.BadZipFile, EOFError, ValueError):
            raise XlsxError("import_not_xlsx", "文件不是 Excel（.xlsx）表格，请在 Excel 或 WPS 中另存为 .xlsx 后再导入") from None
        for info in self.zip.infolist():
            if info.file_size > limits.max_member_bytes or (
                    info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
                raise _too_big(info.filename)
        self.sheet_path = self._first_sheet()
        self.shared_strings: list[str] = []
        # Cells holding a formula (the first few, as A1 references) and how many there were.
        self.formula_cells: list[str] = []
        self.formula_count = 0

    def __enter__(self) -> XlsxReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.zip.close()

    def _open(self, name: str) -> _Guarded:
        try:
            inner = self.zip.open(name)
        except KeyError:
            raise XlsxError("import_not_xlsx", "文件不是 Excel（.xlsx）表格：缺少工作表") from None
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError):
            # RuntimeError: an encrypted member; NotImplementedError: a compression zipfile lacks.
            raise XlsxError("import_not_xlsx", "文件已加密或损坏，请另存为普通的 .xlsx 后再导入") from None
        return _Guarded(inner, self.limits.max_member_bytes, name)

    def _small_xml(self, name: str, element: str, attributes: tuple[str, ...]) -> list[dict[str, str]]:
        """Every `element` of a small part (workbook, relationships) with the attributes asked for."""
        found: list[dict[str, str]] = []
        parser = _parser()

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag.rsplit(" ", 1)[-1] == element:
                found.append({a: attrs.get(a, attrs.get(f"{_REL_NS} {a}", "")) for a in attributes})

        parser.StartElementHandler = start
        with self._open(name) as stream:
            for _ in _feed(parser, stream):
                pass
        return found

    def _first_sheet(self) -> str:
        names = set(self.zip.namelist())
        if "xl/workbook.xml" not in names:
            raise XlsxError("import_not_xlsx", "文件不是 Excel（.xlsx）表格，请在 Excel 或 WPS 中另存为 .xlsx 后再导入")
        sheets = self._small_xml("xl/workbook.xml", "sheet", ("id",))
        if sheets and "xl/_rels/workbook.xml.rels" in names:
            targets = {r["Id"]: r["Target"] for r in
                       self._small_xml("xl/_rels/workbook.xml.rels", "Relationship", ("Id", "Target"))}
            target = targets.get(sheets[0]["id"], "")
            path = target.lstrip("/") if target.startswith("/") else "xl/" + target
            if path in names:
                return path
        if "xl/worksheets/sheet1.xml" in names:
            return "xl/worksheets/sheet1.xml"
        raise XlsxError("import_not_xlsx", "文件中没有工作表")

    def _load_shared_strings(self) -> None:
        if "xl/sharedStrings.xml" not in self.zip.namelist():
            return
        strings = self.shared_strings
        parts: list[str] = []
        state = {"in_si": False, "in_t": False, "in_rph": False}
        parser = _parser()

        def start(tag: str, _attrs: dict[str, str]) -> None:
            local = tag.rsplit(" ", 1)[-1]
            if local == "si":
                state["in_si"] = True
                parts.clear()
            elif local == "t" and state["in_si"] and not state["in_rph"]:
                state["in_t"] = True
            elif local == "rPh":  # phonetic hints (furigana) are not part of the text
                state["in_rph"] = True

        def end(tag: str) -> None:
            local = tag.rsplit(" ", 1)[-1]
            if local == "si":
                state["in_si"] = False
                strings.append("".join(parts))
            elif local == "t":
                state["in_t"] = False
            elif local == "rPh":
                state["in_rph"] = False

        def text(data: str) -> None:
            if state["in_t"]:
                parts.append(data)

        parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
        with self._open("xl/sharedStrings.xml") as stream:
            for _ in _feed(parser, stream):
                pass

    def rows(self) -> Iterator[Row]:
        """The sheet's rows in order, empty ones included (so row numbers are Excel's)."""
        self._load_shared_strings()
        limits = self.limits
        ready: list[Row] = []
        current: list[Row | None] = [None]
        cell: dict[str, object] = {}
        text_parts: list[str] = []
        counters = {"rows": 0, "last_row": 0, "last_col": -1}
        flags = {"in_value": False, "in_is_t": False, "in_formula": False}

        def start(tag: str, attrs: dict[str, str]) -> None:
            local = tag.rsplit(" ", 1)[-1]
            if local == "c":
                ref = attrs.get("r", "")
                match = _CELL_REF.match(ref)
                column = _column_index(match.group(1)) if match else counters["last_col"] + 1
                counters["last_col"] = column
                cell.clear()
                cell.update(column=column, type=attrs.get("t", "n"), formula=False)
                text_parts.clear()
            elif local == "v":
                flags["in_value"] = True
            elif local == "t" and cell:
                flags["in_is_t"] = True
            elif local == "f":
                cell["formula"] = True
            elif local == "row":
                counters["rows"] += 1
                number = attrs.get("r", "")
                row_number = int(number) if number.isdigit() else counters["last_row"] + 1
                if counters["rows"] > limits.max_rows:
                    raise _too_many_rows(limits)
                counters["last_row"] = row_number
                counters["last_col"] = -1
                current[0] = Row(row_number)

        def end(tag: str) -> None:
            local = tag.rsplit(" ", 1)[-1]
            if local == "v":
                flags["in_value"] = False
            elif local == "t":
                flags["in_is_t"] = False
            elif local == "c":
                row = current[0]
                if row is not None and cell:
                    _finish_cell(row)
                cell.clear()
            elif local == "row":
                row = current[0]
                if row is not None:
                    # A stray empty row far down (a format someone applied) is harmless; data there is not.
                    if row.number > limits.max_rows and not row.is_empty():
                        raise _too_many_rows(limits)
                    ready.append(row)
                current[0] = None

        def text(data: str) -> None:
            if flags["in_value"] or (flags["in_is_t"] and cell.get("type") == "inlineStr"):
                text_parts.append(data)

        def _finish_cell(row: Row) -> None:
            column = int(cell["column"])  # type: ignore[arg-type]
            raw = "".join(text_parts)
            if cell["formula"]:
                self.formula_count += 1
                if len(self.formula_cells) < MAX_FORMULAS_LISTED:
                    self.formula_cells.append(f"{column_name(column)}{row.number}")
                return
            if not raw:
                return
            if column >= limits.max_columns:
                raise XlsxError("import_too_many_columns", f"表格列数过多（最多 {limits.max_columns} 列）")
            kind = cell["type"]
            if kind == "s":
                try:
                    value = self.shared_strings[int(raw)]
                except (ValueError, IndexError):
                    raise XlsxError("import_not_xlsx", "文件内容已损坏（字符串表不完整）") from None
            elif kind in ("inlineStr", "str", "d"):
                value = raw
            elif kind == "b":
                value = "是" if raw == "1" else "否"
            elif kind == "e":
                value = raw  # an error value such as #N/A: the caller sees text that fails its checks
            else:
                value = number_text(raw)
                row.numeric.add(column)
            row.values[column] = value

        parser = _parser()
        parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
        with self._open(self.sheet_path) as stream:
            for _ in _feed(parser, stream):
                if ready:
                    yield from ready
                    ready.clear()
        yield from ready
