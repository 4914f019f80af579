"""Import of N volunteers from XLSX on PostgreSQL: time and peak memory of the preview and of the commit.

    .venv/bin/python bench/imports.py [N] [--server-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates a throwaway database, migrates it, makes a city with 100 communities and an organisation,
writes an XLSX of N volunteers (name, mobile, a valid ID number for every one, categories, skills,
community), then, in a fresh child process each (so its peak memory is its own), uploads it (the
preview: read, check, look every row up) and commits it (read again and write) exactly as the API
does (`imports.upload`, `imports.commit_import`, one transaction). It does the same first with a file
a tenth the size: if memory is constant, the two peaks are about equal. The issue's target:
10,000 volunteers in < 60 s with constant memory.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The same app and the same memory measure as the export benchmark.
from bench.exports import _app, _peak_rss_mb  # noqa: E402
from bench.harness import Run, run_main, seed_region_chain  # noqa: E402


def setup(url: str, scratch: str) -> tuple[int, int]:
    from flask_migrate import upgrade

    from app.db import unit_of_work
    from app.extensions import db
    from app.services import regions, roles
    from app.timeutil import now_utc
    from models import Account, Organization, OrganizationStatus, RegionLevel, Role

    app = _app(url, scratch)
    with app.app_context():
        upgrade()
        now = now_utc()
        with unit_of_work():
            _, district, street, _ = seed_region_chain("B", "", (10_000_000, 5_000_000, 1_000_000, 10_000))
            for i in range(1, 101):
                regions.add_region(f"BC{i}", f"第{i}社区", RegionLevel.COMMUNITY, street, 10_000)
            org = Organization(name="基准区志愿者协会", region_id=district.id, status=OrganizationStatus.APPROVED,
                               created_at=now)
            organizer = Account(mp_openid="bench_organizer", created_at=now, last_login_at=now)
            db.session.add_all([org, organizer])
            db.session.flush()
            roles.grant(organizer.id, Role.ORGANIZER, organization_id=org.id, now=now)
            return organizer.id, org.id


def _resident_id(n: int) -> str:
    from app.resident_id import check_character

    first17 = f"110105{1950 + n % 50}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + check_character(first17)


def roster(count: int, offset: int) -> bytes:
    """An XLSX of `count` volunteers, numbered from `offset` (mobiles and ID numbers unique across files)."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ("姓名", "手机号", "身份证号", "类别", "特长技能", "所在社区"))
    for i in range(count):
        n = offset + i
        # ID numbers repeat every 50 × 12 × 28 × 1000 people: far more than a bench file holds.
        sheet.write_row(i + 1, 0, (f"志愿者{n}", f"139{n:08d}", _resident_id(n), "青年、党员" if n % 3 else "退休",
                                   "急救" if n % 2 else "", f"第{1 + n % 100}社区"))
    book.close()
    return buffer.getvalue()


def run_import(url: str, scratch: str, organizer_id: int, org_id: int, data: bytes, answer) -> None:
    from app.db import unit_of_work
    from app.extensions import db, settings
    from app.services import imports
    from app.timeutil import now_utc
    from models import Account, ImportKind

    app = _app(url, scratch)
    with app.app_context():
        key = settings()["app"]["pii_key"]
        baseline = _peak_rss_mb()
        cpu = time.process_time()
        started = time.perf_counter()
        with unit_of_work():
            row = imports.upload(db.session.get(Account, organizer_id), org_id, ImportKind.VOLUNTEERS, data,
                                 filename="bench.xlsx", now=now_utc(), pii_key=key)
            import_id, summary = row.id, dict(row.summary)
        preview_seconds = time.perf_counter() - started
        preview_peak = _peak_rss_mb()
        started = time.perf_counter()
        with unit_of_work():
            outcome = dict(imports.commit_import(db.session.get(Account, organizer_id), import_id, skip_problems=False,
                                                 now=now_utc(), pii_key=key).outcome)
        commit_seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        answer.put({"preview_seconds": preview_seconds, "commit_seconds": commit_seconds, "summary": summary,
                    "outcome": outcome, "cpu_seconds": cpu, "baseline_rss_mb": baseline, "preview_peak_mb": preview_peak,
                    "commit_peak_mb": _peak_rss_mb()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--server-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    return run_main(lambda run: measure(run, args.count, args.server_url), tmp_prefix="bench-imports-", keep_tmp=False)


def measure(run: Run, count: int, server_url: str) -> int:
    url = run.throwaway_database(server_url, "bench_imports")
    scratch = str(run.tmp)
    organizer_id, org_id = setup(url, scratch)
    small = max(count // 10, 1)
    results = {}
    for size, offset in ((small, 0), (count, 10_000_000)):
        started = time.perf_counter()
        data = roster(size, offset)
        print(f"wrote an XLSX of {size:,} volunteers ({len(data) / 1e6:.2f} MB) in {time.perf_counter() - started:.1f} s")
        context = multiprocessing.get_context("spawn")
        answer = context.Queue()
        child = context.Process(target=run_import, args=(url, scratch, organizer_id, org_id, data, answer))
        child.start()
        result = answer.get()
        child.join()
        results[size] = result
        summary = result["summary"]
        print(f"  preview: {summary['rows']:,} rows ({summary['new']:,} new, {summary['problems']} with problems) "
              f"in {result['preview_seconds']:.1f} s; commit: {result['outcome']} in "
              f"{result['commit_seconds']:.1f} s; total {result['preview_seconds'] + result['commit_seconds']:.1f} s "
              f"({result['cpu_seconds']:.1f} s of it the importing process's CPU; the rest is the database "
              "and waiting for a CPU on a busy machine)")
        print(f"  peak RSS: {result['baseline_rss_mb']:.0f} MB before, {result['preview_peak_mb']:.0f} MB after "
              f"the preview, {result['commit_peak_mb']:.0f} MB after the commit")
    large = results[count]
    total = large["preview_seconds"] + large["commit_seconds"]
    growth = large["commit_peak_mb"] - results[small]["commit_peak_mb"]
    allowed = 60 * count / 10_000
    print(f"target (10,000 volunteers < 60 s; here < {allowed:.0f} s): time {'PASS' if total < allowed else 'FAIL'} "
          f"({total:.1f} s); memory {growth:+.0f} MB from {small:,} to {count:,} rows "
          f"({'PASS' if growth < 50 else 'FAIL'}: constant within 50 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
