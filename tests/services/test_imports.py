"""Imports: the preview's results by row, one commit, re-imports that change nothing, claims, and bad files."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db, settings
from app.services import imports
from models import (Account, Activity, ActivityStatus, ImportedVolunteer, ImportKind, RecordSource, RegistrationChannel,
                    ServiceRecord, Signup, Volunteer, VolunteerStatus)
from tests import factories as f
from tests.xlsx_files import (IDS, RECORD_HEADER, VOLUNTEER_HEADER, billion_laughs, million_empty_rows, raw_sheet,
                              sheet_xml, xlsx, zip_bomb)


@pytest.fixture
def key(app_context):
    return settings()["app"]["pii_key"]


def upload(world, data, kind=ImportKind.VOLUNTEERS, *, key, who=None, now=None):
    return imports.upload(who or world.organizer, world.org.id, kind, data, filename="名册.xlsx",
                          now=now or world.now, pii_key=key)


def commit(world, row, *, key, skip_problems=False, who=None):
    return imports.commit_import(who or world.organizer, row.id, skip_problems=skip_problems, now=world.now, pii_key=key)


def refused(code, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


ROSTER = [
    VOLUNTEER_HEADER,
    ("王芳", "13900000001", IDS[1], "党员、退休", "医疗、心理咨询", "一社区"),
    ("李强", 13900000002, None, "青年", None, "二社区"),
]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_clean_roster_previews_as_new_and_writes_approved_imported_archives_once(world, key):
    data = xlsx(ROSTER)
    row = upload(world, data, key=key)
    assert row.summary | {"listed": None} == {"rows": 2, "new": 2, "existing": 0, "problems": 0, "listed": None,
                                              "is_truncated": False, "same_file_committed_at": None}
    assert count(Volunteer) == 0  # a preview writes nothing but itself

    committed = commit(world, row, key=key)
    assert committed.outcome == {"written": 2, "existing": 0, "skipped": 0}
    wang = db.session.scalar(select(Volunteer).where(Volunteer.real_name == "王芳"))
    assert wang.status is VolunteerStatus.APPROVED and wang.registration_channel is RegistrationChannel.IMPORT
    assert wang.mobile_last4 == "0001" and wang.birth_date == date(1990, 3, 7)
    assert wang.categories == ["party_member", "retiree"] and wang.skills == ["医疗", "心理咨询"]
    assert wang.region_id == world.tree["community"].id
    li = db.session.scalar(select(Volunteer).where(Volunteer.real_name == "李强"))
    assert li.mobile == "13900000002" and li.id_number_digest is None and li.region_id == world.tree["community2"].id
    # Approved on import, so numbered as on approval: their community's code and a sequence.
    assert wang.volunteer_number and li.volunteer_number and wang.volunteer_number != li.volunteer_number
    assert wang.volunteer_number.startswith(world.tree["community"].code)
    placeholder = db.session.get(Account, wang.account_id)
    assert placeholder.disabled_at is not None and placeholder.mp_openid.startswith("imported:")

    refused("import_already_committed", commit, world, committed, key=key)
    again = upload(world, data, key=key)
    assert again.id != row.id and again.summary["same_file_committed_at"] is not None
    assert (again.summary["new"], again.summary["existing"]) == (0, 2)
    assert {(r["row"], r["matched_by"]) for r in again.summary["listed"]} == {(2, "id_number"), (3, "mobile")}
    assert commit(world, again, key=key).outcome == {"written": 0, "existing": 2, "skipped": 0}
    assert count(Volunteer) == 2


def test_the_same_file_uploaded_twice_before_commit_is_one_preview(world, key):
    data = xlsx(ROSTER)
    first = upload(world, data, key=key)
    assert upload(world, data, key=key).id == first.id


def test_every_problem_is_listed_by_row_and_column(world, key):
    alice = world.alice
    rows = [
        ("志愿者名册（2024 年）",),                      # a title above the header is allowed
        VOLUNTEER_HEADER,
        ("好人", "13900000001", None, None, None, "一社区"),
        ("", "1390000", "110101199003070135", "火星人", None, "不存在社区"),
        ("重复", "13900000001", None, None, None, "一社区"),
        ("身份证数字", "13900000004", 110101199003074477, None, None, "一社区"),
        ("爱丽丝", alice.mobile, None, None, None, "一社区"),
        ("他人", "13900000006", IDS[1], None, None, "一社区"),
        ("冒名", alice.mobile, IDS[3], None, None, "一社区"),
    ]
    alice.id_number_digest = "x" * 64
    row = upload(world, xlsx(rows), key=key)
    listed = {r["row"]: r for r in row.summary["listed"]}
    assert (row.summary["rows"], row.summary["new"], row.summary["existing"], row.summary["problems"]) == (7, 2, 1, 4)
    assert {p["column"] for p in listed[4]["problems"]} == {"姓名", "手机号", "身份证号", "类别", "所在社区"}
    assert listed[5]["problems"] == [{"column": "手机号", "message": "与第 3 行的手机号重复"}]
    assert "文本" in listed[6]["problems"][0]["message"]  # an 18-digit number lost its last digits
    assert listed[7] == {"row": 7, "result": "existing", "volunteer_id": alice.id, "matched_by": "mobile"}
    assert listed[9]["problems"][0]["column"] == "手机号"  # alice's mobile, someone else's ID number
    assert 8 not in listed  # IDS[1] is new here: row 8 is fine

    refused("import_has_problems", commit, world, row, key=key)
    assert count(Volunteer) == 1
    assert commit(world, row, key=key, skip_problems=True).outcome == {"written": 2, "existing": 1, "skipped": 4}
    assert count(Volunteer) == 3


def test_only_those_overseeing_the_organisation_import(world, key):
    refused("not_organizer_or_admin", upload, world, xlsx(ROSTER), key=key, who=world.other_organizer)
    row = upload(world, xlsx(ROSTER), key=key, who=world.admin)  # the district's admin
    refused("import_not_found", commit, world, row, key=key, who=world.other_organizer)
    refused("import_not_found", imports.get, world.other_admin, row.id)


# --- past records ----------------------------------------------------------------------------------


@pytest.fixture
def roll(world, key):
    commit(world, upload(world, xlsx(ROSTER), key=key), key=key)
    return {v.real_name: v for v in db.session.scalars(select(Volunteer))}


def records_file(*rows):
    return xlsx([RECORD_HEADER, *rows])


def test_past_records_are_written_with_source_import_and_a_second_import_writes_nothing(world, key, roll):
    rows = [("王芳", IDS[1], None, "社区义诊", "2024-03-05", 2.5, "一社区活动室", "量血压"),
            ("李强", None, "13900000002", "社区义诊", 45356, "3", None, None),          # Excel's serial day of 2024-03-05
            ("王芳", None, "13900000001", "敬老院探访", "2024年5月1日", "1.5", None, None)]
    row = upload(world, records_file(*rows), ImportKind.RECORDS, key=key)
    assert (row.summary["new"], row.summary["problems"]) == (3, 0), row.summary["listed"]
    assert commit(world, row, key=key).outcome == {"written": 3, "existing": 0, "skipped": 0}

    records = db.session.scalars(select(ServiceRecord).order_by(ServiceRecord.id)).all()
    assert [(r.source, r.minutes) for r in records] == [(RecordSource.IMPORT, 150), (RecordSource.IMPORT, 180),
                                                        (RecordSource.IMPORT, 90)]
    assert records[0].activity_id == records[1].activity_id != records[2].activity_id  # one activity per name and day
    activity = db.session.get(Activity, records[0].activity_id)
    assert activity.status is ActivityStatus.FINISHED and activity.organization_id == world.org.id
    assert activity.address == "一社区活动室"
    wang = roll["王芳"]
    db.session.refresh(wang)
    assert (wang.total_service_minutes, wang.service_record_count) == (240, 2)
    assert db.session.scalar(select(func.sum(Signup.service_minutes)).where(Signup.volunteer_id == wang.id)) == 240

    again = upload(world, records_file(*rows, ("李强", None, "13900000002", "敬老院探访", "2024-05-01", 1, None, None)),
                   ImportKind.RECORDS, key=key)
    assert (again.summary["new"], again.summary["existing"]) == (1, 3)
    assert commit(world, again, key=key).outcome == {"written": 1, "existing": 3, "skipped": 0}
    assert count(ServiceRecord) == 4 and count(Activity) == 2


def test_record_problems_by_row(world, key, roll):
    tomorrow = (world.now + timedelta(days=2)).date().isoformat()
    rows = [("王芳", IDS[1], None, "义诊", "2024-03-05", 2, None, None),
            ("王芳", IDS[1], None, "义诊", "2024-03-05", 2, None, None),    # the same row again
            ("王小芳", IDS[1], None, "义诊", "2024-03-06", 2, None, None),  # another name
            ("赵六", IDS[2], None, "义诊", "2024-03-05", 2, None, None),    # nobody with that ID
            ("李强", None, None, "义诊", tomorrow, 25, None, None),
            ("李强", None, "13900000002", "", "三月五日", "两小时", None, None)]
    row = upload(world, records_file(*rows), ImportKind.RECORDS, key=key)
    listed = {r["row"]: {p["column"] for p in r["problems"]} for r in row.summary["listed"]}
    assert listed == {3: {"服务时长（小时）"}, 4: {"姓名"}, 5: {"身份证号"},
                      6: {"身份证号", "服务日期", "服务时长（小时）"}, 7: {"活动名称", "服务日期", "服务时长（小时）"}}


# --- claiming an archive ---------------------------------------------------------------------------------


def test_an_imported_archive_moves_to_the_person_who_proves_its_mobile_once(world, key, roll):
    newcomer = f.account("sim_wang", world.now)
    volunteer = imports.claim(newcomer, "13900000001", now=world.now)
    assert volunteer.id == roll["王芳"].id and volunteer.account_id == newcomer.id
    claimed = db.session.scalar(select(ImportedVolunteer).where(ImportedVolunteer.volunteer_id == volunteer.id))
    assert claimed.claimed_by_account_id == newcomer.id and claimed.claimed_at == world.now

    refused("already_registered", imports.claim, newcomer, "13900000002", now=world.now)   # one person, one archive
    refused("no_archive_to_claim", imports.claim, f.account("sim_thief", world.now), "13900000001", now=world.now)
    refused("already_registered", imports.claim, world.alice.account, "13900000002", now=world.now)


def test_two_archives_with_one_mobile_are_not_guessed_between(world, key, roll):
    other = roll["李强"]
    other.mobile = "13900000001"
    db.session.flush()
    refused("archive_claim_ambiguous", imports.claim, f.account("sim_who", world.now), "13900000001", now=world.now)


# --- files that are not what they claim ------------------------------------------------------------------


@pytest.mark.parametrize(("data", "code"), [
    ("姓名,手机号\n张三,13900000001\n".encode(), "import_not_xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "import_not_xlsx"),           # an old .xls
    (raw_sheet("<worksheet><sheetData><row>"), "import_not_xlsx"),                      # cut short
    (billion_laughs(), "import_not_xlsx"),
    (xlsx([("手机号", "社区")]), "import_missing_columns"),
    (xlsx([("姓名", "手机号")]), "import_missing_columns"),
    (xlsx([VOLUNTEER_HEADER + ("备注",)]), "import_unknown_columns"),
    (xlsx([VOLUNTEER_HEADER + ("手机",)]), "import_duplicate_columns"),
    (xlsx([VOLUNTEER_HEADER]), "import_empty"),
    (b"", "import_empty"),
], ids=["csv", "xls", "truncated", "entities", "no-header", "missing", "unknown", "twice", "header-only", "empty"])
def test_malformed_files_are_refused_with_a_clear_code(world, key, data, code):
    error = refused(code, upload, world, data, key=key)
    assert error.status == 422 and error.message


def test_a_zip_bomb_is_refused_before_it_is_inflated(world, key):
    assert refused("import_file_too_large", upload, world, zip_bomb(), key=key).status == 413


def test_a_sheet_of_a_million_empty_rows_is_refused_without_reading_them_all(world, key):
    assert "空行" in refused("import_too_many_rows", upload, world, million_empty_rows(), key=key).message


def test_formula_cells_are_named(world, key):
    data = xlsx(ROSTER, formulas=[(1, 4, "=UPPER(A2)"), (2, 4, "=A3")])
    error = refused("import_formulas", upload, world, data, key=key)
    assert "E2、E3" in error.message and error.context == {"cells": ["E2", "E3"]}


def test_a_stray_empty_row_far_below_is_harmless(world, key):
    rows = ('<row r="1"><c r="A1" t="inlineStr"><is><t>姓名</t></is></c><c r="B1" t="inlineStr"><is><t>手机号</t></is></c>'
            '<c r="C1" t="inlineStr"><is><t>所在社区</t></is></c></row>'
            '<row r="2"><c r="A2" t="inlineStr"><is><t>张三</t></is></c><c r="B2"><v>13900000009</v></c>'
            '<c r="C2" t="inlineStr"><is><t>一社区</t></is></c></row><row r="1048576"/>')
    assert upload(world, raw_sheet(sheet_xml(rows)), key=key).summary["new"] == 1
