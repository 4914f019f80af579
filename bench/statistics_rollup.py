"""Statistics of a region from the rollup vs the direct queries, on the city bench/kpi_data.py generates.

Run from the repository root, on a database bench/kpi.py has generated (and migrated):
  APP_DATABASE__URL=postgresql+psycopg://postgres@127.0.0.1:5432/issue11_bench \\
    .venv/bin/python bench/statistics_rollup.py [--reads 200] [--direct 3] [--past-year 2025]

Prints, for the city, a district, a street and a community (the most populous of each level): the
direct computation's time (`statistics.report`, the current year) and the rollup read's p50/p99
(`statistics.answer`, served from `stat_values`), after checking that both give the same numbers
at the rollup's snapshot; and what the refresh of the live periods costs with and without the
statistics rollup (and, with --past-year, of every period of that year).
"""

from __future__ import annotations

import argparse
import json
import statistics as pystats
import time

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reads", type=int, default=200, help="rollup reads per node (default 200)")
    p.add_argument("--direct", type=int, default=3, help="direct computations per node (default 3)")
    p.add_argument("--past-year", type=int, help="also refresh every period of this year (the nightly's share)")
    args = p.parse_args()

    from app import create_app
    from app.db import unit_of_work
    from app.extensions import db
    from app.services import statistics, workbench
    from app.services.kpi import refresh, stat_rollup
    from app.timeutil import now_utc
    from models import Region, RegionLevel, Volunteer

    out: dict = {}
    app = create_app()
    with app.app_context():
        now = now_utc()
        periods = refresh.live_periods(now)
        with unit_of_work():
            t0 = time.monotonic()
            refresh.refresh(periods, now=now, statistics=False)
            kpi_seconds = time.monotonic() - t0
            # The three live periods share one cap: their statistics are computed together.
            t0 = time.monotonic()
            rows = stat_rollup.refresh_periods(periods, now=now)
            stat_seconds = time.monotonic() - t0
        out["refresh_live"] = {"kpi_seconds": round(kpi_seconds, 2), "statistics_seconds": round(stat_seconds, 2),
                               "statistics_rows": rows, "total_seconds": round(kpi_seconds + stat_seconds, 2)}
        if args.past_year:
            past = refresh.all_periods_of_years(args.past_year)
            with unit_of_work():
                t0 = time.monotonic()
                refresh.refresh(past, now=now, statistics=False)
                kpi_seconds = time.monotonic() - t0
                t0 = time.monotonic()
                rows = stat_rollup.refresh_periods(past, now=now)
                out["refresh_past_year"] = {"kpi_seconds": round(kpi_seconds, 2),
                                            "statistics_seconds": round(time.monotonic() - t0, 2), "rows": rows}
        db.session.commit()

        nodes = {}
        for level in (RegionLevel.CITY, RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY):
            nodes[level.value] = _largest(db, Region, Volunteer, level)
        year = statistics.window(None, None, now=now)
        for name, region in nodes.items():
            where = workbench.Scope("region", region, is_admin=True)
            served = statistics.answer(where, year)
            assert served.source == "rollup", name
            direct_times = []
            for _ in range(args.direct):
                t0 = time.monotonic()
                direct = statistics.report(where, statistics.window(None, None, now=served.as_of))
                direct_times.append(time.monotonic() - t0)
                db.session.rollback()
            equal = direct == served.breakdowns
            read_times = []
            for _ in range(args.reads):
                t0 = time.monotonic()
                statistics.answer(where, year)
                read_times.append(time.monotonic() - t0)
                db.session.rollback()
            read_times.sort()
            out[name] = {"region": region.name, "direct_s": round(min(direct_times), 3),
                         "rollup_p50_ms": round(1000 * pystats.median(read_times), 1),
                         "rollup_p99_ms": round(1000 * read_times[int(0.99 * (len(read_times) - 1))], 1),
                         "equal": equal}
    print(json.dumps(out, ensure_ascii=False, indent=1))


def _largest(db, Region, Volunteer, level):
    """The region of the level whose subtree has the most residents (the slowest to compute directly)."""
    from sqlalchemy import func, select
    counts = dict(db.session.execute(select(Volunteer.region_id, func.count()).group_by(Volunteer.region_id)).all())
    regions = db.session.scalars(select(Region).where(Region.level == level)).all()
    paths = dict(db.session.execute(select(Region.id, Region.path)).all())

    def residents(region):
        return sum(n for r, n in counts.items() if paths.get(r, "").startswith(region.path))
    return max(regions, key=residents)


if __name__ == "__main__":
    main()
