"""The web process's gunicorn hooks: what loading the app built is frozen out of the garbage collector's reach."""

from __future__ import annotations

import gc
import runpy
import subprocess
import sys
import weakref

import pytest

from app import gunicorn_hooks
from app.config import PROJECT_ROOT


class _Node:
    def __init__(self) -> None:
        self.partner: _Node | None = None


@pytest.fixture
def unfrozen_after():
    assert gc.get_freeze_count() == 0, "the test process must start unfrozen"
    yield
    gc.unfreeze()


def test_after_a_worker_loads_the_app_its_objects_are_frozen_and_its_garbage_collected(unfrozen_after):
    kept = [_Node() for _ in range(1000)]
    cycle = _Node()
    cycle.partner = _Node()
    cycle.partner.partner = cycle
    left_over = weakref.ref(cycle)
    del cycle

    gunicorn_hooks.post_worker_init(worker=None)

    assert left_over() is None, "garbage left from loading must be collected, not frozen"
    assert gc.get_freeze_count() >= len(kept)
    tracked = {id(o) for o in gc.get_objects()}
    assert not any(id(node) in tracked for node in kept), "a frozen object is out of every generation"


@pytest.mark.parametrize("config", ["gunicorn.conf.py", "scripts/gunicorn_demo.py"])
def test_both_gunicorn_settings_files_install_the_hook(config):
    settings = runpy.run_path(str(PROJECT_ROOT / config))
    assert settings["post_worker_init"] is gunicorn_hooks.post_worker_init


def test_gunicorn_started_from_the_repository_root_reads_its_settings_file():
    printed = subprocess.run([sys.executable, "-m", "gunicorn", "--print-config", "app:create_app()"],
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    hook = next(line for line in printed.splitlines() if line.startswith("post_worker_init "))
    # Gunicorn prints a setting's callable by its name: its own default is PostWorkerInit.post_worker_init.
    assert hook.split("=", 1)[1].strip() == "<post_worker_init()>"
