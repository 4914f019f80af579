"""Serving the built console at /console/: history fallback, caching, 404s, the missing build, headers."""

from __future__ import annotations

from pathlib import Path

import pytest

INDEX = '<!doctype html><div id="app"></div><script type="module" src="/console/assets/index-3f2a1b.js"></script>'
ASSET = "console.log('console')"
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def fake_build(tmp_path: Path) -> Path:
    """What `vite build` leaves: index.html, hashed assets, a public file, and the build stamp."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX, encoding="utf-8")
    (dist / "assets" / "index-3f2a1b.js").write_text(ASSET, encoding="utf-8")
    (dist / "assets" / "index-9c8d7e.css").write_text("body{margin:0}", encoding="utf-8")
    (dist / "favicon.ico").write_bytes(b"\x00\x00\x01\x00")
    (dist / ".build-hash").write_text("abc\n", encoding="utf-8")
    return dist


@pytest.fixture
def console(make_app, fake_build):
    return make_app(console={"dist_dir": str(fake_build)}).test_client()


@pytest.mark.parametrize("path", ["/console/", "/console/login", "/console/volunteers/12",
                                  "/console/activities/3/attendance?tab=records", "/console/checkin-screen/5"])
def test_the_page_and_every_route_of_the_app_answer_index_html_uncached(console, path):
    answer = console.get(path)
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == INDEX
    assert answer.mimetype == "text/html"
    assert answer.headers["Cache-Control"] == "no-cache"


def test_console_without_a_slash_redirects_to_the_page(console):
    answer = console.get("/console")
    assert answer.status_code == 308
    assert answer.headers["Location"].endswith("/console/")


def test_hashed_assets_are_cached_for_a_year(console):
    script = console.get("/console/assets/index-3f2a1b.js")
    assert script.status_code == 200
    assert script.get_data(as_text=True) == ASSET
    assert script.mimetype in ("text/javascript", "application/javascript")
    assert script.headers["Cache-Control"] == IMMUTABLE
    style = console.get("/console/assets/index-9c8d7e.css")
    assert style.mimetype == "text/css" and style.headers["Cache-Control"] == IMMUTABLE


@pytest.mark.parametrize("path", ["/console/assets/index-000000.js", "/console/assets/missing.css",
                                  "/console/assets/", "/console/assets/deep/route", "/console/old-chunk.js",
                                  "/console/volunteers/logo.png", "/console/.build-hash", "/console/.env",
                                  "/console/assets/../../secret.js"])
def test_a_missing_asset_or_a_hidden_file_is_404_never_the_page(console, path):
    answer = console.get(path)
    assert answer.status_code == 404
    assert INDEX not in answer.get_data(as_text=True)


def test_other_files_of_the_build_are_served_and_revalidated(console):
    answer = console.get("/console/favicon.ico")
    assert answer.status_code == 200
    assert answer.data == b"\x00\x00\x01\x00"
    assert answer.headers["Cache-Control"] == "no-cache"


def test_files_outside_the_build_are_never_served(console, fake_build):
    (fake_build.parent / "secret.txt").write_text("secret", encoding="utf-8")
    for path in ("/console/../secret.txt", "/console/%2e%2e/secret.txt", "/console/assets/%2e%2e/%2e%2e/secret.txt"):
        answer = console.get(path)
        assert b"secret" not in answer.data, path


def test_without_a_build_the_console_says_to_run_make_console(make_app, tmp_path):
    client = make_app(console={"dist_dir": str(tmp_path / "nothing")}).test_client()
    for path in ("/console/", "/console/volunteers"):
        answer = client.get(path)
        assert answer.status_code == 503
        text = answer.get_data(as_text=True)
        assert "make console" in text and "尚未构建" in text
        assert answer.mimetype == "text/html"
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_relative_dist_dir_is_relative_to_the_project(make_app):
    from app.config import PROJECT_ROOT
    from handlers.console_static import dist_dir

    app = make_app(console={"dist_dir": "console/dist"})
    with app.app_context():
        assert dist_dir() == PROJECT_ROOT / "console" / "dist"


def _policy(answer) -> dict[str, str]:
    directives = [part.strip().split(" ", 1) for part in answer.headers["Content-Security-Policy"].split(";")]
    return {name: value for name, value in directives}


@pytest.mark.parametrize("path", ["/console/", "/console/volunteers", "/console/assets/index-3f2a1b.js",
                                  "/console/assets/missing.js", "/console/favicon.ico"])
def test_every_console_answer_has_a_policy_without_inline_scripts(console, path):
    policy = _policy(console.get(path))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert "unsafe-inline" not in policy["script-src"] and "unsafe-eval" not in policy["script-src"]
    assert policy["style-src"] == "'self' 'unsafe-inline'"
    assert policy["img-src"] == "'self' data: blob:"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert policy["form-action"] == "'self'"


@pytest.mark.parametrize("path", ["/console/", "/console/assets/index-3f2a1b.js", "/console/assets/missing.js"])
def test_console_answers_refuse_framing_sniffing_and_foreign_referrers(console, path):
    answer = console.get(path)
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/openapi.json", "/api/v1/volunteers/me", "/api/v1/nowhere"])
def test_api_answers_refuse_sniffing_and_framing(console, path):
    answer = console.get(path)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
