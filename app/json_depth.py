"""How deeply a JSON document nests, measured on its bytes without parsing or recursing.

Python's json module, pydantic and our own walks all recurse per level: about 1,000 levels (2 KB of
`[[[…`) exhaust the interpreter's stack and end in RecursionError, a 500. Every JSON input that
arrives from outside (API bodies, WeChat's JSON pushes) is measured first and refused beyond
MAX_JSON_DEPTH, far more than any of our documents needs (the deepest nests three levels).
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 32

# A JSON string, escapes included; brackets inside strings do not nest. The unrolled form
# ("…" with runs of plain bytes between escapes) matches in linear time.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")


def nests_deeper_than(document: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays and objects in `document` nest more than `limit` levels deep.

    Strings are removed, then only brackets kept; each pass removes the innermost pairs, one level
    everywhere at once, so a document at most `limit` deep is gone after `limit` passes. Brackets
    that do not pair up (broken JSON) also count as too deep, which is harmless: broken JSON is
    refused either way.
    """
    if document.count(b"[") + document.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", document).translate(None, _NOT_A_BRACKET)
    for _ in range(limit):
        brackets, removed = _INNERMOST_PAIR.subn(b"", brackets)
        if not brackets:
            return False
        if not removed:
            return True
    return True
