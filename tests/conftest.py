"""Test fixtures: the app on SQLite + in-process Redis, or on PostgreSQL + Redis.

Backends come from the environment, so `make test` runs the same suite twice:
  TEST_DATABASE_URL  a PostgreSQL server URL (a fresh database is created per run); unset: SQLite
  TEST_REDIS_URL     a Redis URL (a dedicated DB index, flushed per test); unset: in-process substitute
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from app.config import EXAMPLE_FILE

# Tests never read a developer's ./config.toml: the defaults file is the starting point.
os.environ["APP_CONFIG"] = str(EXAMPLE_FILE)
for _name in [n for n in os.environ if n.startswith("APP_") and n != "APP_CONFIG"]:
    del os.environ[_name]

FIXED_NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
# Files and the SQLite task queue of the run live here, never in the project's instance/.
SCRATCH = tempfile.mkdtemp(prefix="volunteer-tests-")
atexit.register(shutil.rmtree, SCRATCH, True)


def _postgres_database(server_url: str) -> Iterator[str]:
    """Create a throwaway database on the server; drop it afterwards."""
    name = f"volunteer_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for the whole run (the migration itself is under test here)."""
    server_url = os.environ.get("TEST_DATABASE_URL")
    if server_url:
        generator = _postgres_database(server_url)
        url = next(generator)
    else:
        generator = None
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(_base_overrides(url))
    with app.app_context():
        upgrade()
        from app.extensions import db

        db.engine.dispose()
    yield url
    if generator is not None:
        next(generator, None)


def _base_overrides(database_url: str) -> dict[str, Any]:
    return {
        "database": {"url": database_url},
        "redis": {"url": os.environ.get("TEST_REDIS_URL", "")},
        # Nothing in tests reaches the network: WeChat calls go to a simulator started by the test.
        "wechat": {"api_base": "http://127.0.0.1:9", "timeout_seconds": 2.0},
        "tasks": {"sqlite_path": os.path.join(SCRATCH, "tasks.db")},
        "files": {"directory": os.path.join(SCRATCH, "files")},
    }


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


@pytest.fixture
def make_app(database_url: str):
    """Build an app with extra overrides; every table and the Redis DB are emptied after the test."""
    from app import create_app

    built = []

    def factory(**overrides: Any):
        app = create_app(deep_merge(_base_overrides(database_url), overrides))
        app.config["TESTING"] = True
        built.append(app)
        return app

    yield factory
    import redis

    for app in built:
        with app.app_context():
            from app.extensions import db

            try:
                _empty_tables(app)
                app.extensions["redis"].flushdb()
                from app.tasks import huey

                huey.flush()
            except (sa.exc.OperationalError, redis.ConnectionError):
                # Apps that tests built on purpose with an unreachable database or Redis.
                pass
            db.engine.dispose()


def _empty_tables(app) -> None:
    from app.extensions import db

    db.session.remove()
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            connection.commit()
        return
    # The region tree references itself: checks go off for this cleanup only. PRAGMA foreign_keys
    # is ignored inside a transaction, so this runs on the raw connection, outside any.
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        for table in tables:
            cursor.execute(f'DELETE FROM "{table}"')
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
    finally:
        raw.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW


@pytest.fixture
def world(app_context, now):
    """The common cast (tests/factories.py World), built lazily in the test's app context.

    A module that needs more overrides this fixture with one that takes it (`def world(world): ...`).
    """
    from tests import factories

    return factories.World(now)


@pytest.fixture
def simulator(app):
    """A WeChat simulator on its own port; the app's gateway is pointed at it."""
    from tests.fakes import running_simulator

    with running_simulator(app) as sim:
        yield sim


def pytest_report_header(config) -> list[str]:
    return [f"backends: database={'postgresql' if os.environ.get('TEST_DATABASE_URL') else 'sqlite'}, "
            f"redis={'redis server' if os.environ.get('TEST_REDIS_URL') else 'in-process substitute'}"]
