"""The transaction boundary: one commit per request or job item."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (Boolean, ColumnElement, Connection, Executable, FunctionElement, Result, TextClause,
                        bindparam, literal_column, text)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from app.direct_statements import first_row
from app.extensions import db

T = TypeVar("T")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Yield the session; commit once on success, roll back on any error."""
    session = db.session
    try:
        yield session
        # A unit that never touched the database has nothing to commit; skipping saves a hot path
        # (most bot replies) the cost of an empty commit.
        if session().in_transaction():
            session.commit()
    except BaseException:
        session.rollback()
        raise


class _ConnectionUnit:
    """The connection of a `connection_unit`, checked out at its first statement, and its transaction."""

    __slots__ = ("connection", "transaction")

    def __init__(self) -> None:
        self.connection: Connection | None = None
        self.transaction: Any = None

    def connect(self, options: dict[str, Any] | None = None) -> Connection:
        if self.connection is None:
            connection = db.engine.connect()
            if options:
                connection.execution_options(**options)
            # Begun in SQLAlchemy's view so that the unit's commit reaches the driver: statements run
            # by `first_row` bypass the autobegin of `Connection.execute`.
            self.transaction = connection.begin()
            self.connection = connection
        return self.connection

    def close(self, *, commit: bool) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            if commit:
                self.transaction.commit()
        finally:
            connection.close()  # rolls back what did not commit; the pool resets the isolation level


_connection_unit: ContextVar[_ConnectionUnit | None] = ContextVar("connection_unit", default=None)


@contextmanager
def connection_unit() -> Iterator[None]:
    """A unit of work on a pooled connection of its own, without the ORM session: commit once on
    success, roll back on any error, as `unit_of_work` does.

    For the captain's scan that a phone sends, whose statements are all Core statements on
    `unit_connection()`: the session's connection handling (its transaction object, its flush, its
    connection bookkeeping) costs that request 0.14–0.18 ms of CPU, about a tenth of it
    (`bench/statement_cost.py`, unit-conn against unit-direct). Inside, `unit_connection()`,
    `execute_first`, `first_row_of_first` and `begin_transaction` act on this connection, checked out
    at the first statement (with its autocommit, as in `execute_first`) and retried as there.
    """
    unit = _ConnectionUnit()
    token = _connection_unit.set(unit)
    try:
        yield
        unit.close(commit=True)
    except BaseException:
        unit.close(commit=False)
        raise
    finally:
        _connection_unit.reset(token)


def core_unit_of_work() -> AbstractContextManager[Any]:
    """The unit of work for a request whose statements are all Core statements on `unit_connection()`
    (the scan a phone sends): a `connection_unit` on PostgreSQL.

    A caller that shares its app context with the request (a test, a CLI command) and has a
    transaction in progress gets `unit_of_work` on its session instead, so the request sees the
    caller's uncommitted rows and commits them with its own, as a Flask request in that context
    would. SQLite (the one-process demo) always uses the session: its transactions take the database's
    one write lock, which a second connection would wait for behind the caller's.
    """
    if db.engine.dialect.name != "postgresql" or (db.session.registry.has() and db.session().in_transaction()):
        return unit_of_work()
    return connection_unit()


def unit_connection() -> Connection:
    """The connection the unit's next Core statement runs on: the `connection_unit`'s, or the session's.

    The session's is flushed first, as an ORM query autoflushes, so the statement sees the unit's
    pending objects (a no-op when nothing is pending).
    """
    unit = _connection_unit.get()
    if unit is not None:
        return unit.connect()
    db.session.flush()
    return db.session.connection()


def execute_first(statement: Executable, params: dict[str, Any] | None = None, *,
                  autocommit: bool = False) -> Result:
    """Execute the unit's first statement (the session's, or a `connection_unit`'s), once more if its
    connection was dropped.

    The pool pings no connection it hands out (a round trip per request); it discards those the
    server has closed while they sat idle, seen without a round trip (`app.extensions`, checkout).
    A connection that dies after that check fails on its first statement with a disconnect error:
    nothing ran on it and nothing was committed, so the unit is rolled back (the pool discards
    the connection and reconnects the others it holds) and the statement runs again on a fresh
    one, exactly once. Any later statement that fails is not repeated: the request fails, as before.
    Every request's authentication runs through here, so a request's whole unit of work starts on a
    connection that answered.

    With `autocommit` (PostgreSQL; ignored on SQLite), the unit runs in autocommit until it calls
    `begin_transaction()`: each statement commits alone as it ends, durably, with no BEGIN and no
    COMMIT round trip. That is for a unit whose reads need no common snapshot (under READ COMMITTED
    a transaction's statements each take their own) and whose every write is one statement, or
    begins a transaction first. The connection goes back to the pool in the default mode whatever
    happens (SQLAlchemy resets the isolation level it was checked out with).
    """
    return _as_first_statement(lambda connection: connection.execute(statement, params), autocommit=autocommit)


def first_row_of_first(statement: Executable, params: dict[str, Any], *, autocommit: bool = False) -> Any:
    """`execute_first(statement, params, autocommit=…).first()`, run by psycopg directly on PostgreSQL
    (`app.direct_statements.first_row`): for the scan's door query."""
    return _as_first_statement(lambda connection: first_row(connection, statement, params), autocommit=autocommit)


def _as_first_statement(run: Callable[[Connection], T], *, autocommit: bool) -> T:
    unit = _connection_unit.get()
    if unit is not None:
        first = unit.connection is None
        options = _AUTOCOMMIT if autocommit and first and db.engine.dialect.name == "postgresql" else None
        try:
            return run(unit.connect(options))
        except DBAPIError as exc:
            if not (first and exc.connection_invalidated):
                raise
            unit.close(commit=False)
            return run(unit.connect(options))
    session = db.session
    first = not session().in_transaction()
    options = _AUTOCOMMIT if autocommit and first and session.get_bind().dialect.name == "postgresql" else None
    try:
        return run(session.connection(execution_options=options))
    except DBAPIError as exc:
        if not (first and exc.connection_invalidated):
            raise
        session.rollback()
        return run(session.connection(execution_options=options))


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def _autocommits(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql" and bool(connection.connection.driver_connection.autocommit)


def begin_transaction() -> None:
    """From the next statement on, the unit's statements are one transaction, committed with the unit.

    For a unit that started in autocommit and must now write with several statements at once (they
    all commit, or none); a no-op in a unit that is a transaction already. psycopg sends BEGIN before
    the next statement, and the session's commit or rollback ends the transaction as usual.
    """
    connection = unit_connection()
    if _autocommits(connection):
        connection.connection.driver_connection.autocommit = False


def upsert_insert(model: type) -> Any:
    """An INSERT that takes `on_conflict_do_nothing/do_update` on both backends (PostgreSQL or SQLite)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def insert_unless_present(model: type, values: dict[str, Any]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None if a unique key existed.

    One round trip where a savepoint around a plain INSERT takes three. SQLAlchemy does not cache
    the compiled form of its dialect-specific `insert().on_conflict_do_nothing()` (it has no cache
    key), and this runs on every scan at the door; the same statement as text, with the columns'
    own types for the values, is compiled once.
    """
    statement = _insert_unless_present_statement(model, tuple(sorted(values)))
    return unit_connection().execute(statement, values).scalar()


@lru_cache(maxsize=64)
def _insert_unless_present_statement(model: type, keys: tuple[str, ...]) -> TextClause:
    table = model.__table__
    columns = ", ".join(keys)
    placeholders = ", ".join(f":{key}" for key in keys)
    return (text(f"INSERT INTO {table.name} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING id")
            .bindparams(*(bindparam(key, type_=table.c[key].type) for key in keys))
            .columns(table.c.id))


class SecondRowPresent(Exception):
    """`insert_both_unless_present` in autocommit: the first row would have gone in, the second's unique
    key was taken; the statement failed, so neither was written."""


def insert_both_unless_present(first: type, first_values: dict[str, Any], second: type,
                               second_values: dict[str, Any]) -> tuple[int | None, int | None]:
    """`insert_unless_present` of `first`, then of `second` only if `first` went in: both new ids (or None).

    On PostgreSQL one statement (two data-modifying CTEs, the second inserting only when the first
    returned its id): one round trip where two statements take two. Each INSERT keeps its own `ON
    CONFLICT DO NOTHING` and waits at its unique key for a concurrent one exactly as alone, so the
    outcomes are those of the two statements in a row. On SQLite (no INSERT inside WITH), two.

    In a unit that commits each statement (started in autocommit, `execute_first`) the statement is
    all there is to undo: the second INSERT has no `ON CONFLICT`, so when its key is taken the whole statement fails,
    neither row is written and SecondRowPresent is raised where a transaction would return
    (first id, None) for its caller to roll back.
    """
    connection = unit_connection()
    if connection.dialect.name != "postgresql":
        first_id = insert_unless_present(first, first_values)
        return (None, None) if first_id is None else (first_id, insert_unless_present(second, second_values))
    alone = _autocommits(connection)
    statement = _insert_both_statement(first, tuple(sorted(first_values)), second, tuple(sorted(second_values)),
                                       second_may_conflict=not alone)
    params = {**{f"a_{key}": value for key, value in first_values.items()},
              **{f"b_{key}": value for key, value in second_values.items()}}
    try:
        return tuple(first_row(connection, statement, params))  # type: ignore[return-value]
    except IntegrityError as exc:
        if alone and _unique_violation(exc, second.__table__.name):
            raise SecondRowPresent() from None
        raise


def _unique_violation(exc: IntegrityError, table: str) -> bool:
    cause = exc.orig
    return getattr(cause, "sqlstate", None) == "23505" and getattr(cause.diag, "table_name", None) == table


@lru_cache(maxsize=16)
def _insert_both_statement(first: type, first_keys: tuple[str, ...], second: type, second_keys: tuple[str, ...], *,
                           second_may_conflict: bool) -> TextClause:
    a, b = first.__table__, second.__table__
    on_conflict = " ON CONFLICT DO NOTHING" if second_may_conflict else ""
    return (text(f"WITH a AS (INSERT INTO {a.name} ({', '.join(first_keys)}) "
                 f"VALUES ({', '.join(f':a_{key}' for key in first_keys)}) ON CONFLICT DO NOTHING RETURNING id), "
                 f"b AS (INSERT INTO {b.name} ({', '.join(second_keys)}) "
                 f"SELECT {', '.join(f':b_{key}' for key in second_keys)} FROM a{on_conflict} RETURNING id) "
                 "SELECT (SELECT id FROM a) AS first_id, (SELECT id FROM b) AS second_id")
            .bindparams(*(bindparam(f"a_{key}", type_=a.c[key].type) for key in first_keys),
                        *(bindparam(f"b_{key}", type_=b.c[key].type) for key in second_keys)))


class JsonArrayOverlaps(ColumnElement):
    """True when a JSON array column holds any of `values` (skills, categories): SQLite and PostgreSQL."""

    type = Boolean()
    # The values are not part of a cache key, so statements using this are compiled each time.
    inherit_cache = False

    def __init__(self, column: ColumnElement, values: Sequence[str]):
        self.column = column
        self.values = tuple(values)


@compiles(JsonArrayOverlaps, "sqlite")
def _overlaps_sqlite(element: JsonArrayOverlaps, compiler: Any, **kw: Any) -> str:
    condition = literal_column("json_each.value").in_(element.values)
    return (f"EXISTS (SELECT 1 FROM json_each({compiler.process(element.column, **kw)}) "
            f"WHERE {compiler.process(condition, **kw)})")


@compiles(JsonArrayOverlaps, "postgresql")
def _overlaps_postgresql(element: JsonArrayOverlaps, compiler: Any, **kw: Any) -> str:
    condition = literal_column("element").in_(element.values)
    return (f"EXISTS (SELECT 1 FROM json_array_elements_text({compiler.process(element.column, **kw)}) AS element "
            f"WHERE {compiler.process(condition, **kw)})")


class JsonArrayHolds(ColumnElement):
    """True when a JSON array column holds `value`: on PostgreSQL `(column::jsonb) @> '[value]'`, which
    the GIN expression indexes of the volunteer directory answer (migration 0011); on SQLite json_each."""

    type = Boolean()
    inherit_cache = False

    def __init__(self, column: ColumnElement, value: str):
        self.column = column
        self.value = value


@compiles(JsonArrayHolds, "sqlite")
def _holds_sqlite(element: JsonArrayHolds, compiler: Any, **kw: Any) -> str:
    return compiler.process(JsonArrayOverlaps(element.column, [element.value]), **kw)


@compiles(JsonArrayHolds, "postgresql")
def _holds_postgresql(element: JsonArrayHolds, compiler: Any, **kw: Any) -> str:
    import json

    value = compiler.process(bindparam(None, json.dumps([element.value], ensure_ascii=False), unique=True), **kw)
    return f"(CAST({compiler.process(element.column, **kw)} AS JSONB) @> CAST({value} AS JSONB))"


class JsonArrayElements(FunctionElement):
    """The elements of a JSON array column as rows (column `value`, text), to GROUP BY them.

    Use as `JsonArrayElements(column).table_valued("value")` joined ON true: `json_each` on SQLite,
    `json_array_elements_text` on PostgreSQL, each reading the row's array once (where one
    `JsonArrayHolds` per element value would parse it once per value).
    """

    inherit_cache = True


@compiles(JsonArrayElements, "sqlite")
def _elements_sqlite(element: JsonArrayElements, compiler: Any, **kw: Any) -> str:
    return f"json_each({compiler.process(element.clauses, **kw)})"


@compiles(JsonArrayElements, "postgresql")
def _elements_postgresql(element: JsonArrayElements, compiler: Any, **kw: Any) -> str:
    return f"json_array_elements_text({compiler.process(element.clauses, **kw)})"
