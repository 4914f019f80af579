"""Keyset paging for lists: an opaque cursor holds the sort key and id of the last row shown.

Lists answer `{items, next_cursor, total}` (README, "Lists"); the next page is the rows after the
cursor in the list's order, never an OFFSET. A cursor is base64url JSON of a list of values, so a
client cannot read meaning into it, and garbage is refused with 422 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.errors import DomainError


def invalid_cursor() -> DomainError:
    """The one refusal for a cursor this server did not hand out."""
    return DomainError("invalid_cursor", "翻页参数无效，请从第一页重新加载", 422, fields={"cursor": "无效"})


def encode_cursor(values: tuple) -> str:
    """The cursor after a row whose sort key is `values` (text, numbers, None; datetimes as ISO text)."""
    raw = json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values], separators=(",", ":"),
                     ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int | None = None) -> tuple:
    """The values of a cursor from encode_cursor(); with `size`, exactly that many; else 422 invalid_cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None
    if not isinstance(values, list) or (size is not None and len(values) != size) \
            or not all(v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
        raise invalid_cursor()
    return tuple(values)


def page_of(rows: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """Split `limit + 1` fetched rows into the page and the cursor of its last row (None when no more)."""
    if len(rows) <= limit:
        return rows, None
    shown = rows[:limit]
    return shown, encode_cursor(tuple(key(shown[-1])))
