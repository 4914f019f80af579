"""What every benchmark in bench/ needs, each piece once.

A benchmark is a command-line script that starts real processes (gunicorn, the simulator, workers,
redis-server) against a throwaway database, measures, prints its settings, a table of figures and
its targets, and may write the same as JSON. The pieces:

- the frame of a run: `run_main` gives the script's body a `Run`: a temporary directory (configs,
  logs), Ctrl-C and SIGTERM raised as KeyboardInterrupt (exit code 130), and clean-ups done at the
  end, last registered first, whatever happened: processes stopped, databases dropped, Redis flushed;
- the service's set-up: `official_token`, `app_environment` (a copy of config.example.toml and the
  APP_* variables), `migrate` (`flask db upgrade`), `seed_region_chain`, `code_fingerprint`;
- PostgreSQL: `Run.throwaway_database` (made next to a maintenance database, dropped at the end),
  `libpq_url`, `replace_database`, `mask_url`;
- Redis: `Run.shared_redis` (a DB index of a running server, flushed before and after) and
  `Run.redis_server` (a redis-server of its own on a free port, no persistence);
- processes: `Run.spawn` / `Run.gunicorn` (a `Proc`: own session, log file in the run's directory,
  CPU, stop, kill), `free_port`, `wait_ready` with `check_answer`, `http_request`, `http_json`,
  `ForkedCall` (a function in a forked child process, e.g. a load generator, its answer over a pipe);
- CPU from /proc: `pid_cpu_seconds`, `machine_cpu_seconds`, `service_cpu_seconds` (PostgreSQL,
  redis-server), `self_cpu_seconds`, `children_cpu_seconds`, `CpuWindow`, `wait_until_quiet`;
- figures: `percentile`, `latency_summary`, `ratio`;
- output: `log`, `print_settings`, `print_header`, `TargetTable`, `write_json`, and the shared
  command-line options (`add_*_option`).

Run a script from the repository root; it puts the root on sys.path before importing this module.
bench/README.md ("The harness") shows how a new benchmark uses it.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 30.0
DISTURBED_OTHER_CPU_PERCENT = 25.0  # others' CPU above this in a window: someone else ran (redis ~15 %)
DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"  # maintenance DB: create/drop
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class SetupError(Exception):
    """The benchmark could not be set up: a database, a migration or a process did not come up."""


def log(message: str) -> None:
    """Print a progress line at once (the output may be a pipe)."""
    print(message, flush=True)


# ---------------------------------------------------------------------------------------------
# The frame of a run


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def install_interrupt_handlers() -> None:
    """Turn SIGTERM and SIGINT (even when started with SIGINT ignored) into KeyboardInterrupt."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


class Run:
    """One benchmark run: its temporary directory and what to clean up at the end, last first."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self._cleanups: list[Callable[[], None]] = []

    def defer(self, cleanup: Callable[[], None]) -> None:
        """Call `cleanup` at the end of the run (also on errors and Ctrl-C), before earlier ones."""
        self._cleanups.append(cleanup)

    def close(self) -> None:
        """Do the clean-ups, last registered first; one that fails does not stop the others."""
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001 - clean up the rest regardless
                print(f"note: clean-up failed: {exc}", file=sys.stderr)

    def spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Proc:
        """Start `cmd` as a `Proc` logging to <tmp>/<name>.log; it is stopped at the end of the run."""
        proc = Proc(name, cmd, env or {}, self.tmp)
        self.defer(proc.stop)
        return proc

    def serve_on_free_port(self, name: str, command: Callable[[int], list[str]],
                           env: dict[str, str] | None = None) -> Proc:
        """Start `command(port)` for a free 127.0.0.1 port as a `Proc` whose `port` is that port."""
        port = free_port()
        proc = self.spawn(name, command(port), env)
        proc.port = port
        return proc

    def gunicorn(self, name: str, app_spec: str, env: dict[str, str] | None = None, **options: Any) -> Proc:
        """Start gunicorn serving `app_spec` on a free port (`proc.port`); see gunicorn_command."""
        return self.serve_on_free_port(name, lambda port: gunicorn_command(app_spec, port, **options), env)

    def web(self, name: str, env: dict[str, str] | None = None, **options: Any) -> Proc:
        """Start the web process as it is deployed (`flask web`) on a free port; see web_command."""
        return self.serve_on_free_port(name, lambda port: web_command(port, **options),
                                       {**(env or {}), "FLASK_APP": "app:create_app"})

    def granian(self, name: str, app_spec: str, env: dict[str, str] | None = None, **options: Any) -> Proc:
        """Start granian serving `app_spec` on a free port (`proc.port`); see granian_command."""
        return self.serve_on_free_port(name, lambda port: granian_command(app_spec, port, **options), env)

    def app_server(self, name: str, app_spec: str, env: dict[str, str] | None = None, *, server: str,
                   workers: int, threads: int, worker_class: str = "sync") -> Proc:
        """`app_spec` on `server`: "granian" (our app as `flask web` serves it, any other app on granian
        with the same settings) or "gunicorn"; the log is <tmp>/<server or web>-<name>.log."""
        if server == "granian" and app_spec == WEB_APP:
            return self.web(f"web-{name}", env, workers=workers, threads=threads)
        if server == "granian":
            return self.granian(f"granian-{name}", app_spec, env, workers=workers, threads=threads)
        return self.gunicorn(f"gunicorn-{name}", app_spec, env, workers=workers, worker_class=worker_class,
                             threads=threads)

    def throwaway_database(self, server_url: str, prefix: str) -> str:
        """Create <prefix>_<random> on the server of `server_url`, dropped at the end; its SQLAlchemy URL."""
        name, url = create_database(server_url, prefix)

        def drop() -> None:
            try:
                drop_database(server_url, name)
            except Exception as exc:  # noqa: BLE001
                print(f"note: could not drop database {name}: {exc}", file=sys.stderr)

        self.defer(drop)
        return url

    def shared_redis(self, url: str | None) -> tuple[str, str]:
        """`choose_redis(url)`; the Redis chosen is flushed again at the end of the run."""
        chosen, description = choose_redis(url)
        if chosen:
            self.defer(lambda: _quietly(redis_flush, chosen))
        return chosen, description

    def redis_server(self, timeout: float = 10.0) -> tuple[Proc, str]:
        """Start a redis-server of our own on a free port, without persistence; (its Proc, its URL)."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise SetupError("redis-server is not installed (apt-get install redis-server)")
        port = free_port()
        proc = self.spawn("redis", [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                    "--appendonly", "no", "--dir", str(self.tmp)])

        def ping() -> None:
            import redis

            redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5).ping()

        wait_ready(proc, ping, timeout)
        return proc, f"redis://127.0.0.1:{port}/0"


def run_main(body: Callable[[Run], int], *, tmp_prefix: str, keep_tmp: bool) -> int:
    """Run `body(run)` in the frame of a run and return its exit code (130 when interrupted)."""
    tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix))
    install_interrupt_handlers()
    run = Run(tmp)
    try:
        return body(run)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        run.close()
        if keep_tmp:
            print(f"temporary files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - a clean-up that may fail without consequence
        pass


# ---------------------------------------------------------------------------------------------
# The service's set-up


def official_token() -> str:
    """`[wechat.official] token` of config.example.toml (what the service checks signatures with)."""
    with open(REPO_ROOT / "config.example.toml", "rb") as f:
        return tomllib.load(f)["wechat"]["official"]["token"]


def app_environment(tmp: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The APP_* variables of a benchmarked service: a copy of config.example.toml in `tmp`, the given
    database and Redis ("" for the in-process substitute), WARNING logs; `extra` adds or overrides."""
    config = tmp / "config.toml"
    shutil.copyfile(REPO_ROOT / "config.example.toml", config)
    return {
        "APP_CONFIG": str(config),
        "APP_DATABASE__URL": database_url,
        "APP_REDIS__URL": redis_url,
        "APP_APP__LOG_LEVEL": "WARNING",
        **extra,
    }


def migrate(env: dict[str, str], timeout: float = 180) -> None:
    """Run `flask db upgrade` with `env` over ours; raise SetupError with its output if it fails."""
    run = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"], cwd=REPO_ROOT,
        env={**os.environ, **env, "FLASK_APP": "app:create_app"}, capture_output=True, text=True, timeout=timeout,
    )
    if run.returncode != 0:
        raise SetupError(f"`flask db upgrade` failed (exit {run.returncode}):\n{run.stdout[-3000:]}{run.stderr[-3000:]}")


def seed_region_chain(code_prefix: str, name_prefix: str, populations: tuple[int, int, int, int]) -> list[Any]:
    """A city, district, street and community, each inside the one before, with the app's own service.

    Codes are <code_prefix>0..3, names <name_prefix>基准市, 基准区, 基准街道, 基准社区. Call inside an app
    context; returns the four regions, city first.
    """
    from app.services import regions
    from models import RegionLevel

    chain: list[Any] = []
    levels = (("市", RegionLevel.CITY), ("区", RegionLevel.DISTRICT), ("街道", RegionLevel.STREET),
              ("社区", RegionLevel.COMMUNITY))
    for i, ((suffix, level), population) in enumerate(zip(levels, populations)):
        chain.append(regions.add_region(f"{code_prefix}{i}", f"{name_prefix}基准{suffix}", level,
                                        chain[-1] if chain else None, population))
    return chain


def code_fingerprint() -> str:
    """A short hash of the service's Python code, to tell which version a run measured (others edit it)."""
    digest = hashlib.sha256()
    for folder in ("app", "handlers", "models"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def libpq_url(url: str) -> str:
    """SQLAlchemy's postgresql+psycopg://... as a plain libpq URL for psycopg.connect."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def replace_database(url: str, name: str) -> str:
    """The same URL (scheme, credentials, host, query) naming database `name`."""
    scheme, rest = url.split("://", 1)
    authority, _, tail = rest.partition("/")
    query = tail.partition("?")[2]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


def mask_url(url: str) -> str:
    """The URL with its password, if any, shown as ***."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def create_database(server_url: str, prefix: str) -> tuple[str, str]:
    """Create <prefix>_<random> next to the maintenance database; return (name, SQLAlchemy URL)."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise SetupError(f"cannot create a database on {mask_url(server_url)}: {exc}") from None
    return name, replace_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name`, closing any connection still open to it."""
    import psycopg

    with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------
# Redis


def redis_flush(url: str) -> None:
    """FLUSHDB on the Redis DB of `url`."""
    import redis

    redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).flushdb()


def choose_redis(url: str | None) -> tuple[str, str]:
    """Return (APP_REDIS__URL value, description): the real Redis if reachable, else the substitute."""
    if url:
        try:
            redis_flush(url)
            return url, f"Redis {url} (flushed before the run)"
        except Exception as exc:  # noqa: BLE001 - any failure means: not usable
            print(f"note: Redis {url} not reachable ({exc}); using the in-process substitute")
    return "", "in-process substitute (fakeredis), one per gunicorn worker process: dedup not shared"


# ---------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process in its own session (so it and its children can be stopped as one), output
    to <tmp>/<name>.log. Start it with Run.spawn or Run.gunicorn, which also stop it at the end."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], tmp: Path):
        self.name = name
        self.port: int | None = None  # where it listens, if the starter knows
        self.log_path = tmp / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        self.cpu_at_end: float | None = None  # CPU seconds read just before the process was stopped
        self._stopped = False

    def pids(self) -> list[int]:
        """The process and its direct children (gunicorn's workers)."""
        return [self.pid, *children_of(self.pid)]

    def cpu_seconds(self) -> float:
        """CPU seconds used by the process and its children so far (frozen once stopped or killed)."""
        if self.cpu_at_end is not None:
            return self.cpu_at_end
        return sum(pid_cpu_seconds(self.pids()).values())

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (the process dies mid-work, as in a crash)."""
        self.cpu_at_end = self.cpu_seconds()
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a graceful stop), then SIGKILL to whatever is left in its session; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.alive():
            if self.cpu_at_end is None:
                self.cpu_at_end = self.cpu_seconds()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)  # its own session: anything left over
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


def gunicorn_command(app_spec: str, port: int, *, workers: int = 1, worker_class: str = "sync", threads: int = 1,
                     timeout: int = 30, extra: tuple[str, ...] = ()) -> list[str]:
    """gunicorn on 127.0.0.1:`port`, warning logs, run from the repository root (threads with gthread)."""
    cmd = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--log-level", "warning",
        "--timeout", str(timeout),
        "--graceful-timeout", "5",
        "--chdir", str(REPO_ROOT),
        *extra,
    ]
    if worker_class == "gthread":
        cmd += ["--threads", str(threads)]
    return [*cmd, app_spec]


# Our app as a server loads it; on granian it is started as `flask web` (app/web_server.py).
WEB_APP = "app:create_app()"


def default_threads(server: str) -> int:
    """Threads per worker unless asked: granian's 2 (as `flask web`), gunicorn gthread's 4."""
    return 2 if server == "granian" else 4


def web_command(port: int, *, workers: int, threads: int) -> list[str]:
    """`flask web` (granian, app/web_server.py) on 127.0.0.1:`port` without its access log."""
    return [sys.executable, "-m", "flask", "web", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--threads", str(threads), "--no-access-log"]


def granian_command(app_spec: str, port: int, *, workers: int = 1, threads: int = 1,
                    extra: tuple[str, ...] = ()) -> list[str]:
    """granian's WSGI interface on 127.0.0.1:`port`, warning logs: `workers` processes, each running the app
    in `threads` threads (HTTP/1.1 parsing, keep-alive and writing in Rust), as `flask web` runs ours
    (for a peer app beside it). "module:factory()" is called in each worker, as gunicorn calls it."""
    factory = app_spec.endswith("()")
    cmd = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--blocking-threads", str(threads), "--no-ws", "--log-level", "warning",
           *(["--factory"] if factory else []), *extra]
    return [*cmd, app_spec.removesuffix("()")]


def worker_class_label(worker_class: str, threads: int) -> str:
    """How the settings show gunicorn's worker class: "sync", or "gthread --threads 4"."""
    return worker_class + (f" --threads {threads}" if worker_class == "gthread" else "")


def wait_ready(proc: Proc, probe: Callable[[], str | None], timeout: float = START_TIMEOUT_SECONDS) -> None:
    """Call `probe` until it returns None (ready); raise SetupError if `proc` exits or time runs out.

    `probe` returns a short description of a wrong answer, or raises while there is no answer yet.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise SetupError(f"{proc.name} exited with code {proc.proc.returncode}:\n{proc.log_tail()}")
        try:
            wrong = probe()
        except Exception as exc:  # noqa: BLE001 - not listening yet, or not answering yet
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
            continue
        if wrong is None:
            return
        last = wrong
        time.sleep(0.2)
    raise SetupError(f"no good answer from {proc.name} within {timeout:.0f} s (last: {last})\n{proc.log_tail()}")


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """One request to 127.0.0.1:`port` on a new connection; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_answer(port: int, method: str, path: str, markers: list[bytes], body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> str | None:
    """A probe for wait_ready: None if the answer is HTTP 200 and contains every marker, else what it was."""
    status, answer = http_request(port, method, path, body, headers)
    if status == 200 and all(m in answer for m in markers):
        return None
    return f"HTTP {status}: {answer.decode('utf-8', 'replace')[:500]}"


def http_json(port: int, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
    """A JSON request to 127.0.0.1:`port`; its decoded JSON answer, RuntimeError unless HTTP 200."""
    data = None if body is None else json.dumps(body).encode()
    status, raw = http_request(port, method, path, data, {"Content-Type": "application/json"} if data else {},
                               timeout)
    if status != 200:
        raise RuntimeError(f"{method} {path}: HTTP {status} {raw[:300]!r}")
    return json.loads(raw)


def _forked_main(fn: Callable[[], Any], pipe) -> None:
    try:
        pipe.send({"result": fn()})
    except KeyboardInterrupt:
        pass
    except BaseException as exc:  # report, never hang the parent
        pipe.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        pipe.close()


class ForkedCall:
    """`fn()` in a forked child process (nothing needs to be picklable); its result comes back over a pipe.

    Use as a context manager: the child is terminated on leaving if it is still running.
    """

    def __init__(self, fn: Callable[[], Any], what: str = "the load generator"):
        self.what = what
        ctx = multiprocessing.get_context("fork")
        self._pipe, child_end = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_forked_main, args=(fn, child_end), daemon=True)
        self._process.start()
        child_end.close()

    def __enter__(self) -> ForkedCall:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def result(self, within: float) -> Any:
        """Wait up to `within` seconds for the child's result; RuntimeError if it failed or did not report."""
        if not self._pipe.poll(within):
            raise RuntimeError(f"{self.what} did not report in time")
        message = self._pipe.recv()
        self._process.join(timeout=5)
        if "error" in message:
            raise RuntimeError(f"{self.what} failed: {message['error']}")
        return message["result"]

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._pipe.close()


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc


def _stat_fields(stat: str) -> tuple[str, list[str]]:
    """(comm, fields after the comm) of a /proc/<pid>/stat line (the comm may hold spaces and ')')."""
    head, _, rest = stat.rpartition(")")
    return head.partition("(")[2], rest.split()


def proc_stats() -> list[tuple[int, str, int, list[str]]]:
    """(pid, comm, ppid, fields after the comm) of every process we can read."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                comm, fields = _stat_fields(f.read())
            out.append((int(entry), comm, int(fields[1]), fields))
        except (OSError, IndexError, ValueError):
            continue
    return out


def children_of(pid: int) -> list[int]:
    """The direct children of `pid`."""
    return [child for child, _, ppid, _ in proc_stats() if ppid == pid]


def pid_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of `pids` that still exists."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = _stat_fields(f.read())[1]
            out[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            pass
    return out


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine, all cores (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
    return busy / CLOCK_TICKS


def service_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by PostgreSQL and by redis-server (all their processes).

    Backends that exited are counted through the postmaster's reaped-children times (cutime,
    cstime), so connections opened and closed by the pool during a window are not lost.
    """
    stats = proc_stats()
    comm_of = {pid: comm for pid, comm, _, _ in stats}
    totals = {"postgres": 0.0, "redis": 0.0}
    for pid, comm, ppid, fields in stats:
        try:
            own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
        except (IndexError, ValueError):
            continue
        if comm == "postgres":
            totals["postgres"] += own + (reaped if comm_of.get(ppid) != "postgres" else 0.0)
        elif comm.startswith("redis-server"):
            totals["redis"] += own
    return totals


def self_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children that have exited and been waited for (e.g. wrk)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuWindow:
    """CPU seconds used by named sources between start() and stop(), and the wall time between.

    A source is a function returning CPU seconds so far, or a dict of them (each key one source),
    e.g. CpuWindow(server=proc.cpu_seconds, machine=machine_cpu_seconds, services=service_cpu_seconds).
    """

    def __init__(self, **sources: Callable[[], float | dict[str, float]]):
        self.sources = sources
        self.elapsed = 0.0

    def _read(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, source in self.sources.items():
            value = source()
            values.update(value if isinstance(value, dict) else {name: value})
        return values

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._before = self._read()

    def stop(self) -> dict[str, float]:
        """CPU seconds used per source since start(); sets `elapsed` (wall seconds)."""
        after = self._read()
        self.elapsed = time.monotonic() - self._t0
        return {name: after[name] - self._before[name] for name in self._before}

    def percent(self, used: dict[str, float]) -> dict[str, float]:
        """The seconds of stop() in % of one core over the window."""
        return {name: 100 * seconds / self.elapsed for name, seconds in used.items()}


def wait_until_quiet(max_wait: float, busy_limit: float = 25.0) -> float:
    """Wait (up to max_wait s) until the machine's busy CPU over one second is below busy_limit % of one
    core: the machine may be shared (test suites running), and a disturbed phase says little.
    Returns the seconds waited."""
    t0 = time.monotonic()
    told = False
    while True:
        before = machine_cpu_seconds()
        time.sleep(1.0)
        busy = 100 * (machine_cpu_seconds() - before)
        waited = time.monotonic() - t0
        if busy < busy_limit:
            if told:
                log(f"  quiet after {waited:.0f} s")
            return waited
        if waited >= max_wait:
            log(f"  still {busy:.0f} % busy after {waited:.0f} s: measuring anyway (see 'other CPU')")
            return waited
        if not told:
            log(f"  the machine is busy ({busy:.0f} % of a core used by others): waiting up to {max_wait:.0f} s "
                "for it to be quiet (--quiet-wait)")
            told = True


# ---------------------------------------------------------------------------------------------
# Figures


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ascending values; NaN if there are none."""
    if not sorted_values:
        return float("nan")
    index = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def latency_summary(sorted_seconds: list[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean in milliseconds of ascending latencies in seconds (NaN if none)."""
    return {
        "p50_ms": percentile(sorted_seconds, 50) * 1000,
        "p90_ms": percentile(sorted_seconds, 90) * 1000,
        "p99_ms": percentile(sorted_seconds, 99) * 1000,
        "max_ms": sorted_seconds[-1] * 1000 if sorted_seconds else float("nan"),
        "mean_ms": sum(sorted_seconds) / len(sorted_seconds) * 1000 if sorted_seconds else float("nan"),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or not denominator > 0:
        return None
    return numerator / denominator


# ---------------------------------------------------------------------------------------------
# Output


def print_settings(settings: dict[str, Any], width: int) -> None:
    """The "Settings" block that opens a report, keys padded to `width`."""
    print()
    print("Settings")
    for key, value in settings.items():
        print(f"  {key:<{width}} {value}")


def print_header(header: str) -> None:
    """A table's header line, underlined with dashes."""
    print(header)
    print("-" * len(header))


def verdict(passed: bool | None) -> str:
    """PASS, FAIL, or nothing for a figure without a target."""
    return "" if passed is None else ("PASS" if passed else "FAIL")


class TargetTable:
    """The targets block of a report: one line per figure (label, value, target, verdict), and the
    same as `checks` for the JSON output."""

    def __init__(self, label_width: int, value_width: int, target_width: int):
        self.widths = (label_width, value_width, target_width)
        self.checks: dict[str, Any] = {}

    def line(self, label: str, value: float | int | None, target: str, passed: bool | None) -> None:
        """Print one line: a float with two decimals, an int as it is, None as n/a."""
        label_width, value_width, target_width = self.widths
        shown = "n/a" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))
        print(f"  {label:<{label_width}}{shown:>{value_width}}   {target:<{target_width}}{verdict(passed)}")

    def record(self, key: str, label: str, value: float | int | None, target: str, passed: bool | None, /,
               **fields: Any) -> None:
        """Print a line and keep checks[key] = {"value": value, **fields, "pass": passed}."""
        self.line(label, value, target, passed)
        self.checks[key] = {"value": value, **fields, "pass": passed}


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """Write the figures as indented UTF-8 JSON and say so."""
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")


def add_keep_tmp_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--keep-tmp", action="store_true", help=f"keep the temporary directory ({what})")


def add_server_url_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL,
                        help=f"PostgreSQL maintenance database used to create and drop the throwaway one "
                             f"(default {DEFAULT_SERVER_URL})")


def add_in_process_options(parser: argparse.ArgumentParser, what: str) -> None:
    """The options of a script that runs the app in its own process on a throwaway PostgreSQL database
    (`in_process_app`): --server-url, --redis-url, --json, --keep-tmp."""
    add_server_url_option(parser)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
                        help="Redis for the app, flushed before and after (default redis://127.0.0.1:6379/13)")
    add_json_option(parser)
    add_keep_tmp_option(parser, what)


def in_process_app(run: Run, args: argparse.Namespace, prefix: str, **extra: str) -> str:
    """Make the throwaway database, point this process's APP_* environment at it and at Redis (`extra`
    adds or overrides variables), migrate it; its URL. create_app() afterwards builds the app on it."""
    database_url = run.throwaway_database(args.server_url, prefix)
    redis_url, _ = run.shared_redis(args.redis_url)
    env = app_environment(run.tmp, database_url, redis_url, **extra)
    os.environ.update(env)
    migrate(env)
    return database_url


def in_process_main(args: argparse.Namespace, name: str, measure: Callable[[str], Any],
                    report: Callable[[Any, str], None], **extra: str) -> int:
    """The main() of a script that measures the app in its own process (`add_in_process_options`): the
    throwaway database `bench_<name>` (`in_process_app`), `measure(database_url)` its figures, then
    `report(figures, database_url)` prints them and the JSON is written if asked. Exit code 0, or 1
    (said on stderr) if the set-up or a check of the measurement failed (SetupError)."""

    def body(run: Run) -> int:
        try:
            database_url = in_process_app(run, args, f"bench_{name}", **extra)
            figures = measure(database_url)
        except SetupError as exc:
            print(f"failed: {exc}", file=sys.stderr, flush=True)
            return 1
        report(figures, database_url)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        return 0

    return run_main(body, tmp_prefix=f"bench-{name.replace('_', '-')}-", keep_tmp=args.keep_tmp)


def app_code_setting() -> str:
    """The settings line that identifies the code measured, with the time of the measurement."""
    return (f"sha256 {code_fingerprint()} of app/, handlers/, models/ (*.py), "
            f"measured {time.strftime('%Y-%m-%d %H:%M')}")


def add_quiet_wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="before each phase, wait up to this many seconds for the machine to be quiet "
                             "(others' CPU use below 25 %% of a core); 0: do not wait (default 120)")


def add_redis_options(parser: argparse.ArgumentParser, default_url: str, label: str = "Redis") -> None:
    parser.add_argument("--redis-url", default=default_url,
                        help=f"{label}, flushed before and after (default {default_url}); "
                             "if unreachable, the in-process substitute is used")
    parser.add_argument("--no-redis", action="store_true", help="use the in-process Redis substitute")
