"""The pure parts of bench/harness.py (and loadgen's error log), so the benchmarks cannot silently break."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import harness, loadgen


def test_percentile_is_nearest_rank_and_nan_when_empty():
    seven = [float(v) for v in range(1, 8)]
    assert harness.percentile(seven, 50) == 4.0  # rank ceil(3.5)
    assert harness.percentile(seven, 99) == 7.0
    assert harness.percentile(seven, 0) == 1.0
    assert harness.percentile([7.0], 99) == 7.0
    assert harness.percentile([], 50) != harness.percentile([], 50)  # NaN
    # Where p/100*n is a whole number, round() halves to even: rank 50 of 100 but rank 100 (not 99)
    # for p99. The figures in bench/README.md were measured so; changing it would shift them.
    hundred = [float(v) for v in range(1, 101)]
    assert harness.percentile(hundred, 50) == 50.0
    assert harness.percentile(hundred, 99) == 100.0


def test_latency_summary_in_milliseconds():
    summary = harness.latency_summary([0.001, 0.002, 0.003, 0.010])
    assert list(summary) == ["p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"]
    assert summary["p50_ms"] == pytest.approx(2.0)
    assert summary["p99_ms"] == pytest.approx(10.0)
    assert summary["max_ms"] == pytest.approx(10.0)
    assert summary["mean_ms"] == pytest.approx(4.0)
    empty = harness.latency_summary([])
    assert all(value != value for value in empty.values())  # all NaN, no ZeroDivisionError


@pytest.mark.parametrize(("numerator", "denominator", "expected"), [
    (3.0, 2.0, 1.5), (0.0, 2.0, 0.0), (3.0, 0.0, None), (3.0, -1.0, None), (None, 2.0, None), (3.0, None, None),
])
def test_ratio(numerator, denominator, expected):
    assert harness.ratio(numerator, denominator) == expected


def test_database_urls():
    url = "postgresql+psycopg://bench:secret@db.example:5432/postgres?sslmode=disable"
    assert harness.replace_database(url, "bench_x") == \
        "postgresql+psycopg://bench:secret@db.example:5432/bench_x?sslmode=disable"
    assert harness.replace_database("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", "b") == \
        "postgresql+psycopg://postgres@127.0.0.1:5432/b"
    assert harness.libpq_url(url).startswith("postgresql://bench:secret@db.example:5432/postgres")
    assert harness.mask_url(url) == "postgresql+psycopg://bench:***@db.example:5432/postgres?sslmode=disable"
    assert harness.mask_url("redis://127.0.0.1:6379/9") == "redis://127.0.0.1:6379/9"


def test_gunicorn_command_adds_threads_only_for_gthread():
    sync = harness.gunicorn_command("app:create_app()", 8000, workers=3)
    assert sync[-1] == "app:create_app()"
    assert sync[sync.index("--bind") + 1] == "127.0.0.1:8000"
    assert sync[sync.index("--workers") + 1] == "3"
    assert "--threads" not in sync
    threaded = harness.gunicorn_command("x:y", 1, worker_class="gthread", threads=16, extra=("--backlog", "2048"))
    assert threaded[threaded.index("--threads") + 1] == "16"
    assert threaded[threaded.index("--backlog") + 1] == "2048"
    assert harness.worker_class_label("sync", 4) == "sync"
    assert harness.worker_class_label("gthread", 4) == "gthread --threads 4"


def test_granian_command_calls_a_factory_in_each_worker():
    factory = harness.granian_command("app:create_app()", 8000, workers=2, threads=2)
    assert factory[-1] == "app:create_app" and "--factory" in factory
    assert factory[factory.index("--interface") + 1] == "wsgi"
    assert factory[factory.index("--port") + 1] == "8000"
    assert factory[factory.index("--workers") + 1] == "2"
    assert factory[factory.index("--blocking-threads") + 1] == "2"
    plain = harness.granian_command("bench.peers.checkin_insert:app", 1, extra=("--backlog", "2048"))
    assert plain[-1] == "bench.peers.checkin_insert:app" and "--factory" not in plain
    assert plain[plain.index("--backlog") + 1] == "2048"


def test_app_server_starts_our_app_as_flask_web_and_others_on_the_server_asked(tmp_path, monkeypatch):
    run = harness.Run(tmp_path)
    started = []
    monkeypatch.setattr(run, "spawn", lambda name, cmd, env=None: started.append((name, cmd, env)) or SimpleNamespace())
    run.app_server("ours", harness.WEB_APP, {"X": "1"}, server="granian", workers=2, threads=2)
    run.app_server("peer", "bench.peers.checkin_insert:app", {}, server="granian", workers=2, threads=2)
    run.app_server("ours", harness.WEB_APP, {}, server="gunicorn", workers=3, threads=4)
    (web, web_cmd, web_env), (peer, peer_cmd, _), (old, old_cmd, _) = started
    assert web == "web-ours" and web_cmd[2:4] == ["flask", "web"] and web_env["FLASK_APP"] == "app:create_app"
    assert peer == "granian-peer" and peer_cmd[2] == "granian" and peer_cmd[-1] == "bench.peers.checkin_insert:app"
    assert old == "gunicorn-ours" and old_cmd[2] == "gunicorn" and old_cmd[-1] == harness.WEB_APP
    assert harness.default_threads("granian") == 2 and harness.default_threads("gunicorn") == 4


def test_target_table_prints_lines_and_keeps_checks(capsys):
    table = harness.TargetTable(10, 8, 6)
    table.record("rate", "rate", 1.5, ">= 1", True, target_min=1.0)
    table.record("lost", "lost", 0, "0", True, target=0)
    table.line("info", None, "", None)
    assert capsys.readouterr().out.splitlines() == [
        "  rate          1.50   >= 1  PASS",
        "  lost             0   0     PASS",
        "  info           n/a         ",
    ]
    assert table.checks == {"rate": {"value": 1.5, "target_min": 1.0, "pass": True},
                            "lost": {"value": 0, "target": 0, "pass": True}}
    assert list(table.checks["rate"]) == ["value", "target_min", "pass"]  # the JSON's key order
    assert harness.verdict(False) == "FAIL"


def test_cpu_window_takes_differences_and_flattens_dict_sources():
    readings = iter([1.0, {"postgres": 10.0, "redis": 2.0}, 4.0, {"postgres": 12.5, "redis": 2.0}])
    window = harness.CpuWindow(server=lambda: next(readings), services=lambda: next(readings))
    window.start()
    used = window.stop()
    assert used == {"server": 3.0, "postgres": 2.5, "redis": 0.0}
    window.elapsed = 2.0
    assert window.percent(used) == {"server": 150.0, "postgres": 125.0, "redis": 0.0}


def test_run_cleans_up_last_first_and_past_a_failing_clean_up(tmp_path: Path, capsys):
    done = []
    run = harness.Run(tmp_path)
    run.defer(lambda: done.append("first"))
    run.defer(lambda: 1 / 0)
    run.defer(lambda: done.append("last"))
    run.close()
    run.close()  # nothing twice
    assert done == ["last", "first"]
    assert "clean-up failed" in capsys.readouterr().err


def test_run_main_returns_130_on_interrupt_and_removes_the_temporary_directory(capsys):
    seen: dict[str, Path] = {}
    cleaned = []

    def body(run: harness.Run) -> int:
        seen["tmp"] = run.tmp
        run.defer(lambda: cleaned.append(True))
        (run.tmp / "gunicorn.log").write_text("x")
        raise KeyboardInterrupt

    assert harness.run_main(body, tmp_prefix="bench-test-", keep_tmp=False) == 130
    assert cleaned == [True]
    assert not seen["tmp"].exists()
    assert "interrupted" in capsys.readouterr().err
    assert harness.run_main(lambda run: 0, tmp_prefix="bench-test-", keep_tmp=False) == 0


def test_error_log_keeps_a_few_samples_per_kind():
    one_each = loadgen.ErrorLog(per_kind=1, total=2)
    for kind in ("HTTP 500", "HTTP 500", "TimeoutError", "unexpected body"):
        one_each.add(kind, "some\n  detail")
    assert one_each.count == 4
    assert dict(one_each.kinds) == {"HTTP 500": 2, "TimeoutError": 1, "unexpected body": 1}
    assert one_each.samples == ["HTTP 500: some detail", "TimeoutError: some detail"]
    three = loadgen.ErrorLog(per_kind=3)
    for _ in range(5):
        three.add("HTTP 409", "x")
    assert len(three.samples) == 3
