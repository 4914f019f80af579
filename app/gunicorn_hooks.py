"""Gunicorn server hooks for the web process; `gunicorn.conf.py` and the demo's settings take them from here."""

from __future__ import annotations

import gc
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Move what loading the app built (about 250,000 objects) out of the garbage collector's reach.

    Without this, each of the worker's full collections walks the whole app, libraries included:
    about 150 ms with the GIL held, during which the request it is serving waits and the worker
    accepts no other. Frozen, a full collection walks only what requests have built since. The
    collection first keeps garbage left over from loading from being frozen with it.
    """
    gc.collect()
    gc.freeze()
