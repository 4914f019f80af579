"""Keyset paging for every management list: an opaque cursor and the one `WHERE (key, id) > cursor`.

The convention (README, "Lists"): `?limit=` 1–100 (default 20), `?cursor=` from the previous
answer, `?sort=` a field the list allows (`-field` for descending) → `{items, next_cursor, total}`.
A page never uses OFFSET: it continues after the last row's (sort key, id), so a deep page costs
what the first does, and rows added meanwhile do not shift the pages.

A cursor is base64url JSON of the last row's key values; datetimes travel as ISO text and come
back as datetimes. A cursor that does not decode is refused with 422 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, select, tuple_

from app.errors import DomainError


def invalid_cursor() -> DomainError:
    return DomainError("invalid_cursor", "翻页参数无效，请从第一页重新加载", 422, fields={"cursor": "无效"})


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if hasattr(value, "value") and isinstance(getattr(value, "value"), str):  # a StrEnum
        return value.value
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"dt"} and isinstance(value["dt"], str):
            return datetime.fromisoformat(value["dt"])
        if set(value) == {"d"} and isinstance(value["d"], str):
            return date.fromisoformat(value["d"])
        raise ValueError("unknown cursor value")
    if value is None or isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    raise ValueError("unknown cursor value")


def encode_cursor(values: tuple) -> str:
    """The opaque cursor for a row's key values (sort key first, id last)."""
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(s: str, size: int | None = None) -> tuple:
    """The key values a cursor carries (exactly `size` of them, if given); anything that is not one
    of ours is 422 invalid_cursor."""
    try:
        if len(s) > 1000:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        values = json.loads(raw.decode("utf-8"))
        if not isinstance(values, list) or not values or (size is not None and len(values) != size):
            raise ValueError("not a list of the expected size")
        return tuple(_decode_value(v) for v in values)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise invalid_cursor() from None


@dataclass(frozen=True)
class Keyset:
    """An ordering by (sort column, id), both in one direction, and its cursor condition."""

    columns: tuple[ColumnElement, ...]
    descending: bool = False
    # The cursor carries only the last row's id (the last column) and the key is read back from the
    # table: for keys a client must not see, such as a person's name under masking.
    by_reference: bool = False

    def order_by(self) -> list[ColumnElement]:
        return [c.desc() if self.descending else c.asc() for c in self.columns]

    def after(self, values: tuple) -> ColumnElement:
        """The rows after the one whose key values the cursor carries (a row-value comparison, index friendly)."""
        if len(values) != len(self.columns):
            raise invalid_cursor()
        for column, value in zip(self.columns, values):
            if not _fits(column, value):
                raise invalid_cursor()
        left = tuple_(*self.columns)
        right = tuple_(*(literal(value, type_=column.type) for column, value in zip(self.columns, values)))
        return left < right if self.descending else left > right


def _fits(column: ColumnElement, value: Any) -> bool:
    """Whether a cursor's value has the column's Python type (a forged cursor must not reach SQL as a 500)."""
    column_type = getattr(column.type, "impl_instance", column.type)  # a TypeDecorator: the type it stores as
    try:
        expected = column_type.python_type
    except NotImplementedError:
        return False
    if expected is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63
    if issubclass(expected, str):
        return isinstance(value, str) and "\x00" not in value
    return isinstance(value, expected)


def keyset_page(query: Select, keyset: Keyset, *, limit: int, cursor: str | None,
                key_of: Any = None) -> tuple[list[Any], str | None]:
    """One page of `query` in the keyset's order, and the cursor of the next page (None on the last).

    `key_of(row)` gives a row's key values (the keyset's columns, in order); by default the row's
    attributes named like the columns.
    """
    rows, next_cursor, _ = keyset_page_carrying(query, keyset, limit=limit, cursor=cursor, key_of=key_of)
    return rows, next_cursor


def keyset_page_carrying(query: Select, keyset: Keyset, *, limit: int, cursor: str | None, key_of: Any = None,
                         carry: tuple = ()) -> tuple[list[Any], str | None, tuple]:
    """`keyset_page`, with values carried from page to page in the cursor after the key (e.g. the
    total counted on the first page, so a deep page does not count again): the values the cursor
    brought (None on the first page) are returned, `carry` goes into the next cursor."""
    from app.extensions import db

    carried: tuple = ()
    if cursor is not None:
        values = decode_cursor(cursor)
        width = 1 if keyset.by_reference else len(keyset.columns)
        if len(values) != width + len(carry):
            raise invalid_cursor()
        carried, key = values[width:], values[:width]
        if keyset.by_reference:
            if not _fits(keyset.columns[-1], key[0]):
                raise invalid_cursor()
            found = db.session.execute(select(*keyset.columns).where(keyset.columns[-1] == key[0])).first()
            if found is None:
                raise invalid_cursor()
            key = tuple(found)
        query = query.where(keyset.after(key))

    rows = list(db.session.execute(query.order_by(*keyset.order_by()).limit(limit + 1)))
    rows = [row[0] if len(row) == 1 else row for row in rows]
    if len(rows) <= limit:
        return rows, None, carried
    rows = rows[:limit]
    last = rows[-1]
    values = tuple(key_of(last) if key_of else tuple(getattr(last, c.key) for c in keyset.columns))
    if keyset.by_reference:
        values = values[-1:]
    return rows, encode_cursor(values + tuple(carry)), carried


def sort_keyset(sort: str, allowed: dict[str, ColumnElement], id_column: ColumnElement, *,
                by_reference: bool = False) -> Keyset:
    """The keyset for `?sort=field` / `?sort=-field` among the fields a list allows."""
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    if name not in allowed:
        raise DomainError("invalid_sort", "不支持的排序字段", 422, fields={"sort": "可选：" + "、".join(sorted(allowed))})
    column = allowed[name]
    columns: Sequence[ColumnElement] = (column,) if column is id_column else (column, id_column)
    return Keyset(columns=tuple(columns), descending=descending, by_reference=by_reference)
