"""The real stack for the end-to-end tests: simulator, web service (`flask web`), delivery worker and
background task worker (`flask jobs tasks`: exports, bulletins, PDFs).

Each is a process of its own (own port, own process group, log file in the stack's folder), on a
fresh SQLite file that `flask db upgrade` and `flask seed demo` prepared, and on a redis-server of
the stack's own when one is installed (else the in-process substitute, which the web process and the
worker then do not share). The process helpers are the delivery fault tests' (tests/faults/harness.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from tests.faults.harness import ROOT, RedisServer, SimulatorProcess, _end, _start, free_port, process_env, wait_for

START_TIMEOUT_SECONDS = 60


class CliError(AssertionError):
    """A `flask …` command of the stack failed; the message has its output."""


class WebServer:
    """`flask web` (granian) serving the app with the console build `dist_dir`, on a free port."""

    def __init__(self, folder: Path, env: dict[str, str], *, dist_dir: Path, name: str = "web",
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"{name}.log"
        env = {**env, "APP_CONSOLE__DIST_DIR": str(dist_dir)}
        # One worker process, as in `make run`: the in-process Redis substitute is not shared between processes.
        self.process = _start([sys.executable, "-m", "flask", "web", "--workers", "1", "--threads", "8",
                               "--port", str(self.port)], log=self.log, env=env)
        try:
            wait_for(self._healthy, timeout=START_TIMEOUT_SECONDS, what=f"{name} to answer /healthz",
                     details=lambda: self.log.read_text(errors="replace")[-2000:])
        except BaseException:
            self.close()
            raise

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the web service exited: {self.log.read_text(errors='replace')[-2000:]}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def close(self) -> None:
        _end(self.process)


class Stack:
    """Simulator, web service, delivery worker and task worker on one fresh, seeded database.

    `url` is the web service (`console_url(path)` a page of the console), `simulator` the WeChat
    stand-in (`.messages()`, `.stats()`), `cli(...)` runs `flask …` against the same database and Redis,
    `login_link(openid)` a one-time console login URL on this stack, `mp_login(code)` a mini-program
    bearer token (code X is the simulator's openid sim_X), `api(...)` a JSON call to /api/v1.
    """

    def __init__(self, folder: Path, *, dist_dir: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.database_url = "sqlite:///" + str(folder / "e2e.db")
        self._closers: list[Any] = []
        try:
            self._start(dist_dir)
        except BaseException:
            self.close()
            raise

    def _start(self, dist_dir: Path) -> None:
        redis_url = ""
        if shutil.which("redis-server"):
            redis_server = RedisServer(self.folder / "redis")
            self._closers.append(redis_server.close)
            redis_server.start()
            redis_url = redis_server.url
        web_port = free_port()
        # The task queue (when there is no Redis) and the generated files live in the stack's folder.
        base = {"APP_REDIS__URL": redis_url, "APP_APP__LOG_LEVEL": "WARNING",
                "APP_SIMULATOR__SERVICE_URL": f"http://127.0.0.1:{web_port}",
                "APP_TASKS__SQLITE_PATH": str(self.folder / "tasks.db"), "APP_FILES__DIRECTORY": str(self.folder / "files"),
                # Certificates' QR codes point at this stack's verification page.
                "APP_CERTIFICATES__PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}"}
        self.simulator = SimulatorProcess(self.folder, process_env(self.database_url, **base))
        self._closers.append(self.simulator.close)
        self.env = process_env(self.database_url, **base, APP_WECHAT__API_BASE=self.simulator.url,
                               APP_WECHAT__WECOM_API_BASE=self.simulator.url, APP_CONSOLE__DIST_DIR=str(dist_dir))
        self.cli("db", "upgrade")
        self.seed_summary = self.cli("seed", "demo")
        self.web = WebServer(self.folder, self.env, dist_dir=dist_dir, port=web_port)
        self._closers.append(self.web.close)
        self.url = self.web.url
        worker = _start([sys.executable, "-m", "flask", "jobs", "worker", "--interval", "0.2"],
                        log=self.folder / "worker.log", env=self.env)
        self._closers.append(lambda: _end(worker))
        # Background tasks (exports, bulletin freezes, PDFs), as `make run` and scripts/run-demo.sh start them.
        tasks = _start([sys.executable, "-m", "flask", "jobs", "tasks"], log=self.folder / "tasks.log", env=self.env)
        self._closers.append(lambda: _end(tasks))
        self.http = requests.Session()
        self._closers.append(self.http.close)

    # --- using it ---------------------------------------------------------------------------------

    def console_url(self, path: str = "") -> str:
        return f"{self.url}/console/{path.lstrip('/')}"

    def cli(self, *args: str, timeout: float = 120) -> str:
        """Run `flask ARGS…` on the stack's database and Redis; its standard output (CliError if it fails)."""
        done = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise CliError(f"flask {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def has_command(self, *args: str) -> bool:
        """Whether `flask ARGS… --help` works (a command another change may not have added yet)."""
        try:
            self.cli(*args, "--help")
        except CliError:
            return False
        return True

    def login_link(self, openid: str) -> str:
        """A one-time console login URL for the account with this mini-program openid, on this stack.

        `flask console login-link --openid OPENID` prints one URL for the demo's address
        (http://127.0.0.1:5000/console/login?link=…); its path and query are kept, the origin is the stack's.
        """
        printed = self.cli("console", "login-link", "--openid", openid)
        lines = [line.strip() for line in printed.splitlines() if line.strip().startswith("http")]
        assert len(lines) == 1, f"flask console login-link printed {printed!r}, not one URL"
        parts = urlsplit(lines[0])
        ours = urlsplit(self.url)
        return urlunsplit((ours.scheme, ours.netloc, parts.path, parts.query, parts.fragment))

    def api(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        """A call to the API (`path` starts after /api/v1), with a mini-program bearer token if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, f"{self.url}/api/v1/{path.lstrip('/')}", headers=headers, timeout=30,
                                 **kwargs)

    def mp_login(self, code: str) -> str:
        """The mini-program's bearer token for wx.login code `code` (the simulator's openid sim_<code>)."""
        answer = self.api("POST", "auth/login", json={"code": code})
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
                         for path in sorted(self.folder.glob("*.log")))

    def close(self) -> None:
        while self._closers:
            try:
                self._closers.pop()()
            except Exception as exc:  # noqa: BLE001 - stop the rest regardless
                print(f"note: stopping part of the e2e stack failed: {exc}", file=sys.stderr)
