"""Imports of an organisation's existing volunteers and past service records from XLSX; claiming an imported archive.

An organisation moving from spreadsheets uploads one (`upload`), reads the preview (each row's
result: new, already there, or its problems by row number and column), and commits it once
(`commit`), in one transaction. Rules:

- **Read safely.** `app/services/xlsx_reader.py` refuses what is not an XLSX, zip bombs, sheets of
  more than `MAX_ROWS` rows (empty ones count), DOCTYPEs; formulas and missing or unknown columns
  are whole-file errors, because every row would be read wrong.
- **The preview is recomputed at commit.** The file is kept (storage key + SHA-256); the commit
  reads it again inside its transaction, so a volunteer who registered between preview and commit
  is found as existing, not inserted twice. Rows stream through in batches of `BATCH`: each batch
  is looked up with one query per key and written with one INSERT per table, so memory does not
  grow with the file (only the sets of keys seen so far, for duplicates within the file).
- **Re-importing changes nothing.** A volunteer is the same person when the ID number (by its keyed
  digest) or the mobile number matches; such rows are reported as existing and skipped. A record
  is the same when its fingerprint (volunteer, activity name, date, minutes) was imported by the
  organisation before (`imported_records`, unique per organisation). Two identical rows in one
  file are a problem on the second.
- **One person, one archive.** An imported archive belongs to a placeholder account (disabled,
  no WeChat identity) until the person logs in to the mini-program and proves the mobile number
  through WeChat's phone-number API (`claim`); the archive then moves to their account, once,
  by a conditional UPDATE. An account that already has an archive cannot claim another.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from app import pii
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.resident_id import parse_resident_id
from app.services import access, audit, files, service_records, volunteer_numbers
from app.services.volunteers import CATEGORY_LABELS
from app.services.xlsx_reader import Limits, Row, XlsxError, XlsxReader, column_name
from app.timeutil import SHANGHAI, to_local
from app.wechat.errors import WeChatAPIError, WeChatError
from app.wechat.gateway import WeChatGateway
from models import (Account, Activity, ActivityKind, ActivityStatus, Gender, Import, ImportedActivity, ImportedRecord,
                    ImportedVolunteer, ImportKind, ImportStatus, Organization, Region, RegionLevel,
                    RegistrationChannel, Signup, SignupStatus, Volunteer, VolunteerStatus)

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 100_001               # the header and 100,000 rows of data
BATCH = 500                      # rows looked up and written together
ROWS_LISTED = 1_000              # rows with problems or duplicates kept in the preview
HEADER_SEARCH_ROWS = 10          # a title or a note may stand above the header row
EARLIEST_RECORD = date(2000, 1, 1)
MAX_HOURS_A_DAY = 24

MOBILE = re.compile(r"1[3-9]\d{9}")
# getuserphonenumber answers these when the button's code is bad (invalid, used, or expired).
_BAD_PHONE_CODE_ERRCODES = {40029, 40163, 41008}
_LIST_SEPARATORS = re.compile(r"[、,，;；/\s]+")
_CATEGORY_BY_LABEL = {label: category.value for category, label in CATEGORY_LABELS.items()}
_DATE_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s.*)?")
_EXCEL_EPOCH = date(1899, 12, 30)


@dataclass(frozen=True)
class Column:
    field: str
    label: str                   # the header the template uses
    aliases: tuple[str, ...]     # other headers people write for it
    is_required: bool


VOLUNTEER_COLUMNS = (
    Column("real_name", "姓名", ("名字",), True),
    Column("mobile", "手机号", ("手机", "手机号码", "联系电话", "联系方式"), True),
    Column("id_number", "身份证号", ("身份证", "身份证号码", "公民身份号码"), False),
    Column("categories", "类别", ("志愿者类别", "人员类别"), False),
    Column("skills", "特长技能", ("技能", "特长", "专业技能"), False),
    Column("community", "所在社区", ("社区", "所属社区", "社区（村）"), True),
)
RECORD_COLUMNS = (
    Column("real_name", "姓名", ("名字",), True),
    Column("id_number", "身份证号", ("身份证", "身份证号码", "公民身份号码"), False),
    Column("mobile", "手机号", ("手机", "手机号码", "联系电话", "联系方式"), False),
    Column("title", "活动名称", ("活动", "项目名称"), True),
    Column("held_on", "服务日期", ("日期", "活动日期"), True),
    Column("hours", "服务时长（小时）", ("服务时长", "时长（小时）", "时长", "小时数", "服务小时数"), True),
    Column("place", "服务地点", ("地点", "活动地点"), False),
    Column("content", "服务内容", ("内容", "活动内容"), False),
)
COLUMNS = {ImportKind.VOLUNTEERS: VOLUNTEER_COLUMNS, ImportKind.RECORDS: RECORD_COLUMNS}


def _normal(header: str) -> str:
    """A header compared loosely: no spaces, half-width brackets, no trailing asterisk (required mark)."""
    return re.sub(r"\s+", "", header).replace("(", "（").replace(")", "）").rstrip("*＊")


# --- reading a file -------------------------------------------------------------------------------


@dataclass
class Line:
    """One data row of the file: its cleaned values, or its problems."""

    number: int
    values: dict[str, object] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)
    result: str = "new"          # new | existing | problem
    existing_id: int | None = None
    matched_by: str | None = None
    duplicate_of: int | None = None

    def problem(self, column: str, message: str) -> None:
        self.problems.append({"column": column, "message": message})
        self.result = "problem"


def _header(rows: Iterator[Row], columns: tuple[Column, ...]) -> dict[int, Column]:
    """Find the header row (the first of the first rows that names a required column) and map its columns."""
    by_name = {_normal(name): column for column in columns for name in (column.label, *column.aliases)}
    first_required = {_normal(name) for name in (columns[0].label, *columns[0].aliases)}
    searched = 0
    for row in rows:
        if row.is_empty():
            continue
        searched += 1
        headers = {index: _normal(value) for index, value in row.values.items() if value.strip()}
        if not first_required & set(headers.values()):
            if searched >= HEADER_SEARCH_ROWS:
                break
            continue
        mapping: dict[int, Column] = {}
        unknown, repeated = [], []
        for index, name in sorted(headers.items()):
            column = by_name.get(name)
            if column is None:
                unknown.append(f"{column_name(index)}列「{row.values[index].strip()}」")
            elif column in mapping.values():
                repeated.append(column.label)
            else:
                mapping[index] = column
        if unknown:
            raise XlsxError("import_unknown_columns",
                            f"第 {row.number} 行的表头有无法识别的列：{'、'.join(unknown)}。可用的列："
                            f"{'、'.join(c.label for c in columns)}（请删除多余的列或改正列名）",
                            columns=[c.label for c in columns])
        if repeated:
            raise XlsxError("import_duplicate_columns", f"表头中这些列出现了不止一次：{'、'.join(repeated)}")
        missing = [c.label for c in columns if c.is_required and c not in mapping.values()]
        if missing:
            raise XlsxError("import_missing_columns", f"缺少必填的列：{'、'.join(missing)}",
                            columns=[c.label for c in columns])
        return mapping
    raise XlsxError("import_missing_columns",
                    f"找不到表头行（前 {HEADER_SEARCH_ROWS} 行中没有「{columns[0].label}」列）。"
                    f"表头应包含：{'、'.join(c.label for c in columns if c.is_required)}",
                    columns=[c.label for c in columns])


def _lines(reader: XlsxReader, kind: ImportKind) -> Iterator[tuple[Line, Row, dict[int, Column]]]:
    rows = reader.rows()
    mapping = _header(rows, COLUMNS[kind])
    for row in rows:
        if not row.is_empty():
            yield Line(row.number), row, mapping


def _cell(row: Row, mapping: dict[int, Column], name: str) -> tuple[str, bool]:
    for index, column in mapping.items():
        if column.field == name:
            return row.values.get(index, "").strip(), index in row.numeric
    return "", False


# --- checks of one row ------------------------------------------------------------------------------


@dataclass
class Context:
    """What every batch needs: the organisation, its communities by name, the PII key, today's date."""

    organization: Organization
    region: Region
    pii_key: str
    today: date
    communities: dict[str, list[int]]
    seen: dict[str, int] = field(default_factory=dict)   # keys of earlier rows of the file → row number


def _context(organization: Organization, pii_key: str, now: datetime) -> Context:
    region = db.session.get(Region, organization.region_id)
    communities: dict[str, list[int]] = {}
    for region_id, name in db.session.execute(select(Region.id, Region.name).where(
            Region.path.startswith(region.path), Region.level == RegionLevel.COMMUNITY, Region.retired_at.is_(None))):
        communities.setdefault(name, []).append(region_id)
    return Context(organization, region, pii_key, to_local(now).date(), communities)


def _text(line: Line, row: Row, mapping: dict[int, Column], name: str, label: str, *, longest: int,
          spaces: str) -> str:
    """A required text cell, its runs of whitespace replaced by `spaces`; a problem if empty or too long."""
    text, _ = _cell(row, mapping, name)
    text = re.sub(r"\s+", spaces, text)
    if not text:
        line.problem(label, f"{label}不能为空")
    elif len(text) > longest:
        line.problem(label, f"{label}过长（最多 {longest} 个字）")
    return text


def _name(line: Line, row: Row, mapping: dict[int, Column]) -> str:
    return _text(line, row, mapping, "real_name", "姓名", longest=50, spaces="")


def _mobile(line: Line, row: Row, mapping: dict[int, Column], *, required: bool) -> str | None:
    mobile, _ = _cell(row, mapping, "mobile")
    mobile = re.sub(r"[\s-]", "", mobile).removeprefix("+86")
    if not mobile:
        if required:
            line.problem("手机号", "手机号不能为空")
        return None
    if not MOBILE.fullmatch(mobile):
        line.problem("手机号", f"手机号「{mobile[:20]}」格式不对（应为 11 位大陆手机号）")
        return None
    return mobile


def _id_number(line: Line, row: Row, mapping: dict[int, Column], ctx: Context) -> tuple[str | None, object]:
    raw, was_number = _cell(row, mapping, "id_number")
    raw = raw.replace(" ", "").upper()
    if not raw:
        return None, None
    try:
        resident = parse_resident_id(raw, today=ctx.today)
    except ValueError as exc:
        hint = "（该单元格是数字格式，18 位号码的末几位已丢失：请把该列设为文本后重新填写）" if was_number else ""
        line.problem("身份证号", f"身份证号无效：{exc}{hint}")
        return None, None
    return resident.number, resident


def _check_volunteer(line: Line, row: Row, mapping: dict[int, Column], ctx: Context) -> None:
    name = _name(line, row, mapping)
    mobile = _mobile(line, row, mapping, required=True)
    id_number, resident = _id_number(line, row, mapping, ctx)
    categories_text, _ = _cell(row, mapping, "categories")
    categories = []
    for label in filter(None, _LIST_SEPARATORS.split(categories_text)):
        if label in _CATEGORY_BY_LABEL:
            categories.append(_CATEGORY_BY_LABEL[label])
        elif label in _CATEGORY_BY_LABEL.values():
            categories.append(label)
        else:
            line.problem("类别", f"无法识别的类别「{label[:20]}」（可填：{'、'.join(CATEGORY_LABELS.values())}）")
    skills_text, _ = _cell(row, mapping, "skills")
    skills = [s[:40] for s in filter(None, _LIST_SEPARATORS.split(skills_text))][:20]
    community, _ = _cell(row, mapping, "community")
    region_id = None
    if not community:
        line.problem("所在社区", "所在社区不能为空")
    else:
        found = ctx.communities.get(community.replace(" ", ""), [])
        if not found:
            line.problem("所在社区", f"在「{ctx.region.name}」下找不到社区「{community[:30]}」")
        elif len(found) > 1:
            line.problem("所在社区", f"「{ctx.region.name}」下有 {len(found)} 个名为「{community[:30]}」的社区，请联系管理员")
        else:
            region_id = found[0]
    digest = pii.digest(id_number, ctx.pii_key) if id_number else None
    for key, label in ((f"id:{digest}", "身份证号"), (f"mobile:{mobile}", "手机号")):
        if key.endswith(":None"):
            continue
        earlier = ctx.seen.get(key)
        if earlier is not None:
            line.problem(label, f"与第 {earlier} 行的{label}重复")
            line.duplicate_of = earlier
        else:
            ctx.seen[key] = line.number
    line.values = {"real_name": name, "mobile": mobile, "id_number": id_number, "digest": digest,
                   "resident": resident, "categories": list(dict.fromkeys(categories)),
                   "skills": list(dict.fromkeys(skills)), "region_id": region_id}


def _parse_date(text: str, was_number: bool) -> date | None:
    if was_number:
        try:
            serial = float(text)
        except ValueError:
            return None
        return _EXCEL_EPOCH + timedelta(days=int(serial)) if 1 <= serial < 2_958_466 else None
    match = _DATE_TEXT.fullmatch(text)
    if match is None:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _check_record(line: Line, row: Row, mapping: dict[int, Column], ctx: Context) -> None:
    name = _name(line, row, mapping)
    mobile = _mobile(line, row, mapping, required=False)
    id_number, _ = _id_number(line, row, mapping, ctx)
    if not mobile and not id_number and not any(p["column"] in ("手机号", "身份证号") for p in line.problems):
        line.problem("身份证号", "身份证号和手机号至少填一项，用来找到志愿者")
    title = _text(line, row, mapping, "title", "活动名称", longest=60, spaces=" ")
    held_text, held_is_number = _cell(row, mapping, "held_on")
    held_on = _parse_date(held_text, held_is_number) if held_text else None
    if not held_text:
        line.problem("服务日期", "服务日期不能为空")
    elif held_on is None:
        line.problem("服务日期", f"无法识别的日期「{held_text[:20]}」（例：2024-03-05）")
    elif held_on > ctx.today:
        line.problem("服务日期", "服务日期不能晚于今天")
    elif held_on < EARLIEST_RECORD:
        line.problem("服务日期", f"服务日期不能早于 {EARLIEST_RECORD.year} 年")
    hours_text, _ = _cell(row, mapping, "hours")
    minutes = 0
    try:
        hours = float(hours_text.removesuffix("小时").strip())
        if not 0 < hours <= MAX_HOURS_A_DAY:
            raise ValueError
        minutes = max(1, round(hours * 60))
    except ValueError:
        line.problem("服务时长（小时）", f"服务时长应为 0 到 {MAX_HOURS_A_DAY} 之间的小时数（例：2.5）")
    place, _ = _cell(row, mapping, "place")
    content, _ = _cell(row, mapping, "content")
    line.values = {"real_name": name, "mobile": mobile, "digest": pii.digest(id_number, ctx.pii_key) if id_number else None,
                   "title": title, "held_on": held_on, "minutes": minutes, "place": place[:200],
                   "content": content[:2000]}


# --- batches: the database's view of each row ---------------------------------------------------------


def _match_volunteers(batch: list[Line], ctx: Context) -> None:
    """Mark the batch's volunteers that already exist (by ID digest or mobile), or conflict with one."""
    digests = {line.values["digest"] for line in batch if line.values.get("digest")}
    mobiles = {line.values["mobile"] for line in batch if line.values.get("mobile")}
    by_digest = dict(db.session.execute(select(Volunteer.id_number_digest, Volunteer.id).where(
        Volunteer.id_number_digest.in_(digests))).all()) if digests else {}
    by_mobile: dict[str, list[tuple[int, str | None]]] = {}
    if mobiles:
        # mobile_last4 is indexed (the directory's search), mobile is not: the index narrows, mobile decides.
        for volunteer_id, mobile, digest in db.session.execute(
                select(Volunteer.id, Volunteer.mobile, Volunteer.id_number_digest).where(
                    Volunteer.mobile_last4.in_({m[-4:] for m in mobiles}), Volunteer.mobile.in_(mobiles))):
            by_mobile.setdefault(mobile, []).append((volunteer_id, digest))
    for line in batch:
        if line.result == "problem":
            continue
        digest, mobile = line.values["digest"], line.values["mobile"]
        id_match = by_digest.get(digest) if digest else None
        mobile_matches = by_mobile.get(mobile, [])
        if id_match is not None:
            if mobile_matches and all(vid != id_match for vid, _ in mobile_matches):
                line.problem("手机号", "该手机号已属于另一位志愿者，与身份证号对应的志愿者不是同一人")
                continue
            line.result, line.existing_id, line.matched_by = "existing", id_match, "id_number"
        elif mobile_matches:
            if digest and all(other is not None and other != digest for _, other in mobile_matches):
                line.problem("手机号", "该手机号已被另一位（身份证号不同的）志愿者使用")
                continue
            line.result, line.existing_id, line.matched_by = "existing", mobile_matches[0][0], "mobile"


def _match_records(batch: list[Line], ctx: Context) -> None:
    """Find each record's volunteer; mark records imported before (by fingerprint) as existing."""
    digests = {line.values["digest"] for line in batch if line.values.get("digest")}
    mobiles = {line.values["mobile"] for line in batch if line.values.get("mobile") and not line.values.get("digest")}
    by_digest = {d: (vid, name) for d, vid, name in db.session.execute(
        select(Volunteer.id_number_digest, Volunteer.id, Volunteer.real_name).where(
            Volunteer.id_number_digest.in_(digests)))} if digests else {}
    by_mobile: dict[str, list[tuple[int, str]]] = {}
    if mobiles:
        for mobile, vid, name in db.session.execute(select(Volunteer.mobile, Volunteer.id, Volunteer.real_name).where(
                Volunteer.mobile_last4.in_({m[-4:] for m in mobiles}), Volunteer.mobile.in_(mobiles),
                Volunteer.status != VolunteerStatus.DELETED)):
            by_mobile.setdefault(mobile, []).append((vid, name))
    for line in batch:
        if line.result == "problem":
            continue
        values = line.values
        if values["digest"]:
            found = by_digest.get(values["digest"])
            label = "身份证号"
        else:
            candidates = by_mobile.get(values["mobile"], [])
            if len(candidates) > 1:
                line.problem("手机号", "该手机号对应多位志愿者，请填写身份证号")
                continue
            found = candidates[0] if candidates else None
            label = "手机号"
        if found is None:
            line.problem(label, f"找不到该{label}的志愿者（请先导入志愿者名册）")
            continue
        volunteer_id, real_name = found
        if re.sub(r"\s+", "", real_name or "") != values["real_name"]:
            line.problem("姓名", f"姓名与该{label}的志愿者档案不一致")
            continue
        values["volunteer_id"] = volunteer_id
        values["fingerprint"] = hashlib.sha256(
            f"{volunteer_id}|{values['title']}|{values['held_on'].isoformat()}|{values['minutes']}".encode()).hexdigest()
        earlier = ctx.seen.get(values["fingerprint"])
        if earlier is not None:
            line.problem("服务时长（小时）", f"与第 {earlier} 行重复（同一人、同一活动、同一天、同样时长）")
            line.duplicate_of = earlier
            continue
        ctx.seen[values["fingerprint"]] = line.number
    fingerprints = [line.values["fingerprint"] for line in batch if line.result != "problem"]
    if fingerprints:
        done = set(db.session.scalars(select(ImportedRecord.fingerprint).where(
            ImportedRecord.organization_id == ctx.organization.id, ImportedRecord.fingerprint.in_(fingerprints))))
        for line in batch:
            if line.result != "problem" and line.values["fingerprint"] in done:
                line.result, line.matched_by = "existing", "fingerprint"


def _batches(reader: XlsxReader, kind: ImportKind, ctx: Context) -> Iterator[list[Line]]:
    """The file's data rows, checked and matched against the database, a batch at a time."""
    check, match = (_check_volunteer, _match_volunteers) if kind is ImportKind.VOLUNTEERS else (_check_record, _match_records)
    batch: list[Line] = []
    for line, row, mapping in _lines(reader, kind):
        check(line, row, mapping, ctx)
        batch.append(line)
        if len(batch) >= BATCH:
            match(batch, ctx)
            yield batch
            batch = []
    if batch:
        match(batch, ctx)
        yield batch
    if reader.formula_count:
        cells = "、".join(reader.formula_cells) + ("等" if reader.formula_count > len(reader.formula_cells) else "")
        raise XlsxError("import_formulas",
                        f"表格中有 {reader.formula_count} 个公式单元格（{cells}）。请选中表格，复制后「选择性粘贴 → 数值」，"
                        "保存后再导入", cells=reader.formula_cells)


def _reader(data: io.BufferedIOBase | bytes) -> XlsxReader:
    return XlsxReader(data, Limits(max_rows=MAX_ROWS))


# --- the preview ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    rows: int = 0
    new: int = 0
    existing: int = 0
    problems: int = 0
    listed: list[dict[str, object]] = field(default_factory=list)

    def add(self, line: Line) -> None:
        self.rows += 1
        if line.result == "new":
            self.new += 1
        elif line.result == "existing":
            self.existing += 1
        else:
            self.problems += 1
        if line.result != "new" and len(self.listed) < ROWS_LISTED:
            entry: dict[str, object] = {"row": line.number, "result": line.result}
            if line.problems:
                entry["problems"] = line.problems
            if line.existing_id is not None:
                entry["volunteer_id"] = line.existing_id
            if line.matched_by:
                entry["matched_by"] = line.matched_by
            self.listed.append(entry)

    def as_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "new": self.new, "existing": self.existing, "problems": self.problems,
                "listed": self.listed, "is_truncated": self.problems + self.existing > len(self.listed)}


def organization_for_import(account: Account, organization_id: int) -> Organization:
    """The organisation if the caller may import into it (its organisers, admins over its region)."""
    return access.require_overseer(account.id, access.organization(organization_id), doing="导入志愿者和服务记录")


def upload(account: Account, organization_id: int, kind: ImportKind, data: bytes, *, filename: str, now: datetime,
           pii_key: str) -> Import:
    """Check an uploaded file and keep it with its preview; the same file uploaded again gives the same preview."""
    organization = organization_for_import(account, organization_id)
    if not data:
        raise DomainError("import_empty", "文件是空的", 422)
    if len(data) > MAX_FILE_BYTES:
        raise DomainError("import_file_too_large", f"文件过大（最大 {MAX_FILE_BYTES // 1024 // 1024} MB），请拆分后再导入", 413)
    sha256 = hashlib.sha256(data).hexdigest()
    earlier = db.session.scalar(select(Import).where(
        Import.organization_id == organization.id, Import.kind == kind, Import.sha256 == sha256,
        Import.account_id == account.id, Import.status == ImportStatus.PREVIEWED).order_by(Import.id.desc()).limit(1))
    if earlier is not None:
        return earlier
    tally = Tally()
    ctx = _context(organization, pii_key, now)
    with _reader(data) as reader:
        for batch in _batches(reader, kind, ctx):
            for line in batch:
                tally.add(line)
    if tally.rows == 0:
        raise DomainError("import_empty", "表格中除表头外没有数据", 422)
    summary = tally.as_dict()
    committed = db.session.scalar(select(Import.committed_at).where(
        Import.organization_id == organization.id, Import.kind == kind, Import.sha256 == sha256,
        Import.status == ImportStatus.COMMITTED).order_by(Import.id).limit(1))
    summary["same_file_committed_at"] = committed.isoformat() if committed else None
    row = Import(organization_id=organization.id, account_id=account.id, kind=kind, filename=_filename(filename),
                 sha256=sha256, size_bytes=len(data), storage_key=files.save("imports", "upload.xlsx", data),
                 status=ImportStatus.PREVIEWED, summary=summary, created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record(account.id, "import.previewed", "import", row.id, now=now, region_path=ctx.region.path,
                 kind=kind.value, rows=tally.rows, problems=tally.problems)
    return row


def _filename(name: str) -> str:
    name = re.sub(r"[\x00-\x1f/\\]", "", name).strip()[-120:]
    return name or "upload.xlsx"


def get(account: Account, import_id: int, *, lock: bool = False) -> Import:
    """An import the caller may see (they oversee its organisation); 404 otherwise, so ids are not probed."""
    query = select(Import).where(Import.id == import_id)
    row = db.session.scalar(query.with_for_update() if lock else query)
    if row is None or not access.oversees(account.id, access.organization(row.organization_id)):
        raise NotFound("import_not_found", "找不到该导入")
    return row


def of_organization(account: Account, organization_id: int, *, limit: int = 50) -> list[Import]:
    """The organisation's imports, newest first."""
    organization = organization_for_import(account, organization_id)
    return list(db.session.scalars(select(Import).where(Import.organization_id == organization.id)
                                   .order_by(Import.id.desc()).limit(limit)))


# --- the commit ------------------------------------------------------------------------------------------


def commit_import(account: Account, import_id: int, *, skip_problems: bool, now: datetime, pii_key: str) -> Import:
    """Write the import's new rows in this transaction, once; refuse if rows have problems unless told to skip them."""
    row = get(account, import_id, lock=True)
    if row.status is ImportStatus.COMMITTED:
        raise Conflict("import_already_committed", "该文件已导入，无需重复提交")
    if row.summary.get("problems") and not skip_problems:
        raise _has_problems(row.summary["problems"])
    # The claim: of two concurrent commits of one import, one moves it and the other finds it moved.
    claimed = db.session.execute(update(Import).where(Import.id == row.id, Import.status == ImportStatus.PREVIEWED)
                                 .values(status=ImportStatus.COMMITTED, committed_at=now,
                                         committed_by_account_id=account.id)).rowcount
    if claimed != 1:
        raise Conflict("import_already_committed", "该文件已导入，无需重复提交")
    db.session.refresh(row)
    organization = access.organization(row.organization_id)
    ctx = _context(organization, pii_key, now)
    write = _write_volunteers if row.kind is ImportKind.VOLUNTEERS else _write_records
    tally = Tally()
    written = 0
    try:
        with files.open(row.storage_key) as stored, _reader(io.BytesIO(stored.read())) as reader:
            for batch in _batches(reader, row.kind, ctx):
                for line in batch:
                    tally.add(line)
                if tally.problems and not skip_problems:
                    raise _has_problems(tally.problems)
                written += write(row, [line for line in batch if line.result == "new"], account, ctx, now)
    except IntegrityError:
        # Someone registered or imported the same person or record between our lookup and our insert.
        raise Conflict("import_conflict", "导入期间有相同的志愿者或记录被写入，请重新上传预览后再导入") from None
    row.outcome = {"written": written, "existing": tally.existing, "skipped": tally.problems}
    db.session.flush()
    audit.record(account.id, "import.committed", "import", row.id, now=now, region_path=ctx.region.path,
                 kind=row.kind.value, written=written, existing=tally.existing, skipped=tally.problems)
    return row


def _has_problems(count: int) -> Conflict:
    return Conflict("import_has_problems",
                    f"有 {count} 行存在问题：请改正后重新上传，或选择跳过这些行只导入没有问题的行")


def _write_volunteers(row: Import, lines: list[Line], account: Account, ctx: Context, now: datetime) -> int:
    if not lines:
        return 0
    # Plain executemany (batched VALUES) and one SELECT back by a unique key: RETURNING with the
    # parameters' order kept makes SQLite insert row by row.
    openids = [f"imported:{secrets.token_hex(16)}" for _ in lines]
    db.session.execute(insert(Account), [{"mp_openid": openid, "created_at": now, "last_login_at": now,
                                          "disabled_at": now, "token_generation": 0} for openid in openids])
    by_openid = dict(db.session.execute(select(Account.mp_openid, Account.id).where(Account.mp_openid.in_(openids))).all())
    account_ids = [by_openid[openid] for openid in openids]
    volunteers = []
    for line, account_id in zip(lines, account_ids):
        values = line.values
        resident = values["resident"]
        volunteers.append({
            "account_id": account_id, "real_name": values["real_name"], "mobile": values["mobile"],
            "mobile_last4": values["mobile"][-4:],
            "id_number_encrypted": pii.encrypt(values["id_number"], ctx.pii_key) if values["id_number"] else None,
            "id_number_digest": values["digest"],
            "gender": (Gender.MALE if resident.is_male else Gender.FEMALE) if resident else None,
            "birth_date": resident.birth_date if resident else None,
            "categories": values["categories"], "skills": values["skills"], "region_id": values["region_id"],
            "status": VolunteerStatus.APPROVED, "registration_channel": RegistrationChannel.IMPORT,
            "reviewed_by_account_id": account.id, "reviewed_at": now, "total_service_minutes": 0,
            "service_record_count": 0, "created_at": now, "updated_at": now,
        })
    db.session.execute(insert(Volunteer), volunteers)
    by_account = dict(db.session.execute(select(Volunteer.account_id, Volunteer.id).where(
        Volunteer.account_id.in_(account_ids))).all())
    volunteer_ids = [by_account[account_id] for account_id in account_ids]
    db.session.execute(insert(ImportedVolunteer), [
        {"volunteer_id": volunteer_id, "import_id": row.id, "row_number": line.number,
         "placeholder_account_id": account_id}
        for line, volunteer_id, account_id in zip(lines, volunteer_ids, account_ids)])
    for volunteer in db.session.scalars(select(Volunteer).where(Volunteer.id.in_(volunteer_ids)).order_by(Volunteer.id)):
        _on_imported(volunteer)
    db.session.flush()
    return len(lines)


def _on_imported(volunteer: Volunteer) -> None:
    """What follows an imported (approved) archive's creation: the volunteer number, as on approval."""
    volunteer_numbers.assign_number(volunteer)


def _write_records(row: Import, lines: list[Line], account: Account, ctx: Context, now: datetime) -> int:
    for line in lines:
        values = line.values
        activity_id = _imported_activity(ctx, values, account, now)
        record_id = service_records.record_imported(
            activity_id, values["volunteer_id"], values["minutes"], account_id=account.id,
            reason=f"导入：{row.filename} 第 {line.number} 行", now=now)
        db.session.execute(insert(ImportedRecord), [{
            "organization_id": ctx.organization.id, "import_id": row.id, "row_number": line.number,
            "fingerprint": values["fingerprint"], "service_record_id": record_id}])
    return len(lines)


def _imported_activity(ctx: Context, values: dict[str, object], account: Account, now: datetime) -> int:
    """The activity standing for (organisation, activity name, day), made the first time a record names it."""
    key = f"activity:{values['title']}|{values['held_on']}"
    cached = ctx.seen.get(key)
    if cached is not None:
        return cached
    held_on: date = values["held_on"]  # type: ignore[assignment]
    activity_id = db.session.scalar(select(ImportedActivity.activity_id).where(
        ImportedActivity.organization_id == ctx.organization.id, ImportedActivity.title == values["title"],
        ImportedActivity.held_on == held_on))
    if activity_id is None:
        # The day in Shanghai: a past activity whose hours were kept by day, not by the minute.
        starts_at = datetime(held_on.year, held_on.month, held_on.day, tzinfo=SHANGHAI)
        activity = Activity(
            organization_id=ctx.organization.id, region_id=ctx.organization.region_id, title=values["title"],
            description=values["content"] or "", kind=ActivityKind.SERVICE, themes=[],
            address=values["place"] or "（导入的历史活动）", starts_at=starts_at, ends_at=starts_at + timedelta(days=1),
            capacity=1, seats_taken=0, required_skills=[], status=ActivityStatus.FINISHED,
            created_by_account_id=account.id, published_at=starts_at, created_at=now, updated_at=now)
        db.session.add(activity)
        db.session.flush()
        db.session.add(ImportedActivity(organization_id=ctx.organization.id, title=values["title"], held_on=held_on,
                                        activity_id=activity.id))
        db.session.flush()
        activity_id = activity.id
    ctx.seen[key] = activity_id
    return activity_id


# --- claiming an imported archive ----------------------------------------------------------------------


def claimable(mobile: str) -> list[ImportedVolunteer]:
    """Unclaimed imported archives with this mobile number."""
    return list(db.session.scalars(select(ImportedVolunteer).join(Volunteer, Volunteer.id == ImportedVolunteer.volunteer_id)
                                   .where(Volunteer.mobile == mobile, ImportedVolunteer.claimed_at.is_(None),
                                          Volunteer.account_id == ImportedVolunteer.placeholder_account_id)))


def claim(account: Account, mobile: str, *, now: datetime) -> Volunteer:
    """Move the imported archive with this (proven) mobile number to the caller's account, once."""
    if db.session.scalar(select(Volunteer.id).where(Volunteer.account_id == account.id)) is not None:
        raise Conflict("already_registered", "您的微信已有志愿者档案，一人只能有一个档案")
    found = claimable(mobile)
    if not found:
        raise NotFound("no_archive_to_claim", "没有找到用该手机号登记、尚未认领的志愿者档案")
    if len(found) > 1:
        raise Conflict("archive_claim_ambiguous", "该手机号登记了多份档案，请联系所在组织核对后再认领")
    imported = found[0]
    # Conditional on the placeholder still holding it: of two concurrent claims, one moves it.
    moved = db.session.execute(update(Volunteer).where(
        Volunteer.id == imported.volunteer_id, Volunteer.account_id == imported.placeholder_account_id,
    ).values(account_id=account.id, updated_at=now)).rowcount
    if moved != 1:
        raise Conflict("archive_already_claimed", "该档案已被认领")
    db.session.execute(update(ImportedVolunteer).where(ImportedVolunteer.id == imported.id)
                       .values(claimed_by_account_id=account.id, claimed_at=now))
    audit.record(account.id, "volunteer.claimed", "volunteer", imported.volunteer_id, now=now,
                 import_id=imported.import_id)
    volunteer = db.session.get(Volunteer, imported.volunteer_id)
    db.session.refresh(volunteer)
    return volunteer


def template(kind: ImportKind) -> bytes:
    """An empty sheet with the header row of `kind` and one example row, for organisers to fill in."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet("志愿者" if kind is ImportKind.VOLUNTEERS else "服务记录")
    text = book.add_format({"num_format": "@"})
    bold = book.add_format({"bold": True})
    example: Iterable[str] = (("张三", "13800138000", "11010519491231002X", "党员、退休", "医疗、心理咨询", "一社区")
                              if kind is ImportKind.VOLUNTEERS else
                              ("张三", "11010519491231002X", "13800138000", "社区义诊", "2024-03-05", "2.5", "一社区活动室",
                               "为老人量血压"))
    for column, spec in enumerate(COLUMNS[kind]):
        sheet.write_string(0, column, spec.label + ("*" if spec.is_required else ""), bold)
        sheet.set_column(column, column, 18, text)  # text cells: an ID number typed in keeps its 18 digits
    for column, value in enumerate(example):
        sheet.write_string(1, column, value)
    book.close()
    return buffer.getvalue()


def proven_mobile(gateway: WeChatGateway, code: str) -> str:
    """The mainland mobile number a getPhoneNumber code proves; call it before any transaction opens."""
    try:
        phone = gateway.get_user_phone_number(code)
    except WeChatAPIError as exc:
        if exc.errcode in _BAD_PHONE_CODE_ERRCODES:
            raise DomainError("invalid_phone_code", "手机号验证已失效，请重新点击「验证手机号」", 422) from None
        logger.warning("getuserphonenumber failed: %s", exc)
        raise DomainError("wechat_unavailable", "微信服务暂时不可用，请稍后再试", 503) from None
    except WeChatError as exc:
        logger.warning("getuserphonenumber failed: %s", exc)
        raise DomainError("wechat_unavailable", "微信服务暂时不可用，请稍后再试", 503) from None
    if phone.country_code != "86" or not MOBILE.fullmatch(phone.pure_number):
        raise DomainError("phone_not_mainland", "只能用中国大陆手机号认领档案，请联系所在组织", 422)
    return phone.pure_number
