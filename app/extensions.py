"""Shared resources, created unbound here and bound to an app in create_app."""

from __future__ import annotations

import select
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from spectree import SpecTree
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from app.config import PROJECT_ROOT
from app.errors import ErrorBody
from models.base import Base

if TYPE_CHECKING:
    from app.wechat.gateway import WeChatGateway

db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=str(PROJECT_ROOT / "models" / "migrations"))
# The OpenAPI document is generated from the same pydantic models that validate requests.
api_spec = SpecTree(
    "flask",
    title="志愿服务平台 API",
    version="v1",
    path="api/v1/docs",
    annotations=True,
    validation_error_status=422,
    validation_error_model=ErrorBody,
)


def settings() -> Mapping[str, Any]:
    """Return the validated, read-only settings of the current app."""
    return current_app.extensions["settings"]


def get_redis() -> redis.Redis:
    """Return the app's Redis client (a real server, or the in-process substitute)."""
    return current_app.extensions["redis"]


def get_gateway() -> WeChatGateway:
    """Return the app's WeChat gateway."""
    return current_app.extensions["wechat_gateway"]


def make_redis(url: str) -> redis.Redis:
    """Connect to Redis, or build a private in-process substitute when no URL is configured."""
    if url:
        return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def resolve_sqlite_path(url: str) -> str:
    """Make a relative SQLite path absolute from the working directory and create its folder.

    Flask-SQLAlchemy would otherwise put it under the instance folder, surprising anyone who
    reads sqlite:///instance/volunteer.db the way SQLAlchemy documents it.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix):] in ("", ":memory:"):
        return url
    path = Path(url[len(prefix):])
    if not path.is_absolute():
        path = Path.cwd() / path
    path.parent.mkdir(parents=True, exist_ok=True)
    return prefix + str(path)


def engine_options(url: str) -> dict[str, Any]:
    """Return engine options that suit the backend."""
    if url.startswith("sqlite"):
        # Several threads of one process share the file; the busy timeout waits out writers.
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    # No pre-ping (a round trip per request): a connection the server closed while it sat in the pool
    # is found at checkout without one (_drop_closed_on_checkout), and a request's first statement
    # runs once more on a fresh connection if its connection died after all (app.db.execute_first).
    return {"pool_size": 5, "max_overflow": 10, "pool_timeout": 10}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Turn on foreign keys and WAL for SQLite connections; other backends are untouched."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLAlchemy, not pysqlite, decides where transactions begin (see _sqlite_begin): pysqlite's own
    # handling starts them lazily and commits at RELEASE SAVEPOINT, which breaks savepoints.
    dbapi_connection.isolation_level = None


def closed_by_server(dbapi_connection: Any) -> bool:
    """Whether the server has closed an idle psycopg connection (or sent it anything): a local poll of
    its socket, no round trip. An idle connection hears nothing from a live server; a terminated
    backend, a restart or an idle timeout leaves its farewell or end-of-file there to read."""
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        return True
    try:
        poller = select.poll()
        poller.register(dbapi_connection.pgconn.socket,
                        select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except Exception:  # noqa: BLE001 - no socket to poll: the connection is unusable
        return True


@event.listens_for(Pool, "checkout")
def _drop_closed_on_checkout(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """Instead of a pre-ping: a PostgreSQL connection the server closed while it sat in the pool is
    discarded, with every other one pooled before now, and a fresh one handed out (the pool's own
    DisconnectionError handling)."""
    if type(dbapi_connection).__module__.startswith("psycopg") and closed_by_server(dbapi_connection):
        raise exc.InvalidatePoolError("the server closed this pooled connection")


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection: Any) -> None:
    """Begin SQLite transactions with the write lock taken (the recipe in SQLAlchemy's SQLite notes).

    IMMEDIATE makes transactions queue on the busy timeout instead of failing later: a deferred
    transaction that read first and writes second fails at once (SQLITE_BUSY_SNAPSHOT) when another
    one committed in between. SQLite serves the one-process demo, where queueing is harmless.
    """
    if connection.dialect.name == "sqlite":
        # A connection that only reads (an export's stream) takes no write lock: it reads a WAL
        # snapshot while others write, and never writes, so it cannot fail with BUSY_SNAPSHOT.
        read_only = connection.get_execution_options().get("sqlite_read_only")
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def init_extensions(app: Flask) -> None:
    """Bind every shared resource to the app."""
    conf = app.extensions["settings"]
    app.config["SQLALCHEMY_DATABASE_URI"] = resolve_sqlite_path(conf["database"]["url"])
    app.config["SQLALCHEMY_ECHO"] = conf["database"]["echo"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(conf["database"]["url"])
    db.init_app(app)
    migrate.init_app(app, db)
    app.extensions["redis"] = make_redis(conf["redis"]["url"])

    from app.wechat.gateway import WeChatGateway

    app.extensions["wechat_gateway"] = WeChatGateway(conf["wechat"], redis_client=app.extensions["redis"])
