"""`make console` (scripts/console.sh build) on a stand-in console: npm ci only when the lockfile
changed, a build only when a source changed, a notice and success when there is no console."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "console.sh"
BUILD = """import fs from 'node:fs';
fs.rmSync('dist', {recursive: true, force: true});
fs.mkdirSync('dist/assets', {recursive: true});
fs.writeFileSync('dist/assets/index-1.js', fs.readFileSync('src/main.js', 'utf8'));
fs.writeFileSync('dist/index.html', '<script type="module" src="/console/assets/index-1.js"></script>');
fs.appendFileSync('../builds.log', `${process.version}\\n`);
"""


def run(console: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONSOLE_DIR": str(console)}
    return subprocess.run([str(SCRIPT), *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def console(tmp_path: Path) -> Path:
    folder = tmp_path / "console"
    (folder / "src").mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps(
        {"name": "stand-in", "version": "0.0.0", "private": True, "scripts": {"build": "node build.mjs"}}))
    (folder / "package-lock.json").write_text(json.dumps(
        {"name": "stand-in", "version": "0.0.0", "lockfileVersion": 3, "requires": True,
         "packages": {"": {"name": "stand-in", "version": "0.0.0"}}}, indent=2))
    (folder / "build.mjs").write_text(BUILD)
    (folder / "src" / "main.js").write_text("console.log(1)\n")
    return folder


def builds(console: Path) -> list[str]:
    log = console.parent / "builds.log"
    return log.read_text().split() if log.exists() else []


def test_without_a_console_there_is_a_notice_and_nothing_fails(tmp_path):
    done = run(tmp_path / "console", "build")
    assert done.returncode == 0, done.stderr
    assert "NOTICE: no" in done.stderr and "package.json" in done.stderr


def test_builds_with_node_24_from_the_virtualenv_and_only_when_something_changed(console):
    first = run(console, "build")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "npm ci" in first.stdout
    assert (console / "dist" / "index.html").is_file()
    assert [version.split(".")[0] for version in builds(console)] == ["v24"]

    again = run(console, "build")
    assert again.returncode == 0 and "up to date" in again.stdout
    assert "npm ci" not in again.stdout and len(builds(console)) == 1

    (console / "src" / "main.js").write_text("console.log(2)\n")
    changed = run(console, "build")
    assert "npm ci" not in changed.stdout and len(builds(console)) == 2
    assert (console / "dist" / "assets" / "index-1.js").read_text() == "console.log(2)\n"

    (console / "package-lock.json").write_text((console / "package-lock.json").read_text() + "\n")
    relocked = run(console, "build")
    assert "npm ci" in relocked.stdout and len(builds(console)) == 3


def test_a_deleted_build_is_built_again(console):
    assert run(console, "build").returncode == 0
    (console / "dist" / "index.html").unlink()
    assert run(console, "build").returncode == 0
    assert (console / "dist" / "index.html").is_file() and len(builds(console)) == 2


def test_a_console_without_a_lockfile_is_refused(console):
    (console / "package-lock.json").unlink()
    done = run(console, "build")
    assert done.returncode == 1
    assert "package-lock.json" in done.stderr
