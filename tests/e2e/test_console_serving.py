"""The console's serving rules as a browser sees them: the policy blocks inline scripts, history
fallback loads the app on any route, and without a build the page says how to make one."""

from __future__ import annotations

from pathlib import Path

import pytest

APP_SCRIPT = "document.body.dataset.external = 'ran';"
INDEX = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>志愿服务管理后台</title></head>
<body><h1>志愿服务管理后台</h1>
<script>document.body.dataset.inline = 'ran'; window.inlineRan = true;</script>
<img src="x" onerror="document.body.dataset.handler = 'ran'">
<script type="module" src="/console/assets/index-5e1f0a.js"></script>
</body></html>
"""


@pytest.fixture
def fake_build(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX, encoding="utf-8")
    (dist / "assets" / "index-5e1f0a.js").write_text(APP_SCRIPT, encoding="utf-8")
    return dist


def test_the_policy_runs_the_apps_script_and_blocks_inline_ones(page, web_server, fake_build):
    server = web_server(fake_build)
    answer = page.goto(f"{server.url}/console/")
    assert answer.status == 200
    page.wait_for_function("document.body.dataset.external === 'ran'")
    assert page.evaluate("document.body.dataset.inline") is None
    assert page.evaluate("window.inlineRan") is None
    assert page.evaluate("document.body.dataset.handler") is None
    assert any("Content Security Policy" in line for line in page.console_lines), page.console_lines


def test_any_route_of_the_app_loads_the_app_and_a_missing_chunk_is_404(page, web_server, fake_build):
    server = web_server(fake_build)
    answer = page.goto(f"{server.url}/console/activities/7/attendance")
    assert answer.status == 200
    page.wait_for_function("document.body.dataset.external === 'ran'")
    assert page.title() == "志愿服务管理后台"
    missing = page.request.get(f"{server.url}/console/assets/index-000000.js")
    assert missing.status == 404
    assert "志愿服务管理后台" not in missing.text()


def test_without_a_build_the_page_says_to_run_make_console(page, web_server, tmp_path):
    server = web_server(tmp_path / "no-build")
    answer = page.goto(f"{server.url}/console/")
    assert answer.status == 503
    assert "make console" in page.inner_text("body")
    assert page.inner_text("h1") == "管理后台尚未构建"


def test_the_built_console_loads_under_its_policy(stack, page):
    """The real build: served at /console/ with the policy, and nothing in it needs an inline script."""
    answer = page.goto(stack.console_url())
    assert answer.status == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    page.wait_for_load_state("load")
    page.wait_for_timeout(1000)  # the app's start-up scripts run (a polling login page never idles the network)
    assert page.errors == []
    assert not [line for line in page.console_lines if "Content Security Policy" in line], page.console_lines
