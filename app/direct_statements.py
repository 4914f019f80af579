"""The captain's scan's statements, run by psycopg directly on the unit's connection.

SQLAlchemy's execution of one compiled, cached Core statement costs 120–220 µs of CPU above
psycopg's own for the scan's door query, `first_row` 70–100 µs (`bench/statement_cost.py`): a new
execution context, parameter and result set-up, the result's row objects. A scan is two or three
statements, and at a festival the scans are what the two cores do all day, so for them `first_row`
does only what those statements need:

- the statement is compiled once per dialect and kept (`_Plan`), its parameters converted by the
  processors SQLAlchemy compiled for their types, its columns by their types' result processors,
  looked up once from the first answer's description;
- the row is a named tuple (attributes and indexes; no `_mapping`);
- everything SQLAlchemy guarantees around a statement still happens through it: the connection is
  the session's (its transaction, or autocommit, as the unit set it up), `before_cursor_execute`
  and `after_cursor_execute` listeners are called, and a driver error goes through the connection's
  own error handling, which wraps it (IntegrityError, ...) and invalidates a dropped connection.

A statement with parameters expanded at execution (IN lists) is not planned: it runs through
SQLAlchemy, as every statement does on SQLite.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Callable
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Executable
from sqlalchemy.exc import ResourceClosedError

_Processor = Callable[[Any], Any]


class _Plan:
    """A statement compiled for PostgreSQL with psycopg, and how its parameters and columns convert."""

    __slots__ = ("compiled", "sql", "bind_processors", "names", "row_type", "result_processors")

    def __init__(self, statement: Executable, connection: Connection) -> None:
        self.compiled = statement.compile(dialect=connection.dialect)  # type: ignore[attr-defined]
        self.sql = self.compiled.string
        self.bind_processors: dict[str, _Processor] = dict(self.compiled._bind_processors)
        self.names = [column.keyname for column in self.compiled._result_columns]
        self.row_type: type | None = None
        self.result_processors: list[_Processor | None] = []

    def plannable(self) -> bool:
        return not (self.compiled.literal_execute_params or self.compiled.post_compile_params)

    def learn_columns(self, connection: Connection, description: Any) -> None:
        """The row type and each column's result processor, from the first answer's column types."""
        columns = self.compiled._result_columns
        if columns:
            self.result_processors = [column.type._cached_result_processor(connection.dialect, field.type_code)
                                      for column, field in zip(columns, description)]
        else:  # a text statement without declared columns: the driver's values, as SQLAlchemy gives them
            self.names = [field.name for field in description]
            self.result_processors = [None] * len(description)
        self.row_type = namedtuple("Row", self.names)  # type: ignore[misc]


# Kept per statement object, for as long as the statement lives (a module constant: the process).
_plans: WeakKeyDictionary[Executable, _Plan | None] = WeakKeyDictionary()


def _plan_of(statement: Executable, connection: Connection) -> _Plan | None:
    """The statement's plan for this connection's dialect; None for one that SQLAlchemy must run."""
    plan = _plans.get(statement)
    if plan is not None and plan.compiled.dialect is connection.dialect:
        return plan
    if plan is None and statement in _plans:
        return None
    plan = _Plan(statement, connection)
    _plans[statement] = plan if plan.plannable() else None
    return _plans[statement]


def first_row(connection: Connection, statement: Executable, params: dict[str, Any]) -> Any:
    """`connection.execute(statement, params).first()`, run by psycopg directly on PostgreSQL.

    `statement` must be built once (a module constant or a cached one): its plan is kept per object.
    """
    plan = _plan_of(statement, connection) if connection.dialect.name == "postgresql" else None
    if plan is None:
        return connection.execute(statement, params).first()
    sql, values = plan.sql, params
    try:  # a missing parameter is SQLAlchemy's StatementError, as through `execute`
        values = plan.compiled.construct_params(params)
        for key, process in plan.bind_processors.items():
            if key in values:
                values[key] = process(values[key])
    except Exception as error:  # noqa: BLE001 - handed to SQLAlchemy, which re-raises it wrapped
        connection._handle_dbapi_exception(error, sql, params, None, None)
    cursor = connection.connection.driver_connection.cursor()
    with_events = connection._has_events or connection.engine._has_events
    try:
        if with_events:
            for listener in connection.dispatch.before_cursor_execute:
                sql, values = listener(connection, cursor, sql, values, None, False)
        cursor.execute(sql, values)
        if with_events:
            for listener in connection.dispatch.after_cursor_execute:
                listener(connection, cursor, sql, values, None, False)
        if plan.row_type is None:  # psycopg builds `description` anew on each access: read it once
            description = cursor.description
            if description is None:  # SQLAlchemy's `.first()` refuses it too, after running it
                raise ResourceClosedError("This result object does not return rows.")
            plan.learn_columns(connection, description)
        found = cursor.fetchone()
    except ResourceClosedError:
        raise
    except BaseException as error:  # noqa: BLE001 - handed to SQLAlchemy, which re-raises it wrapped
        connection._handle_dbapi_exception(error, sql, values, cursor, None)
    finally:
        cursor.close()
    if found is None:
        return None
    return plan.row_type(*[value if process is None else process(value)  # type: ignore[misc]
                           for process, value in zip(plan.result_processors, found)])
