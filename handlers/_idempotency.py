"""The handler side of idempotent writes: a view opts in with one call to `idempotent`.

    @blueprint.post(f"/things/{id_path('thing_id')}/frob")
    def frob(thing_id: int, json: FrobBody):       # FrobBody has `nonce: Nonce`
        return idempotent("things.frob", json, lambda: (_view(things.frob(...)), 201), thing_id=thing_id)

See `app/services/idempotency.py` for what it guarantees and how.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field

from app.db import unit_of_work
from app.errors import DomainError
from app.services import idempotency
from app.timeutil import current_time
from handlers._auth import current_account_id

# Required: a write a client may retry is only safe to retry if it says which attempt it repeats.
Nonce = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                             description="客户端为每次操作生成的随机串（8–64 位字母、数字、_ 或 -）；"
                                         "重试时带同一 nonce，返回第一次的结果且不再生效")]
# Set on an answer that is a stored first answer rather than a new effect.
REPLAYED_HEADER = "Idempotent-Replayed"


def idempotent(operation: str, body: BaseModel, write: Callable[[], tuple[BaseModel, int]], **target: Any) -> Any:
    """Run `write` (the service call and its serialisation) once per (caller, operation, nonce).

    `body` is the validated request body with a `nonce`; `target` names what the write acts on
    (the path's ids), so the same nonce on another target is `nonce_reused`. Returns what the view
    returns: the new answer, or the first answer again with the `Idempotent-Replayed` header.
    """
    account_id = current_account_id()
    nonce = body.nonce  # type: ignore[attr-defined]
    print_ = idempotency.fingerprint({"target": target, "body": body.model_dump(mode="json", exclude={"nonce"})})
    try:
        with unit_of_work():
            first = idempotency.earlier(account_id, operation, nonce, print_)
            if first is None:
                model, status = write()
                idempotency.remember(account_id, operation, nonce, print_,
                                     idempotency.Answer(status, model.model_dump(mode="json")), now=current_time())
                return model, status
    except idempotency.AnsweredMeanwhile as meanwhile:
        first = meanwhile.answer
    except idempotency.NonceReused:
        raise
    except DomainError:
        # A repeat that waited for the first at a row lock and was refused because of its effect.
        with unit_of_work():
            first = idempotency.earlier(account_id, operation, nonce, print_)
        if first is None:
            raise
    return first.body, first.status_code, {REPLAYED_HEADER: "true"}
