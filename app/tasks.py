"""Background tasks on Huey: the job library for work that is not the outbox (exports, PDFs, bulletins).

One `huey` instance serves the whole process. `create_app` binds it to the app's storage:
SqliteHuey's storage (a file under `instance/`, `[tasks] sqlite_path`) on the embedded default,
where `redis.url` is empty, and RedisHuey's on `redis.url` in production. `flask jobs tasks` runs
its consumer (worker threads, retries, delayed tasks); the periodic triggers stay on our scheduler
(`jobs/schedule.py`), so a heavy periodic job only enqueues a task here.

To add a task, decorate a function in a service module:

    @task(retries=3, retry_delay=30)
    def build_thing(thing_id: int) -> None:
        ...

and call `build_thing(thing_id)` after the transaction that wrote the thing's row committed (the
task may start at once and must find the row). The rules that keep tasks safe:
- The state that matters lives in our own tables (a row per export, per bulletin), never only in
  Huey's queue: a task takes ids, claims its row with a conditional UPDATE and is safe to run twice
  (a retry, a re-enqueue by a sweeper, the same message delivered again after a Redis failover).
- The task runs inside the bound app's context with a fresh database session, removed afterwards;
  it is the transaction boundary, like a job step, and commits with `unit_of_work()`.
- Huey retries a task that raises, `retries` times, `retry_delay` seconds apart.
Every module under `app/services` is imported by the consumer (`discover`), so a task defined in a
service is registered without a list to keep.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from huey import Huey
from huey.storage import BaseStorage, RedisStorage, SqliteStorage

logger = logging.getLogger(__name__)

QUEUE_NAME = "volunteer"


class UnboundStorage(BaseStorage):
    """The storage before `bind`: enqueueing then is a programming error, not a task lost in memory."""

    def enqueue(self, data: bytes, priority: Any = None) -> None:
        raise RuntimeError("app.tasks.huey is not bound to an app yet (create_app binds it)")

    def dequeue(self) -> None:
        return None

    def queue_size(self) -> int:
        return 0

    def flush_queue(self) -> None:
        pass

    def flush_schedule(self) -> None:
        pass

    def flush_results(self) -> None:
        pass


huey = Huey(QUEUE_NAME, storage_class=UnboundStorage, results=False, utc=True)
_bound: dict[str, Flask] = {}


def backend_of(conf: Any) -> str:
    """`redis` when a Redis URL is configured, else `sqlite`: the same rule that picks the in-process Redis."""
    return "redis" if conf["redis"]["url"] else "sqlite"


def sqlite_file(conf: Any) -> Path:
    """The SqliteHuey file: `[tasks] sqlite_path`, relative to the working directory like the database URL."""
    path = Path(conf["tasks"]["sqlite_path"])
    return path if path.is_absolute() else Path.cwd() / path


def bind(app: Flask) -> None:
    """Point `huey` at the app's storage and run tasks in this app's context (the last app built wins)."""
    conf = app.extensions["settings"]
    if backend_of(conf) == "redis":
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": conf["redis"]["url"]}
    else:
        path = sqlite_file(conf)
        path.parent.mkdir(parents=True, exist_ok=True)
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": str(path)}
    huey.storage = huey.create_storage()
    _bound["app"] = app


def bound_app() -> Flask:
    try:
        return _bound["app"]
    except KeyError:
        raise RuntimeError("app.tasks.huey is not bound to an app yet (create_app binds it)") from None


def task(*, retries: int = 3, retry_delay: int = 30, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Make `fn` a Huey task that runs in the bound app's context with a fresh session.

    Calling the decorated function enqueues it; `.call_local(...)` runs it here and now.
    Huey names the task by the function's module and name, so two modules may use one function name.
    """
    def decorate(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def in_app_context(*args: Any, **kwargs: Any) -> Any:
            from app.extensions import db

            # A new app context scopes a new Flask-SQLAlchemy session, whatever context the caller had.
            with bound_app().app_context():
                try:
                    return fn(*args, **kwargs)
                finally:
                    db.session.remove()

        return huey.task(retries=retries, retry_delay=retry_delay, **options)(in_app_context)

    return decorate


def discover(extra_modules: tuple[str, ...] = ()) -> list[str]:
    """Import every service module (which registers their tasks) and `extra_modules`; the names of the tasks."""
    import app.services as services

    for info in pkgutil.walk_packages(services.__path__, services.__name__ + "."):
        importlib.import_module(info.name)
    for name in extra_modules:
        importlib.import_module(name)
    return sorted(huey._registry._registry)


def make_consumer(*, workers: int, worker_type: str = "thread") -> Any:
    """Huey's consumer for the bound queue. Huey's own periodic tasks are off: our scheduler is the one trigger."""
    return huey.create_consumer(workers=workers, worker_type=worker_type, periodic=False, initial_delay=0.1,
                                backoff=1.15, max_delay=1.0, check_worker_health=True)
