"""The KPIs of one node and period computed independently, in SQL over the raw tables.

Written from the definitions in docs/ARCHITECTURE.md ("Statistics: KPIs and rollups", the lead's
decisions), not from the app's code: the subtree is a `LIKE '<path>%'` over the regions, every
figure is one query for the node alone (no rollup up the tree), the periods and populations are
computed here. `bench/kpi.py` compares these figures with what `GET /api/v1/kpis` shows.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

SHANGHAI = timezone(timedelta(hours=8))
NOT_HELD = ("draft", "withdrawn", "cancelled")
CARE_MINIMUMS = {"空巢老人": 2, "留守儿童": 2, "困难职工": 2, "残疾人": 2, "党员": 2,
                 "文明旅游": 1, "文明交通": 1, "文明上网": 1}
ALL_LEVELS = ("city", "district", "street", "community")
UPPER_LEVELS = ("city", "district", "street")
LEVELS = {"registration_rate": ALL_LEVELS, "recorded_rate": ALL_LEVELS, "hours_per_volunteer": ALL_LEVELS,
          "station_activity": ALL_LEVELS, "care_themes": UPPER_LEVELS, "professional_team_kinds": UPPER_LEVELS,
          "festival_campaigns": UPPER_LEVELS, "quarterly_training": UPPER_LEVELS,
          "self_registration_rate": ALL_LEVELS}


def _midnight(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=SHANGHAI).astimezone(timezone.utc)


class Window:
    """A period from its key: `2026-11`, `2026-Q4`, `2026`; bounds are Shanghai midnights."""

    def __init__(self, key: str):
        m = re.fullmatch(r"(\d{4})(?:-(\d{2})|-Q([1-4]))?", key)
        if not m:
            raise ValueError(key)
        self.key, self.year = key, int(m.group(1))
        if m.group(2):
            self.first_month, self.months = int(m.group(2)), 1
        elif m.group(3):
            self.first_month, self.months = 3 * int(m.group(3)) - 2, 3
        else:
            self.first_month, self.months = 1, 12
        self.start = _midnight(self.year, self.first_month)
        self.end = _midnight(self.year, self.first_month + self.months)
        self.year_start = _midnight(self.year, 1)

    def cap(self, now: datetime) -> datetime:
        return max(self.start, min(self.end, now))

    def quarters(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """[start, cap) of each quarter of the period that has begun (a month: its quarter)."""
        first_q = (self.first_month - 1) // 3
        count = max(self.months // 3, 1)
        out = []
        for q in range(first_q, first_q + count):
            start, end = _midnight(self.year, 3 * q + 1), _midnight(self.year, 3 * q + 4)
            if start <= now:
                out.append((start, min(end, now)))
        return out


def populations(conn: Any, year: int) -> dict[int, int | None]:
    """Every region's resident population for the year: its own figure for the latest year ≤ year,
    else regions.population, else the sum of its children's."""
    rows = conn.execute("SELECT id, parent_id, population FROM regions").fetchall()
    own = {rid: pop for rid, _, pop in rows}
    children: dict[int, list[int]] = {}
    for rid, parent, _ in rows:
        if parent is not None:
            children.setdefault(parent, []).append(rid)
    yearly = dict(conn.execute(
        "SELECT DISTINCT ON (region_id) region_id, population FROM region_populations WHERE year <= %s "
        "ORDER BY region_id, year DESC", (year,)).fetchall())
    memo: dict[int, int | None] = {}

    def pop(rid: int) -> int | None:
        if rid not in memo:
            if rid in yearly:
                memo[rid] = yearly[rid]
            elif own[rid] is not None:
                memo[rid] = own[rid]
            else:
                parts = [p for p in (pop(c) for c in children.get(rid, [])) if p]
                memo[rid] = sum(parts) if parts else None
        return memo[rid]

    for rid in sorted(own, key=lambda r: -len(children.get(r, []))):
        pop(rid)
    return {rid: pop(rid) for rid in own}


def expected(conn: Any, region_id: int, period_key: str, now: datetime,
             population_cache: dict[int, dict[int, int | None]]) -> dict[str, dict[str, Any]]:
    """{key: {numerator, denominator, value, details...}} for the node and period at `now`."""
    path, level = conn.execute("SELECT path, level FROM regions WHERE id = %s", (region_id,)).fetchone()
    w = Window(period_key)
    cap = w.cap(now)
    p = {"p": path + "%", "cap": cap, "ys": w.year_start, "ps": w.start, "not_held": list(NOT_HELD)}
    registered, self_registered, recorded, minutes = conn.execute("""
        WITH reg AS (
            SELECT v.id, v.registration_channel FROM volunteers v JOIN regions r ON r.id = v.region_id
            WHERE r.path LIKE %(p)s AND v.status IN ('approved', 'suspended')
              AND coalesce(v.reviewed_at, v.created_at) < %(cap)s),
        net AS (
            SELECT s.volunteer_id, sum(s.minutes) AS m
            FROM reg JOIN service_records s ON s.volunteer_id = reg.id JOIN activities a ON a.id = s.activity_id
            WHERE a.status <> ALL(%(not_held)s) AND a.starts_at >= %(ys)s AND a.starts_at < %(cap)s
            GROUP BY s.volunteer_id)
        SELECT (SELECT count(*) FROM reg), (SELECT count(*) FROM reg WHERE registration_channel = 'self'),
               (SELECT count(*) FROM net WHERE m > 0), (SELECT coalesce(sum(m), 0)::bigint FROM net WHERE m > 0)
        """, p).fetchone()
    if w.year not in population_cache:
        population_cache[w.year] = populations(conn, w.year)
    population = population_cache[w.year][region_id] or 0
    active, stations = conn.execute("""
        SELECT count(*) FILTER (WHERE held >= %(need)s), count(*) FROM (
            SELECT (SELECT count(*) FROM activities a WHERE a.region_id = c.id AND a.status <> ALL(%(not_held)s)
                      AND a.starts_at >= %(ps)s AND a.starts_at < %(cap)s) AS held
            FROM regions c WHERE c.path LIKE %(p)s AND c.level = 'community' AND c.retired_at IS NULL) s
        """, {**p, "need": 2 * w.months}).fetchone()
    held_ytd = ("FROM activities a JOIN regions r ON r.id = a.region_id WHERE r.path LIKE %(p)s "
                "AND a.status <> ALL(%(not_held)s) AND a.starts_at >= %(ys)s AND a.starts_at < %(cap)s")
    themes = dict(conn.execute(
        f"SELECT t, count(*) {held_ytd.replace('FROM activities a', 'FROM activities a CROSS JOIN unnest(%(themes)s::text[]) t', 1)} "
        "AND a.themes::jsonb ? t GROUP BY t", {**p, "themes": list(CARE_MINIMUMS)}).fetchall())
    themes = {t: themes.get(t, 0) for t in CARE_MINIMUMS}
    kinds = sorted(r[0] for r in conn.execute(
        f"SELECT DISTINCT tm.kind {held_ytd.replace('WHERE', 'JOIN teams tm ON tm.id = a.team_id WHERE', 1)} "
        "AND tm.kind <> 'general'", p).fetchall())
    festivals = sorted(r[0] for r in conn.execute(
        f"SELECT DISTINCT c.festival_key {held_ytd.replace('WHERE', 'JOIN campaigns c ON c.id = a.campaign_id WHERE', 1)}",
        p).fetchall())
    # Units of the quarterly training: professional teams of approved organisations placed in the
    # subtree, and the streets of the subtree.
    teams = {r[0] for r in conn.execute(
        "SELECT t.id FROM teams t JOIN organizations o ON o.id = t.organization_id JOIN regions r ON r.id = o.region_id "
        "WHERE t.kind <> 'general' AND o.status = 'approved' AND r.path LIKE %(p)s", p).fetchall()}
    streets = dict(conn.execute("SELECT id, path FROM regions WHERE level = 'street' AND path LIKE %(p)s", p).fetchall())
    quarters = w.quarters(now)
    trained_teams, trained_streets = set(teams), set(streets)
    for q_start, q_cap in quarters:
        q = {"qs": q_start, "qc": q_cap, "not_held": list(NOT_HELD)}
        trained_teams &= {r[0] for r in conn.execute(
            "SELECT DISTINCT team_id FROM activities WHERE kind = 'training' AND team_id IS NOT NULL "
            "AND status <> ALL(%(not_held)s) AND starts_at >= %(qs)s AND starts_at < %(qc)s", q).fetchall()}
        trained_streets &= {r[0] for r in conn.execute(
            "SELECT DISTINCT s.id FROM regions s JOIN regions r ON r.path LIKE s.path || '%%' "
            "JOIN activities a ON a.region_id = r.id WHERE s.level = 'street' AND a.kind = 'training' "
            "AND a.status <> ALL(%(not_held)s) AND a.starts_at >= %(qs)s AND a.starts_at < %(qc)s", q).fetchall()}
    units = len(teams) + len(streets) if quarters else 0
    trained = len(trained_teams) + len(trained_streets) if quarters else 0
    care_met = sum(themes[t] >= m for t, m in CARE_MINIMUMS.items())

    def pct(n: int, d: int) -> float | None:
        return round(100 * n / d, 2) if d else None

    figures = {
        "registration_rate": (registered, population, pct(registered, population), {}),
        "recorded_rate": (recorded, registered, pct(recorded, registered), {}),
        "hours_per_volunteer": (minutes, registered, round(minutes / 60 / registered, 2) if registered else None,
                                {"minutes": minutes}),
        "station_activity": (active, stations, pct(active, stations), {}),
        "care_themes": (care_met, len(CARE_MINIMUMS), pct(care_met, len(CARE_MINIMUMS)), {"themes": themes}),
        "professional_team_kinds": (len(kinds), 1, float(len(kinds)), {"kinds": kinds}),
        "festival_campaigns": (len(festivals), 1, float(len(festivals)), {"festivals": festivals}),
        "quarterly_training": (trained, units, pct(trained, units), {}),
        "self_registration_rate": (self_registered, registered, pct(self_registered, registered), {}),
    }
    out = {}
    for key, (numerator, denominator, value, details) in figures.items():
        applies = level in LEVELS[key]
        out[key] = {"numerator": numerator, "denominator": denominator, "value": value if applies else None,
                    "details": details, "applies": applies}
    return out


def compare(api_figures: list[dict[str, Any]], want: dict[str, dict[str, Any]]) -> list[str]:
    """What differs between the API's figures and the SQL's (empty: equal)."""
    problems = []
    shown = {f["key"]: f for f in api_figures}
    for key, w in want.items():
        f = shown.get(key)
        if f is None:
            problems.append(f"{key}: missing from the API")
            continue
        if f["value"] != w["value"]:
            problems.append(f"{key}: value {f['value']} != {w['value']}")
        if not w["applies"]:
            continue
        numerator = f["details"].get("minutes") if key == "hours_per_volunteer" else f["numerator"]
        if numerator != w["numerator"] or f["denominator"] != w["denominator"]:
            problems.append(f"{key}: {numerator}/{f['denominator']} != {w['numerator']}/{w['denominator']}")
        for name, value in w["details"].items():
            got = f["details"].get(name)
            if isinstance(value, list):
                got = sorted(got or [])
            if got != value:
                problems.append(f"{key}: details.{name} {got} != {value}")
    return problems
