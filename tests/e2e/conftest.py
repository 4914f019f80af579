"""Fixtures of the end-to-end tests (tests/e2e/README.md shows how to write one).

- `browser` (session): Debian's chromium driven by Playwright, headless. Playwright never downloads a
  browser here: it launches CHROMIUM (E2E_CHROMIUM, default /usr/bin/chromium).
- `page` (per test): a fresh browser context (1366×768, zh-CN, Asia/Shanghai) and page; after the
  test a full-page screenshot goes to test-artifacts/screenshots/<test>.png, pass or fail.
- `console_dist` (session): the built console, console/dist (run `make console`).
- `stack` (session): simulator + web + worker on a fresh seeded database serving `console_dist`
  (see tests.e2e.stack.Stack: url, console_url(), login_link(openid), mp_login(code), api(), cli()).
- `web_server` (per call): `web_server(dist_dir)` starts one more web process serving another build
  directory (a fake build or none), on an empty database; for tests of the serving itself.

Skips: without chromium (or Playwright) every test that needs the browser is skipped, without a
console build every test that needs `stack`; the notice is printed at the end of the run. With
CI=true either is a failure instead (a checkout without console/ at all has nothing to build: skipped).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, WebServer
from tests.faults.harness import ROOT, process_env

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CONSOLE_DIST = ROOT / "console" / "dist"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}

FIGURES_FILE = ROOT / "test-artifacts" / "figures.txt"

_notices: set[str] = set()
_figures: dict[str, str] = {}


def record_figure(name: str, value: str) -> None:
    """A figure of the run (tests/e2e/test_figures.py): printed at the end and kept in test-artifacts/figures.txt."""
    _figures[name] = value
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text("".join(f"{key}: {text}\n" for key, text in _figures.items()), encoding="utf-8")


def _unavailable(what: str) -> None:
    """Skip (fail under CI=true) because `what` is missing; the notice is repeated at the end of the run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: the end-to-end tests need {what}", pytrace=False)
    _notices.add(f"no {what} (CI would fail here)")
    pytest.skip(f"end-to-end test skipped: no {what}")


def pytest_terminal_summary(terminalreporter) -> None:
    if _figures:
        terminalreporter.section("console figures (test-artifacts/figures.txt)")
        for name, value in _figures.items():
            terminalreporter.write_line(f"{name}: {value}")
    for notice in sorted(_notices):
        terminalreporter.write_line(f"NOTICE: end-to-end tests skipped: {notice}", yellow=True)


@pytest.fixture(scope="session")
def _playwright() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright (pip install -r requirements-dev.txt)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"browser at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(_playwright) -> Iterator[object]:
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def page(browser, request) -> Iterator[object]:
    """A new page in a fresh context; its screenshot is saved after the test. `page.errors` collects
    uncaught page errors, `page.console_lines` the browser console's lines (CSP violations show there)."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.errors = []
    page.console_lines = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: page.console_lines.append(f"{message.type}: {message.text}"))
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{_file_name(request.node.nodeid)}.png"), full_page=True)
    except Exception as exc:  # noqa: BLE001 - a closed page must not hide the test's own outcome
        print(f"note: no screenshot for {request.node.nodeid}: {exc}")
    context.close()


def _file_name(nodeid: str) -> str:
    name = nodeid.split("tests/e2e/", 1)[-1].removesuffix(".py")
    return re.sub(r"[^\w.\-]+", "_", name.replace(".py::", "__"))[:150]


@pytest.fixture(scope="session")
def console_dist() -> Path:
    if not (CONSOLE_DIST.parent / "package.json").is_file():
        # A checkout without the console's sources has nothing to build: a skip even under CI.
        _notices.add("no console/ in this checkout")
        pytest.skip("end-to-end test skipped: no console/ in this checkout")
    if not (CONSOLE_DIST / "index.html").is_file():
        _unavailable("console build at console/dist (make console)")
    return CONSOLE_DIST


@pytest.fixture(scope="session")
def stack(console_dist, tmp_path_factory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("e2e-stack"), dist_dir=console_dist)
    yield stack
    stack.close()


@pytest.fixture
def web_server(tmp_path_factory) -> Iterator[Callable[[Path], WebServer]]:
    started: list[WebServer] = []
    folder = tmp_path_factory.mktemp("e2e-web")
    env = process_env("sqlite:///" + str(folder / "empty.db"), APP_REDIS__URL="", APP_APP__LOG_LEVEL="WARNING")

    def start(dist_dir: Path) -> WebServer:
        server = WebServer(folder, env, dist_dir=dist_dir, name=f"web-{len(started)}")
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture(scope="session", autouse=True)
def _no_stale_screenshots() -> None:
    """Screenshots and figures are of this run only."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    FIGURES_FILE.unlink(missing_ok=True)
