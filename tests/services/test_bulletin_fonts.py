"""The PDF font's cut-down copy: built by a child process, never half-written, temporaries of killed builds swept."""

from __future__ import annotations

import os
import time

import pytest

from app.services.bulletins import fonts


def test_a_failed_build_raises_with_the_childs_error_and_leaves_no_font(tmp_path, monkeypatch):
    broken = tmp_path / "broken.ttc"
    broken.write_bytes(b"not a font collection")
    monkeypatch.setattr(fonts, "SOURCES", (broken,))
    target_dir = tmp_path / "fonts"
    with pytest.raises(RuntimeError, match="building NotoSansCJKsc-GB2312.otf failed") as failure:
        fonts.subset_font(target_dir)
    assert "Traceback" in str(failure.value)                 # the child's error, for the task's log
    assert not (target_dir / fonts.SUBSET_NAME).exists()
    assert list(target_dir.glob("*.otf.tmp")) == []


def test_a_missing_source_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(fonts, "SOURCES", (tmp_path / "absent.ttc",))
    with pytest.raises(fonts.FontMissing, match="fonts-noto-cjk"):
        fonts.subset_font(tmp_path / "fonts")


def test_a_killed_builds_temporary_is_swept_but_a_running_ones_is_kept(tmp_path, monkeypatch):
    target_dir = tmp_path / "fonts"
    target_dir.mkdir()
    stale = target_dir / "tmpold.otf.tmp"
    fresh = target_dir / "tmpnew.otf.tmp"
    stale.write_bytes(b"")
    fresh.write_bytes(b"")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    broken = tmp_path / "broken.ttc"
    broken.write_bytes(b"x")
    monkeypatch.setattr(fonts, "SOURCES", (broken,))
    with pytest.raises(RuntimeError):
        fonts.subset_font(target_dir)
    assert not stale.exists() and fresh.exists()


def test_a_built_font_is_reused_without_a_child(tmp_path, monkeypatch):
    target_dir = tmp_path / "fonts"
    target_dir.mkdir()
    (target_dir / fonts.SUBSET_NAME).write_bytes(b"built before")
    monkeypatch.setattr(fonts.subprocess, "run", lambda *a, **k: pytest.fail("no build expected"))
    assert fonts.subset_font(target_dir) == target_dir / fonts.SUBSET_NAME
