"""The monthly bulletin: its content on a small tree, freezing, corrections in the next one, idempotency."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.extensions import db
from app.services import bulletins, regions
from app.services.kpi.periods import Period
from models import (ActivityKind, Bulletin, BulletinStatus, Notification, RecordKind, RegionLevel, ServiceRecord,
                    Volunteer)
from tests import factories as f

OCTOBER_FROZEN_AT = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)   # 2 November, 10:00 in Shanghai
NOVEMBER_FROZEN_AT = datetime(2026, 12, 1, 22, 0, tzinfo=timezone.utc)  # 2 December, 06:00 in Shanghai
SEPT = datetime(2026, 9, 10, 2, 0, tzinfo=timezone.utc)
OCT = datetime(2026, 10, 10, 2, 0, tzinfo=timezone.utc)
OCT_2025 = datetime(2025, 10, 10, 2, 0, tzinfo=timezone.utc)


def _volunteer(openid: str, community, approved_at: datetime) -> Volunteer:
    row = f.approved_volunteer(openid, community, approved_at, reviewed_at=approved_at)
    return row


def _record(volunteer: Volunteer, activity, minutes: int, written_at: datetime) -> ServiceRecord:
    row = ServiceRecord(volunteer_id=volunteer.id, activity_id=activity.id, kind=RecordKind.CORRECTION,
                        minutes=minutes, reason="补录", created_at=written_at)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def town(app_context):
    """A district of four streets (one community each, 10 residents), an organisation, its organiser, admins.

    October: 一街道 2 of 10 registered (one served 2 h in two activities held there), 二街道 1, 三街道 none,
    四街道 1 approved in October (none in September: the improver). October 2025: 一街道 had 1.
    """
    city = regions.add_region("C0", "测试市", RegionLevel.CITY, None, 1000)
    district = regions.add_region("D1", "甲区", RegionLevel.DISTRICT, city, 40)
    streets, communities = [], []
    for number, name in enumerate(("一街道", "二街道", "三街道", "四街道"), start=1):
        street = regions.add_region(f"S{number}", name, RegionLevel.STREET, district, 10)
        streets.append(street)
        communities.append(regions.add_region(f"M{number}", f"{name}社区", RegionLevel.COMMUNITY, street, 10))
    org = f.organization("甲区志愿者协会", communities[0], SEPT - timedelta(days=400))
    early = OCT_2025 - timedelta(days=30)
    first = _volunteer("sim_v1", communities[0], early)
    _volunteer("sim_v2", communities[0], SEPT)
    _volunteer("sim_v3", communities[1], SEPT)
    _volunteer("sim_v4", communities[3], OCT)
    held = [f.activity(org, communities[0], OCT + timedelta(days=day), starts_in=timedelta(0)) for day in (0, 3)]
    _record(first, held[0], 60, OCT + timedelta(hours=4))
    _record(first, held[1], 60, OCT + timedelta(days=3, hours=4))
    people = {"district_admin": f.admin("sim_district_admin", district, SEPT),
              "city_admin": f.admin("sim_city_admin", city, SEPT),
              "street_admin": f.admin("sim_street_admin", streets[0], SEPT),
              "organizer": f.organizer("sim_organizer", org, SEPT)}
    db.session.commit()
    return {"city": city, "district": district, "streets": streets, "communities": communities, "org": org,
            "first": first, "held": held, **people}


def _freeze(region, month: str, now: datetime) -> Bulletin:
    with unit_of_work():
        row, _ = bulletins.claim(region.id, Period.parse(month), now=now)
    with unit_of_work():
        bulletins.complete(row.id, now=now)
    return db.session.get(Bulletin, row.id, populate_existing=True)


def _figure(table: dict, key: str) -> dict:
    return next(row for row in table["figures"] if row["key"] == key)


def test_the_content_ranks_flags_and_compares(town):
    row = _freeze(town["district"], "2026-10", OCTOBER_FROZEN_AT)
    assert row.status is BulletinStatus.FROZEN and row.frozen_at == OCTOBER_FROZEN_AT
    content = row.content
    assert content["month"] == "2026-10" and content["title"] == "甲区志愿服务工作月月通报（2026年10月）"
    tables = {table["name"]: table for table in content["children"]}
    assert list(tables) == ["一街道", "二街道", "三街道", "四街道"]

    first = tables["一街道"]
    registration = _figure(first, "registration_rate")
    assert (registration["value"], registration["numerator"], registration["denominator"]) == (20.0, 2, 10)
    assert registration["status"] == "green"
    assert (registration["previous"], registration["mom"]) == (20.0, 0.0)       # September: both registered
    assert (registration["last_year"], registration["yoy"]) == (10.0, 10.0)     # October 2025: one
    assert _figure(first, "station_activity")["status"] == "green"             # two activities held in its community
    assert _figure(first, "recorded_rate")["value"] == 50.0
    assert _figure(tables["二街道"], "registration_rate")["status"] == "yellow"  # 10 %: within 3 points of 13 %
    assert _figure(tables["三街道"], "registration_rate")["status"] == "red"

    # Ties (二街道 and 四街道 score the same) go by registration rate, then region code.
    assert [(item["name"], item["rank"]) for item in content["ranking"]] == [
        ("一街道", 1), ("二街道", 2), ("四街道", 3), ("三街道", 4)]
    # Four children: the bottom three get yellow flags (as the KPI page flags them), the one above a red one.
    assert [item["name"] for item in content["flags"]["red"]] == ["一街道"]
    assert [item["name"] for item in content["flags"]["yellow"]] == ["二街道", "四街道", "三街道"]
    assert tables["三街道"]["flag"] == "yellow" and tables["一街道"]["flag"] == "red"
    # Improvers: score change against September, biggest first; unchanged ones are not listed.
    assert [item["name"] for item in content["improvers"]] == ["一街道", "四街道"]
    assert content["improvers"][1]["previous_score"] == 0.0 and content["improvers"][1]["score_change"] > 0
    assert tables["三街道"]["training"] == {"trained": 0, "units": 1, "status": "red", "untrained": ["三街道"],
                                          "untrained_count": 1}
    assert content["corrections"] is None
    assert "甲区" in content["summary"] and "注册志愿者 4 人" in content["summary"]
    assert row.content_sha256 == bulletins.content_hash(content)


def test_frozen_numbers_never_change_and_the_next_bulletin_lists_the_correction(town):
    october = _freeze(town["district"], "2026-10", OCTOBER_FROZEN_AT)
    frozen, digest = october.content, october.content_sha256
    # After the freeze: a late record for an October activity.
    with unit_of_work():
        _record(town["first"], town["held"][0], 90, OCTOBER_FROZEN_AT + timedelta(days=3))
    again = _freeze(town["district"], "2026-10", OCTOBER_FROZEN_AT + timedelta(days=5))
    assert (again.id, again.content, again.content_sha256) == (october.id, frozen, digest)

    november = _freeze(town["district"], "2026-11", NOVEMBER_FROZEN_AT)
    corrections = november.content["corrections"]
    assert corrections["month"] == "2026-10" and corrections["bulletin_id"] == october.id
    changed = {(item["name"], item["key"]): item for item in corrections["items"]}
    assert set(changed) == {("一街道", "hours_per_volunteer")}
    item = changed[("一街道", "hours_per_volunteer")]
    assert (item["was_numerator"], item["now_numerator"]) == (2.0, 3.5) and (item["was"], item["now"]) == (1.0, 1.75)
    assert "上期数据更正" in november.content["summary"]
    assert db.session.get(Bulletin, october.id).content == frozen


def test_late_records_are_a_data_note(town):
    with unit_of_work():
        _record(town["first"], town["held"][1], 30, datetime(2026, 11, 1, 1, 0, tzinfo=timezone.utc))
    content = _freeze(town["district"], "2026-10", OCTOBER_FROZEN_AT).content
    first = next(t for t in content["children"] if t["name"] == "一街道")
    assert first["late_records"] == {"records": 1, "minutes": 30}
    assert any("月末之后补录" in note and "一街道" in note for note in content["notes"])


def test_a_second_run_does_nothing_and_readers_are_told_once(town):
    first = _freeze(town["district"], "2026-10", OCTOBER_FROZEN_AT)
    told = set(db.session.scalars(select(Notification.account_id).where(Notification.kind == "bulletin_published")))
    assert told == {town["district_admin"].id, town["organizer"].id}
    with unit_of_work():
        row, new = bulletins.claim(town["district"].id, Period.parse("2026-10"), now=OCTOBER_FROZEN_AT)
        assert (row.id, new) == (first.id, False)
    with unit_of_work():
        assert bulletins.complete(first.id, now=OCTOBER_FROZEN_AT) is False
    assert db.session.scalar(select(func.count()).select_from(Bulletin)) == 1
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.kind == "bulletin_published")) == 2


def test_nodes_with_children_and_the_month_due(town, app):
    assert set(bulletins.nodes_with_children()) == {town["city"].id, town["district"].id,
                                                    *(street.id for street in town["streets"])}
    before = datetime(2026, 11, 30, 21, 59, tzinfo=timezone.utc)   # 1 December 05:59 in Shanghai
    after = datetime(2026, 11, 30, 22, 0, tzinfo=timezone.utc)     # 06:00
    assert bulletins.due_month(before).key == "2026-10" and bulletins.due_month(after).key == "2026-11"


def test_the_workbook_opens_with_coloured_cells_and_safe_text(town):
    import io

    import openpyxl

    from app.services.bulletins import xlsx

    row = _freeze(town["district"], "2026-10", OCTOBER_FROZEN_AT)
    content = dict(row.content, summary="=HYPERLINK(\"http://evil\")")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.workbook(content)))
    assert book.sheetnames == ["总览", "排名", "指标明细", "数据更正", "说明"]
    assert book["总览"]["A3"].value.startswith("'=")
    ranking = book["排名"]
    assert [cell.value for cell in ranking[1]][:6] == ["名次", "单位", "综合得分", "较上月", "旗帜", "注册率"]
    assert (ranking["A2"].value, ranking["B2"].value, ranking["E2"].value) == (1, "一街道", "红旗")
    assert ranking["F2"].value == "20.0%" and ranking["F2"].fill.fgColor.rgb.endswith("C6EFCE")   # green
    second = [r for r in ranking.iter_rows(min_row=2) if r[1].value == "二街道"][0]
    assert second[5].fill.fgColor.rgb.endswith("FFEB9C")                                       # yellow
    assert ranking["G2"].fill.fgColor.rgb.endswith("FFC7CE")                                   # red
    assert book["指标明细"].max_row == 1 + 4 * 9


def test_concurrent_freezes_make_one_bulletin_and_tell_once(app, town):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    district_id = town["district"].id
    db.session.remove()
    runs = 4
    barrier = threading.Barrier(runs)

    def freeze_once() -> bool:
        with app.app_context():
            barrier.wait()
            with unit_of_work():
                row, _ = bulletins.claim(district_id, Period.parse("2026-10"), now=OCTOBER_FROZEN_AT)
                bulletin_id = row.id
            with unit_of_work():
                return bulletins.complete(bulletin_id, now=OCTOBER_FROZEN_AT)

    with ThreadPoolExecutor(max_workers=runs) as pool:
        froze = list(pool.map(lambda _: freeze_once(), range(runs)))
    assert froze.count(True) == 1
    assert db.session.scalar(select(func.count()).select_from(Bulletin)) == 1
    assert db.session.scalar(select(Bulletin.status)) is BulletinStatus.FROZEN
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.kind == "bulletin_published")) == 2


def test_claim_due_claims_every_node_once_and_takes_back_failed_claims(town):
    month = Period.parse("2026-11")
    with unit_of_work():
        first = bulletins.claim_due(month, now=NOVEMBER_FROZEN_AT)
    assert len(first) == 6          # the city, the district and its four streets
    with unit_of_work():
        assert bulletins.claim_due(month, now=NOVEMBER_FROZEN_AT) == []
        bulletins.mark_failed(first[0], "boom")
    with unit_of_work():
        assert bulletins.claim_due(month, now=NOVEMBER_FROZEN_AT) == [first[0]]
    # Claims left `generating` by a lost task are taken back once they are stale.
    later = NOVEMBER_FROZEN_AT + bulletins.freeze.STALE_AFTER + timedelta(minutes=1)
    with unit_of_work():
        assert sorted(bulletins.claim_due(month, now=later)) == sorted(first)


def _month_run(monkeypatch, month: str, now: datetime) -> list[int]:
    from app.services.bulletins import tasks

    rendering: list[int] = []
    monkeypatch.setattr(tasks, "render_pdf", rendering.append)
    with unit_of_work():
        bulletins.claim_due(Period.parse(month), now=now)
    frozen = tasks.run_month(month, now=now)
    assert sorted(rendering) == sorted(frozen)          # each PDF queued once, by the run that froze it
    return frozen


def _alone(region, month: str, now: datetime) -> dict:
    """The content one node's own freeze would give (its inputs gathered for its subtree)."""
    from app.services.bulletins import content

    return content.build(region, bulletins.children_of(region), Period.parse(month), now=now)


def test_the_month_freeze_gives_every_node_what_its_own_freeze_gives(town, monkeypatch):
    frozen = _month_run(monkeypatch, "2026-10", OCTOBER_FROZEN_AT)
    rows = db.session.scalars(select(Bulletin).where(Bulletin.month == "2026-10")).all()
    assert sorted(frozen) == sorted(row.id for row in rows) and len(rows) == 6
    for row in rows:
        assert row.status is BulletinStatus.FROZEN and row.frozen_at == OCTOBER_FROZEN_AT
        assert row.content == _alone(regions.get_region(row.region_id), "2026-10", OCTOBER_FROZEN_AT)
    # The corrections of the next month too: a late October record after the freeze.
    with unit_of_work():
        _record(town["first"], town["held"][0], 90, OCTOBER_FROZEN_AT + timedelta(days=3))
    _month_run(monkeypatch, "2026-11", NOVEMBER_FROZEN_AT)
    november = db.session.scalar(select(Bulletin).where(Bulletin.month == "2026-11",
                                                        Bulletin.region_id == town["district"].id))
    assert november.content == _alone(town["district"], "2026-11", NOVEMBER_FROZEN_AT)
    assert {(item["name"], item["key"]) for item in november.content["corrections"]["items"]} == {
        ("一街道", "hours_per_volunteer")}


def test_the_month_freeze_run_twice_freezes_and_tells_once(town, monkeypatch):
    first = _month_run(monkeypatch, "2026-10", OCTOBER_FROZEN_AT)
    told = db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.kind == "bulletin_published"))
    hashes = dict(db.session.execute(select(Bulletin.id, Bulletin.content_sha256)).all())
    assert len(first) == 6 and told > 0
    assert _month_run(monkeypatch, "2026-10", OCTOBER_FROZEN_AT + timedelta(hours=1)) == []
    assert dict(db.session.execute(select(Bulletin.id, Bulletin.content_sha256)).all()) == hashes
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.kind == "bulletin_published")) == told


def test_concurrent_month_freezes_freeze_each_bulletin_once(app, town, monkeypatch):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from app.services.bulletins import tasks

    monkeypatch.setattr(tasks, "render_pdf", lambda bulletin_id: None)
    with unit_of_work():
        bulletins.claim_due(Period.parse("2026-10"), now=OCTOBER_FROZEN_AT)
    db.session.remove()
    runs = 3
    barrier = threading.Barrier(runs)

    def run_once() -> list[int]:
        with app.app_context():
            barrier.wait()
            return tasks.run_month("2026-10", now=OCTOBER_FROZEN_AT)

    with ThreadPoolExecutor(max_workers=runs) as pool:
        results = list(pool.map(lambda _: run_once(), range(runs)))
    frozen = [bulletin_id for result in results for bulletin_id in result]
    assert len(frozen) == len(set(frozen)) == 6                      # each bulletin frozen by exactly one run
    assert db.session.scalar(select(func.count()).select_from(Bulletin)) == 6
    assert set(db.session.scalars(select(Bulletin.status))) == {BulletinStatus.FROZEN}
    expected = sum(len(bulletins.readers_told(regions.get_region(region_id)))        # one per (bulletin, reader)
                   for region_id in db.session.scalars(select(Bulletin.region_id)))
    assert expected > 0 and db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == "bulletin_published")) == expected


def test_one_node_failing_does_not_stop_the_month_and_a_retry_finishes_it(town, monkeypatch):
    from app.services.bulletins import content, tasks

    monkeypatch.setattr(tasks, "render_pdf", lambda bulletin_id: None)
    real_build = content.build
    broken = town["streets"][2].id

    def build(node, *args, **kwargs):
        if node.id == broken:
            raise ZeroDivisionError("boom")
        return real_build(node, *args, **kwargs)

    monkeypatch.setattr(content, "build", build)
    with unit_of_work():
        bulletins.claim_due(Period.parse("2026-10"), now=OCTOBER_FROZEN_AT)
    with pytest.raises(RuntimeError, match="1 bulletin"):
        tasks.run_month("2026-10", now=OCTOBER_FROZEN_AT)
    states = dict(db.session.execute(select(Bulletin.region_id, Bulletin.status)).all())
    assert states.pop(broken) is BulletinStatus.FAILED and set(states.values()) == {BulletinStatus.FROZEN}
    assert "ZeroDivisionError" in db.session.scalar(select(Bulletin.error).where(Bulletin.region_id == broken))
    monkeypatch.setattr(content, "build", real_build)
    retried = tasks.run_month("2026-10", now=OCTOBER_FROZEN_AT)          # Huey's retry: only the failed one is left
    assert len(retried) == 1 and set(db.session.scalars(select(Bulletin.status))) == {BulletinStatus.FROZEN}


def test_a_change_that_rounds_to_zero_prints_plus_zero():
    from app.services.bulletins.content import format_change

    assert format_change(-0.04, "percent") == "+0.0个百分点" and format_change(-0.4, "count") == "+0"
    assert format_change(-0.06, "percent") == "-0.1个百分点" and format_change(2.5, "hours") == "+2.5"
    assert format_change(None, "percent") == "—"


def test_the_summary_of_a_node_ranked_without_flags_reads_as_one_sentence_per_point():
    from types import SimpleNamespace

    from app.services.bulletins import content as contents

    figures = [{"key": "registration_rate", "label": "注册率", "numerator": 85, "value": 0.1, "target": 13.0,
                "mom": 0.0, "yoy": 0.1, "status": "red"},
               {"key": "hours_per_volunteer", "label": "人均服务时长", "numerator": 196, "value": 2.3, "target": 22.9,
                "mom": 0.8, "yoy": 2.3, "status": "green"}]
    # Three children: ranked, but too few for red and yellow flags.
    content = {"total": {"figures": figures}, "ranking": [{"name": "甲社区"}, {"name": "乙社区"}, {"name": "丙社区"}],
               "flags": {"red": [], "yellow": []}, "improvers": [{"name": "乙社区"}], "corrections": None}
    summary = contents._summary(SimpleNamespace(name="解放碑街道"), Period.parse("2026-11"), content)
    assert "。。" not in summary and "；。" not in summary
    assert summary.endswith("注册率未达标。较上月进步最大的是乙社区。")
