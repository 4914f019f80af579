"""The city `bench/kpi.py` measures: generated with PostgreSQL COPY, kept between runs.

At scale 1.0: a city of 10 districts, 100 streets and 1,000 communities (resident populations of
3,000–15,000, about 9 million in all, per year in `region_populations`), ~2,000 organisations with
~4,000 teams of every kind, 1,000,000 volunteers (each with an account), 200,000 activities from
2024-01-01 to a month after the generation (themes, trainings, festival-day campaigns) and about
10,000,000 service records (attendance written directly, as a check-out would, plus ~1 %
corrections). `scale` multiplies the volunteers, populations, organisations, activities and records;
the region tree stays the same.

Everything is drawn from one seeded `random.Random`, so a given (scale, seed, day) gives the same
city. What makes the figures realistic rather than uniform:

- each community has a "vitality" (0.3–2.0) that scales its registration rate, the number of
  activities placed in it and how often its volunteers serve, so some nodes are green and some red;
- volunteers: 91 % approved, 2 % suspended, 3 % pending, 1 % rejected, 3 % deleted (anonymised,
  their account `deleted:<id>`, their records kept); 85 % self-registered, 10 % by an organiser,
  5 % imported (when `volunteers.registration_channel` exists); ages 16–80 with categories that
  follow the age; 1 % live at a street node rather than a community; registrations since 2018;
- 30 % of the registered never serve; the others serve with a log-normal weight times their
  community's vitality; a volunteer serves at activities of their street (70 %), district (20 %) or
  anywhere in the city (10 %), only between their approval and their deletion or suspension;
- activities: 85 % in a community, 10 % at a street, 4 % in a district, 1 % city-wide; 6 % are
  trainings (by professional teams when the organisation has one); 8 % fall on a festival day and
  three quarters of those are linked to the festival's campaign (city-wide and one per district per
  festival and year); 6 % cancelled and 2 % withdrawn, a few stale drafts, future ones published;
- records: one attendance per participant (minutes ≈ the activity's length ± 30), written at the
  check-out, 3 % of them days later (the activity's date is the one that counts); ~1 % corrections
  (a partial or full take-back, or minutes added), written 1–20 days later;
- populations: communities have a figure for every year; streets for 2024 and 2025 only (so 2026
  falls back to 2025); districts only `regions.population`; the city neither (the sum of its
  children); two communities have no figure at all; three communities are retired.

Only rows the KPIs read are generated: no sign-ups, check-ins or scans (attendance records carry
no check-in; `bench/checkin.py` measures the scan path).
"""

from __future__ import annotations

import bisect
import io
import json
import math
import random
import time
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

SHANGHAI_OFFSET = 8 * 3600
FIRST_DAY = date(2024, 1, 1)
FUTURE_DAYS = 30
CHUNK_ROWS = 20_000
META_TABLE = "bench_kpi_meta"

DISTRICT_NAMES = ["滨江", "临湖", "东城", "西山", "南湾", "北岭", "新港", "云溪", "青石", "金台"]
PLACE_WORDS = "安和平康乐福祥瑞兴华明光阳春秋景泰宁盛德仁义礼信文武昌荣丰茂清源永新长泽海林松竹梅兰桂荷柳桥湖"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲芬燕彬斌宇浩凯鹏飞欣怡子涵梓轩雨"
CARE_MINIMUMS = {"空巢老人": 2, "留守儿童": 2, "困难职工": 2, "残疾人": 2, "党员": 2,
                 "文明旅游": 1, "文明交通": 1, "文明上网": 1}
OTHER_THEMES = ["助老助残", "环境保护", "医疗健康", "法律援助", "应急救援", "文化体育", "科普教育", "社区治理"]
PROFESSIONAL_KINDS = ["education", "culture_sports", "science", "medical", "legal", "fire", "environment",
                      "social_work", "charity", "traffic", "finance"]
KIND_NAMES = {"general": "综合", "education": "教育", "culture_sports": "文体", "science": "科技", "medical": "医疗",
              "legal": "法律", "fire": "消防", "environment": "环保", "social_work": "社工", "charity": "慈善",
              "traffic": "交通", "finance": "财务"}
ORG_KINDS = ["social", "government", "enterprise", "school", "community", "other"]
SKILLS = ["急救", "摄影", "驾驶", "法律咨询", "心理疏导", "外语", "书法", "电脑维修", "理发", "护理"]

# The tables the generator fills (in COPY order); every other application table is emptied.
LOADED = ["regions", "accounts", "region_populations", "organizations", "teams", "campaigns", "activities",
          "service_records", "volunteers"]


def ts(epoch: int) -> str:
    """A UTC timestamp as COPY text."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")


def local_midnight(day: date) -> int:
    """Epoch seconds of a Shanghai midnight."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()) - SHANGHAI_OFFSET


def copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


class Copier:
    """Rows into one table through COPY … FROM STDIN (text format), sent in chunks."""

    def __init__(self, conn: Any, table: str, columns: list[str], timings: dict[str, float], counts: dict[str, int]):
        self.conn, self.table, self.columns = conn, table, columns
        self.timings, self.counts = timings, counts
        self.lines: list[str] = []
        self.rows = 0

    def __enter__(self) -> Copier:
        self.cursor = self.conn.cursor()
        self._cm = self.cursor.copy(f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN")
        self.copy = self._cm.__enter__()
        return self

    def row(self, values: tuple | list) -> None:
        self.lines.append("\t".join(map(copy_text, values)))
        if len(self.lines) >= CHUNK_ROWS:
            self.flush()

    def line(self, text: str) -> None:
        """A line already in COPY text format (no newline)."""
        self.lines.append(text)
        if len(self.lines) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            t0 = time.monotonic()
            self.copy.write(("\n".join(self.lines) + "\n").encode())
            self.timings["copy_write_s"] = self.timings.get("copy_write_s", 0.0) + time.monotonic() - t0
            self.rows += len(self.lines)
            self.lines = []

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.flush()
        t0 = time.monotonic()
        self._cm.__exit__(*exc)
        self.timings["copy_write_s"] = self.timings.get("copy_write_s", 0.0) + time.monotonic() - t0
        self.cursor.close()
        self.counts[self.table] = self.counts.get(self.table, 0) + self.rows


# ---------------------------------------------------------------------------------------------
# Indexes and constraints around the load


@dataclass
class SavedDdl:
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)   # (table, name, definition)
    unique_constraints: list[tuple[str, str, str]] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)                        # CREATE INDEX statements


def drop_secondary(conn: Any, tables: list[str], *, indexes: bool = True) -> SavedDdl:
    """Drop the foreign keys from and to `tables` and (with `indexes`) their unique constraints and
    their other non-primary indexes; return what is needed to recreate them."""
    saved = SavedDdl()
    rows = conn.execute(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "WHERE c.contype = 'f' AND (c.conrelid::regclass::text = ANY(%(t)s) OR c.confrelid::regclass::text = ANY(%(t)s))",
        {"t": tables}).fetchall()
    for table, name, definition in rows:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        saved.foreign_keys.append((table, name, definition))
    if not indexes:
        return saved
    rows = conn.execute(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "WHERE c.contype = 'u' AND c.conrelid::regclass::text = ANY(%(t)s)", {"t": tables}).fetchall()
    for table, name, definition in rows:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        saved.unique_constraints.append((table, name, definition))
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%(t)s) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)", {"t": tables}).fetchall()
    for name, definition in rows:
        conn.execute(f"DROP INDEX {name}")
        saved.indexes.append(definition)
    return saved


def recreate_secondary(conn: Any, saved: SavedDdl, log: Callable[[str], None]) -> dict[str, float]:
    """Indexes, then unique constraints, then foreign keys (validated); seconds of each step."""
    times: dict[str, float] = {}
    t0 = time.monotonic()
    for statement in saved.indexes:
        conn.execute(statement)
    times["indexes_s"] = time.monotonic() - t0
    t0 = time.monotonic()
    for table, name, definition in saved.unique_constraints:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    times["unique_constraints_s"] = time.monotonic() - t0
    t0 = time.monotonic()
    for table, name, definition in saved.foreign_keys:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    times["foreign_keys_s"] = time.monotonic() - t0
    log(f"  recreated {len(saved.indexes)} indexes ({times['indexes_s']:.1f} s), "
        f"{len(saved.unique_constraints)} unique constraints ({times['unique_constraints_s']:.1f} s), "
        f"{len(saved.foreign_keys)} foreign keys ({times['foreign_keys_s']:.1f} s)")
    return times


# ---------------------------------------------------------------------------------------------
# The generator


@dataclass
class City:
    """What the measurements need to know about the generated city."""

    city_id: int
    districts: list[int]
    streets: list[int]
    communities: list[int]
    volunteers: int
    activities: int
    service_records: int


def festival_days(years: list[int]) -> list[tuple[str, str, date, str, str]]:
    """(key, name, day, theme, lead) of the built-in festival days of the years (the app's calendar)."""
    from app.services import calendar

    out = []
    for year in years:
        for f in calendar.built_in_days(year):
            out.append((f.key, f.name, f.day, f.theme, f.lead))
    return out


def generate(conn: Any, *, scale: float, seed: int, now: datetime, drop_indexes: bool,
             log: Callable[[str], None]) -> dict[str, Any]:
    """Empty the application's tables and fill them; return timings and counts."""
    rng = random.Random(seed)
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    t_start = time.monotonic()
    now_epoch = int(now.timestamp())
    today = (now + timedelta(hours=8)).date()
    has_channel = bool(conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'volunteers' "
        "AND column_name = 'registration_channel'").fetchone())

    tables = [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('alembic_version', %s)",
        (META_TABLE,)).fetchall()]
    conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    conn.execute("SET maintenance_work_mem = '512MB'")
    # The rows go in an order foreign keys would refuse (records before their volunteers, who carry the
    # records' totals), so the foreign keys are always dropped and recreated (validated) at the end.
    t0 = time.monotonic()
    saved = drop_secondary(conn, LOADED, indexes=drop_indexes)
    timings["drop_s"] = time.monotonic() - t0
    # One transaction from the TRUNCATE to the recreated constraints: a run that fails or is
    # interrupted leaves the database as it was, indexes and foreign keys included.

    # -- regions ---------------------------------------------------------------------------------
    t0 = time.monotonic()
    region_rows: list[tuple] = []
    level_of: dict[int, str] = {}
    parent_of: dict[int, int | None] = {}
    name_of: dict[int, str] = {}
    next_id = iter(range(1, 10_000))

    def word(n: int) -> str:
        return "".join(rng.choice(PLACE_WORDS) for _ in range(n))

    def add_region(level: str, parent: int | None, name: str, path_parent: str) -> tuple[int, str]:
        rid = next(next_id)
        path = f"{path_parent}{rid}/"
        level_of[rid], parent_of[rid], name_of[rid] = level, parent, name
        region_rows.append([rid, f"BK{rid:05d}", name, level, parent, path, None, None, None])
        return rid, path

    city_id, city_path = add_region("city", None, "基准市", "/")
    districts, streets, communities = [], [], []
    street_of_community: dict[int, int] = {}
    district_of: dict[int, int] = {}
    used_names: set[str] = set()
    for d in range(10):
        did, dpath = add_region("district", city_id, f"{DISTRICT_NAMES[d]}区", city_path)
        districts.append(did)
        district_of[did] = did
        for s in range(10):
            while (sname := word(2) + "街道") in used_names:
                pass
            used_names.add(sname)
            sid, spath = add_region("street", did, sname, dpath)
            streets.append(sid)
            district_of[sid] = did
            for c in range(10):
                while (cname := word(2) + "社区") in used_names:
                    pass
                used_names.add(cname)
                cid, _ = add_region("community", sid, cname, spath)
                communities.append(cid)
                street_of_community[cid] = sid
                district_of[cid] = did
    vitality = {cid: rng.uniform(0.3, 2.0) for cid in communities}
    population = {cid: max(1, int(rng.randint(3000, 15000) * scale)) for cid in communities}
    no_figure = set(rng.sample(communities, 2))
    retired = set(rng.sample([c for c in communities if c not in no_figure], 3))
    retired_at = ts(local_midnight(date(2025, 7, 1)))
    years = [2024, 2025, 2026]
    growth = {2024: 0.98, 2025: 0.99, 2026: 1.0}
    row_of = {row[0]: row for row in region_rows}
    pop_rows: list[tuple] = []
    updated = ts(local_midnight(date(2024, 3, 1)))
    for cid in communities:
        if cid in no_figure:
            continue
        row_of[cid][6] = population[cid]
        for y in years:
            pop_rows.append((cid, y, int(population[cid] * growth[y]), updated))
    for sid in streets:
        children = [c for c in communities if street_of_community[c] == sid and c not in no_figure]
        for y in (2024, 2025):
            figure = int(sum(population[c] * growth[y] for c in children) * rng.uniform(0.97, 1.05))
            pop_rows.append((sid, y, figure, updated))
        row_of[sid][6] = int(sum(population[c] for c in children) * rng.uniform(0.97, 1.05))
    for did in districts:
        row_of[did][6] = int(sum(population[c] for c in communities if district_of[c] == did) * rng.uniform(0.98, 1.03))
    for cid in retired:
        row_of[cid][7], row_of[cid][8] = retired_at, "与相邻社区合并"
    with Copier(conn, "regions", ["id", "code", "name", "level", "parent_id", "path", "population", "retired_at",
                                  "retired_reason"], timings, counts) as cp:
        for row in region_rows:
            cp.row(row)
    with Copier(conn, "region_populations", ["region_id", "year", "population", "updated_at"], timings, counts) as cp:
        for row in pop_rows:
            cp.row(row)
    timings["regions_s"] = time.monotonic() - t0

    # -- volunteers (attributes first: the records need them; rows written last, with totals) -----
    t0 = time.monotonic()
    n_vol = max(1000, int(1_000_000 * scale))
    rates = {cid: population[cid] * min(0.25, 0.075 * vitality[cid] + 0.035) for cid in communities}
    total_rate = sum(rates.values())
    home = array("i", [0]) * (n_vol + 1)
    # A volunteer at community index k: build the list of homes by quota, then shuffle.
    homes: list[int] = []
    for cid in communities:
        homes.extend([cid] * int(round(rates[cid] / total_rate * n_vol * 0.99)))
    while len(homes) < n_vol:
        homes.append(rng.choice(streets))  # ~1 % live at a street node
    homes = homes[:n_vol]
    rng.shuffle(homes)
    status = bytearray(n_vol + 1)          # A approved, S suspended, P pending, R rejected, D deleted
    reg = array("q", [0]) * (n_vol + 1)   # approval (reviewed_at, else created_at), epoch
    created = array("q", [0]) * (n_vol + 1)
    until = array("q", [0]) * (n_vol + 1)  # serves until (deletion or suspension), epoch
    weight = array("d", [0.0]) * (n_vol + 1)
    reg_start = local_midnight(date(2018, 1, 1))
    span = now_epoch - 3 * 86400 - reg_start
    for v in range(1, n_vol + 1):
        home[v] = homes[v - 1]
        r = rng.random()
        s = "A" if r < 0.91 else "S" if r < 0.93 else "P" if r < 0.96 else "R" if r < 0.97 else "D"
        status[v] = ord(s)
        if s == "P":
            c = now_epoch - rng.randint(3600, 60 * 86400)
        else:
            c = reg_start + int(span * math.sqrt(rng.random()))  # more registrations in recent years
        created[v] = c
        reg[v] = c + rng.randint(600, 3 * 86400) if s != "P" else 0
        if s in "ASD":
            until[v] = now_epoch + 10 * 86400
            if s in "SD":
                until[v] = reg[v] + int((now_epoch - reg[v]) * rng.uniform(0.3, 1.0))
            comm = home[v] if level_of[home[v]] == "community" else None
            if rng.random() >= 0.30:
                weight[v] = rng.lognormvariate(0.0, 1.0) * (vitality[comm] if comm else 1.0)
    timings["volunteer_attributes_s"] = time.monotonic() - t0

    # -- organisations and teams ---------------------------------------------------------------------
    t0 = time.monotonic()
    n_org = max(60, int(2000 * scale))
    org_rows, team_rows = [], []
    orgs_at: dict[int, list[int]] = {}
    teams_of: dict[int, list[tuple[int, str]]] = {}
    approved_at_org: dict[int, int] = {}
    for oid in range(1, n_org + 1):
        r = rng.random()
        region = (rng.choice(communities) if r < 0.55 else rng.choice(streets) if r < 0.85
                  else rng.choice(districts) if r < 0.97 else city_id)
        st = rng.random()
        ostatus = "approved" if st < 0.95 else "pending" if st < 0.98 else "rejected"
        created_at = reg_start + rng.randint(0, now_epoch - reg_start - 200 * 86400)
        kind = rng.choice(ORG_KINDS)
        org_rows.append((oid, f"{name_of[region]}{word(2)}志愿服务{'队' if kind == 'community' else '协会'}{oid}",
                         region, ostatus, None, ts(created_at + 86400) if ostatus == "approved" else None,
                         "材料不全" if ostatus == "rejected" else None, ts(created_at), None, kind,
                         rng.choice(SURNAMES) + rng.choice(GIVEN), f"138{rng.randint(0, 99_999_999):08d}",
                         f"{name_of[region]}{rng.randint(1, 300)}号", None, None))
        if ostatus == "approved":
            orgs_at.setdefault(region, []).append(oid)
            approved_at_org[oid] = created_at
        for t in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))):
            tkind = "general" if (t == 0 and rng.random() < 0.6) or rng.random() < 0.2 else rng.choice(PROFESSIONAL_KINDS)
            tid = len(team_rows) + 1
            team_rows.append((tid, oid, f"{KIND_NAMES[tkind]}服务{t + 1}队", tkind, rng.choice(("open", "approval")),
                              ts(created_at + 2 * 86400)))
            teams_of.setdefault(oid, []).append((tid, tkind))
    with Copier(conn, "organizations", ["id", "name", "region_id", "status", "approved_by_account_id", "approved_at",
                                        "rejection_reason", "created_at", "credit_code", "kind", "contact_name",
                                        "contact_mobile", "address", "description", "applicant_account_id"],
                timings, counts) as cp:
        for row in org_rows:
            cp.row(row)
    with Copier(conn, "teams", ["id", "organization_id", "name", "kind", "join_mode", "created_at"],
                timings, counts) as cp:
        for row in team_rows:
            cp.row(row)

    # -- campaigns: city-wide and one per district, per festival and year ---------------------------
    last_day = today + timedelta(days=FUTURE_DAYS)
    festivals = [f for f in festival_days(list(range(FIRST_DAY.year, last_day.year + 1)))
                 if FIRST_DAY <= f[2] <= last_day]
    campaign_rows = []
    campaign_of: dict[tuple[str, int, int], int] = {}
    for key, fname, day, theme, lead in festivals:
        for region in [city_id, *districts]:
            cid_ = len(campaign_rows) + 1
            campaign_of[(key, day.year, region)] = cid_
            campaign_rows.append((cid_, key, day.year, fname[:60], day.isoformat(), None, region, theme[:100], lead,
                                  "planned", True, None, ts(local_midnight(day) - 20 * 86400)))
    with Copier(conn, "campaigns", ["id", "festival_key", "year", "name", "day", "organization_id", "region_id",
                                    "theme", "lead", "status", "automatic", "created_by_account_id", "created_at"],
                timings, counts) as cp:
        for row in campaign_rows:
            cp.row(row)
    timings["organisations_s"] = time.monotonic() - t0

    # -- pools of serving volunteers: per street, district and the city ------------------------------
    t0 = time.monotonic()
    pool_members: dict[int, list[int]] = {}
    for v in range(1, n_vol + 1):
        if weight[v] > 0:
            h = home[v]
            street = h if level_of[h] == "street" else street_of_community[h]
            pool_members.setdefault(street, []).append(v)
    pools: dict[int, tuple[list[int], list[float]]] = {}

    def make_pool(members: list[int]) -> tuple[list[int], list[float]]:
        cum, total = [], 0.0
        for v in members:
            total += weight[v]
            cum.append(total)
        return members, cum

    for sid in streets:
        pools[sid] = make_pool(pool_members.get(sid, []))
    for did in districts:
        pools[did] = make_pool([v for sid in streets if parent_of[sid] == did for v in pool_members.get(sid, [])])
    pools[city_id] = make_pool([v for sid in streets for v in pool_members.get(sid, [])])
    timings["pools_s"] = time.monotonic() - t0

    # -- activities and service records ----------------------------------------------------------
    t0 = time.monotonic()
    n_act = max(2000, int(200_000 * scale))
    first = local_midnight(FIRST_DAY)
    last = local_midnight(last_day)
    comm_cum, total = [], 0.0
    for cid in communities:
        total += vitality[cid] * (0.0 if cid in retired else 1.0)
        comm_cum.append(total)
    totals_minutes = array("q", [0]) * (n_vol + 1)
    totals_records = array("i", [0]) * (n_vol + 1)
    care = list(CARE_MINIMUMS)
    act_cols = ["id", "organization_id", "team_id", "region_id", "title", "description", "kind", "themes", "address",
                "starts_at", "ends_at", "capacity", "seats_taken", "signup_mode", "required_skills", "risk_level",
                "requires_insurance", "credit_margin_minutes", "campaign_id", "status", "evaluation", "published_at",
                "cancelled_at", "created_at", "updated_at"]
    rec_cols = ["id", "volunteer_id", "activity_id", "kind", "minutes", "corrects_record_id", "reason", "created_at",
                "confirmed_at"]
    record_id = 0
    steer, target_records = 1.0, 9_900_000 * scale  # attendance; the corrections add ~1 %
    corrections: list[tuple] = []
    held_count = 0
    activity_rows: list[tuple] = []  # one COPY at a time on a connection: the activities go after the records
    with Copier(conn, "service_records", rec_cols, timings, counts) as recs:
        for aid in range(1, n_act + 1):
            r = rng.random()
            if r < 0.85:
                region = communities[bisect.bisect_left(comm_cum, rng.random() * comm_cum[-1])]
            elif r < 0.95:
                region = rng.choice(streets)
            elif r < 0.99:
                region = rng.choice(districts)
            else:
                region = city_id
            # The organisation: one at the place, else one above it.
            org = None
            node: int | None = region
            while node is not None:
                here = orgs_at.get(node)
                if here and (rng.random() < 0.6 or parent_of[node] is None):
                    org = rng.choice(here)
                    break
                node = parent_of[node]
            if org is None:
                org = rng.choice(orgs_at[rng.choice(list(orgs_at))])
            is_training = rng.random() < 0.06
            team = None
            org_teams = teams_of.get(org, [])
            if org_teams and rng.random() < 0.85:
                pro = [t for t in org_teams if t[1] != "general"]
                team = rng.choice(pro if is_training and pro else org_teams)[0]
            # The date: a festival day for 8 %, else any day; daytime in Shanghai.
            campaign = None
            if rng.random() < 0.08 and festivals:
                key, fname, day, theme, _ = rng.choice(festivals)
                start = local_midnight(day) + rng.choice((8, 9, 9, 10, 14, 15)) * 3600
                if rng.random() < 0.75:
                    campaign = campaign_of[(key, day.year, city_id if region == city_id else district_of[region])]
                title_head = fname[:8]
            else:
                day_start = first + rng.randrange((last - first) // 86400) * 86400
                start = day_start + rng.randint(8 * 2, 19 * 2) * 1800
                title_head = ""
            duration = rng.choice((60, 90, 120, 120, 150, 180, 180, 240))
            end = start + duration * 60
            themes = [rng.choice(care) if rng.random() < 0.45 else rng.choice(OTHER_THEMES)]
            if rng.random() < 0.3:
                themes.append(rng.choice(care + OTHER_THEMES))
            themes = list(dict.fromkeys(themes))
            if start < now_epoch:
                q = rng.random()
                astatus = ("finished" if q < 0.62 else "evaluated" if q < 0.87 else "cancelled" if q < 0.93
                           else "withdrawn" if q < 0.95 else "draft" if q < 0.96 else "finished")
                if end > now_epoch and astatus in ("finished", "evaluated"):
                    astatus = "ongoing"
            else:
                q = rng.random()
                astatus = "published" if q < 0.85 else "draft" if q < 0.95 else "cancelled"
            held = astatus not in ("draft", "withdrawn", "cancelled") and start < now_epoch
            participants: list[int] = []
            if held and end <= now_epoch:
                held_count += 1
                # The size of the crowd, steered so the city ends near 10,000,000 records × scale whatever
                # the pools' sizes (small pools repeat people, who count once).
                if aid % 500 == 0 and record_id:
                    steer = min(1.25, max(0.8, steer * target_records * aid / n_act / record_id))
                k = min(400, max(3, int(rng.lognormvariate(4.3, 0.7) * steer)))
                r = rng.random()
                level = level_of[region]
                if region == city_id or r >= 0.9:
                    pool_node = city_id           # anyone in the city
                elif r >= 0.7 or level == "district":
                    pool_node = district_of[region]
                else:                             # the activity's own street
                    pool_node = region if level == "street" else street_of_community[region]
                members, cum = pools[pool_node]
                if members:
                    seen = set()
                    for v in rng.choices(members, cum_weights=cum, k=k):
                        if v in seen or reg[v] > start or until[v] < start:
                            continue
                        seen.add(v)
                        participants.append(v)
            seats = len(participants)
            capacity = max(seats, 1) + rng.randint(0, 20)
            created_at = start - rng.randint(3, 30) * 86400
            evaluation = rng.choice(("excellent", "qualified", "qualified")) if astatus == "evaluated" else None
            activity_rows.append((aid, org, team, region, f"{title_head}{themes[0]}{'培训' if is_training else '志愿服务'}"[:60],
                      "", "training" if is_training else "service", json.dumps(themes, ensure_ascii=False),
                      f"{name_of[region]}服务站", ts(start), ts(end), capacity, seats,
                      "open" if rng.random() < 0.8 else "approval", "[]", "low", False, 30, campaign, astatus,
                      evaluation, None if astatus == "draft" else ts(created_at + 3600),
                      ts(start - 86400) if astatus == "cancelled" else None, ts(created_at), ts(created_at)))
            if participants:
                written = ts(end + 600)
                end_s, aid_s = ts(end + 600), str(aid)
                for v in participants:
                    record_id += 1
                    minutes = max(15, duration + rng.randint(-6, 6) * 5)
                    late = rng.random() < 0.03
                    when = ts(end + rng.randint(1, 40) * 86400) if late else written
                    recs.line(f"{record_id}\t{v}\t{aid_s}\tattendance\t{minutes}\t\\N\t\\N\t{when}\t{end_s}")
                    totals_minutes[v] += minutes
                    totals_records[v] += 1
                    if rng.random() < 0.01:
                        corrections.append((record_id, v, aid, minutes, end))
        # Corrections after the attendance they correct (ids follow the attendance records).
        for attendance_id, v, aid, minutes, end in corrections:
            record_id += 1
            q = rng.random()
            if q < 0.55:
                delta, reason = -rng.randint(1, max(1, min(minutes, 90) // 15)) * 15, "签退时间有误，按实际服务时间核减"
            elif q < 0.65:
                delta, reason = -minutes, "未实际参加，撤销本次服务时长"
            else:
                delta, reason = rng.randint(1, 8) * 15, "提前到场布置，补记服务时长"
            when = ts(end + rng.randint(1, 20) * 86400)
            recs.line(f"{record_id}\t{v}\t{aid}\tcorrection\t{delta}\t{attendance_id}\t{reason}\t{when}\t{when}")
            totals_minutes[v] += delta
    with Copier(conn, "activities", act_cols, timings, counts) as acts:
        for row in activity_rows:
            acts.row(row)
    del activity_rows
    timings["activities_and_records_s"] = time.monotonic() - t0

    # -- accounts and volunteers ---------------------------------------------------------------------
    t0 = time.monotonic()
    with Copier(conn, "accounts", ["id", "mp_openid", "created_at", "last_login_at", "token_generation",
                                   "deleted_at"], timings, counts) as cp:
        for v in range(1, n_vol + 1):
            c = ts(created[v] - 300)
            if status[v] == ord("D"):
                cp.line(f"{v}\tdeleted:{v}\t{c}\t{ts(until[v])}\t1\t{ts(until[v])}")
            else:
                cp.line(f"{v}\tbk_{v:07d}\t{c}\t{c}\t0\t\\N")
    vol_cols = ["id", "account_id", "real_name", "mobile", "mobile_last4", "gender", "birth_date", "categories",
                "skills", "region_id", "status", "rejection_reason", "suspension_reason", "suspended_at",
                "reviewed_at", "created_at", "updated_at", "checkin_secret", "total_service_minutes",
                "service_record_count"] + (["registration_channel"] if has_channel else [])
    status_names = {ord("A"): "approved", ord("S"): "suspended", ord("P"): "pending", ord("R"): "rejected",
                    ord("D"): "deleted"}
    this_year = today.year
    with Copier(conn, "volunteers", vol_cols, timings, counts) as cp:
        for v in range(1, n_vol + 1):
            s = status_names[status[v]]
            female = rng.random() < 0.58
            r = rng.random()
            age = (rng.randint(16, 22) if r < 0.18 else rng.randint(23, 45) if r < 0.55
                   else rng.randint(46, 59) if r < 0.75 else rng.randint(60, 80))
            birth = date(this_year - age, rng.randint(1, 12), rng.randint(1, 28)).isoformat()
            cats = []
            if age <= 22:
                cats.append("student")
            elif age <= 35:
                cats.append("youth")
            if age >= 60:
                cats.append("retiree")
            if rng.random() < 0.18:
                cats.append("party_member")
            if female and rng.random() < 0.2:
                cats.append("women")
            if 23 <= age < 60 and rng.random() < 0.35:
                cats.append("worker")
            if rng.random() < 0.3:
                cats.append("community")
            if rng.random() < 0.05:
                cats.append("professional")
            if not cats:
                cats.append("other")
            skills = rng.sample(SKILLS, rng.choice((0, 0, 0, 1, 1, 2)))
            reviewed = ts(reg[v]) if s != "pending" else None
            c = ts(created[v])
            ch = rng.random()
            channel = "self" if ch < 0.85 else "organizer" if ch < 0.95 else "import"
            if s == "deleted":
                row = [v, v, "已注销志愿者", None, None, None, None, "[]", "[]", home[v], s, None, None, None,
                       reviewed, c, ts(until[v]), None, totals_minutes[v], totals_records[v]]
            else:
                mobile = f"1{rng.choice('3578')}{rng.randint(0, 999_999_999):09d}"
                row = [v, v, rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else ""),
                       mobile, mobile[-4:], "female" if female else "male", birth,
                       json.dumps(cats), json.dumps(skills, ensure_ascii=False), home[v], s,
                       "信息不完整" if s == "rejected" else None,
                       "多次报名未到" if s == "suspended" else None, ts(until[v]) if s == "suspended" else None,
                       reviewed, c, ts(until[v] if s == "suspended" else reg[v] or created[v]), None,
                       totals_minutes[v], totals_records[v]]
            if has_channel:
                row.append(channel)
            cp.row(row)
    timings["accounts_and_volunteers_s"] = time.monotonic() - t0
    timings["generate_and_copy_s"] = time.monotonic() - t_start

    t0 = time.monotonic()
    timings.update(recreate_secondary(conn, saved, log))
    for table in LOADED:
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
    conn.commit()
    timings["constraints_s"] = time.monotonic() - t0
    t0 = time.monotonic()
    autocommit = conn.autocommit
    conn.autocommit = True
    for table in LOADED:
        conn.execute(f"VACUUM ANALYZE {table}")
    conn.autocommit = autocommit
    timings["vacuum_analyze_s"] = time.monotonic() - t0
    timings["total_s"] = time.monotonic() - t_start
    return {"timings": timings, "counts": counts, "registration_channel_written": has_channel,
            "held_activities_with_records": held_count}
