"""Idempotent writes: a client's nonce makes a retried or double-tapped write take effect once.

The one mechanism for every write a client may retry (scans have their own, older, per-activity
table with the same shape of guarantee). A write opts in through `handlers._idempotency.idempotent`,
which does these steps; new modules copy the one line that calls it, not the steps.

1. `earlier()` reads the answer this (account, operation, nonce) already got. The same request
   again gets that answer, with its status, and nothing runs; another request under the same nonce
   (another target or body) is refused with 422 `nonce_reused`.
2. Otherwise the write runs, and `remember()` stores its answer in the same transaction, with
   `INSERT … ON CONFLICT DO NOTHING` on the unique (account, operation, nonce). That key is the
   guarantee: if a concurrent request with the nonce committed first, this insert finds its row
   (PostgreSQL waits for the first transaction at the key) and raises `AnsweredMeanwhile`; the
   caller rolls back its effect and answers with the first answer.
3. A request refused by a rule may have been a repeat that waited for the first at a row lock and
   was then judged against the first one's effect ("already decided", "would go negative"). If its
   nonce was answered meanwhile, the first answer is given instead of the refusal.

Refusals are not stored: they changed nothing, so a retry with the same nonce is judged afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from app.db import insert_unless_present
from app.errors import DomainError
from app.extensions import db
from models import IdempotentRequest


@dataclass(frozen=True)
class Answer:
    """What a write answered: its HTTP status and JSON body."""

    status_code: int
    body: dict[str, Any]


class AnsweredMeanwhile(Exception):
    """A concurrent request with this nonce took effect first: roll back, answer `answer`."""

    def __init__(self, answer: Answer):
        super().__init__("nonce answered meanwhile")
        self.answer = answer


class NonceReused(DomainError):
    def __init__(self) -> None:
        super().__init__("nonce_reused", "该 nonce 已用于另一个请求，请为每个新请求生成新的 nonce", 422,
                         fields={"nonce": "已用于内容不同的请求"})


def fingerprint(request: Mapping[str, Any]) -> str:
    """SHA-256 of the request's target and body, canonical JSON (key order does not matter)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_requests = IdempotentRequest.__table__
_EARLIER = select(_requests.c.fingerprint, _requests.c.status_code, _requests.c.answer).where(
    _requests.c.account_id == bindparam("account_id"), _requests.c.operation == bindparam("operation"),
    _requests.c.nonce == bindparam("nonce"))


def earlier(account_id: int, operation: str, nonce: str, print_: str) -> Answer | None:
    """The answer this nonce already got for the same request; `nonce_reused` for another request."""
    db.session.flush()
    row = db.session.connection().execute(_EARLIER, {"account_id": account_id, "operation": operation,
                                                     "nonce": nonce}).first()
    if row is None:
        return None
    if row.fingerprint != print_:
        raise NonceReused()
    return Answer(row.status_code, row.answer)


def remember(account_id: int, operation: str, nonce: str, print_: str, answer: Answer, *, now: datetime) -> None:
    """Store the answer with the effect; if a concurrent request with the nonce got there first, its answer wins."""
    stored = insert_unless_present(IdempotentRequest, {
        "account_id": account_id, "operation": operation, "nonce": nonce, "fingerprint": print_,
        "status_code": answer.status_code, "answer": answer.body, "created_at": now})
    if stored is None:
        first = earlier(account_id, operation, nonce, print_)
        raise AnsweredMeanwhile(first)
