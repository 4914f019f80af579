"""The delivery worker: fans announcements out, sends the outbox, links new followers.

Transactions: each step here owns its commit (`unit_of_work`), as a request does; the services
only flush. The exception is sending itself (`Deliverer.deliver_once`): it commits each claim
before WeChat is called and each batch of outcomes after, inside the pass, because a claim must
outlive the worker and no transaction may stay open across a WeChat call (docs/ARCHITECTURE.md).

Run any number, on any host (`flask jobs worker`): rows are claimed with SKIP LOCKED and the send
rates are token buckets in Redis shared by all of them. While Redis is unreachable a worker
claims nothing (it cannot respect the shared rate) and tries again; the rows wait in the database.
"""

from __future__ import annotations

import logging
import signal
import time

import redis
from flask import Flask

from app.db import unit_of_work
from app.extensions import db, get_gateway, get_redis, settings
from app.services import broadcasts, delivery
from app.timeutil import now_utc
from jobs import followers

logger = logging.getLogger(__name__)
# Rows left `sending` by a dead worker are looked for this often (seconds).
RECOVERY_EVERY_SECONDS = 15.0
# Longest pause while the shared rate limit or Redis holds the worker back.
MAX_WAIT_SECONDS = 1.0
# While a channel is busy (its batches come back full) the worker sends batch after batch of it and
# does the rest of a full pass (fan-out, the other channel, the group robots, follower linking) at
# most this often, so those run regularly without costing a handful of queries per batch.
FULL_PASS_EVERY_SECONDS = 1.0


def run_worker(app: Flask, *, once: bool = False, interval: float = 1.0) -> None:
    """Work until stopped; SIGTERM/SIGINT finish the batch in hand first."""
    stopping = False

    def _stop(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    if not once:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    with app.app_context():
        conf = settings()
        deliverer = delivery.Deliverer(get_gateway(), get_redis(), conf["delivery"], pii_key=conf["app"]["pii_key"])
        logger.info("delivery worker started")
        try:
            work_loop(deliverer, conf, should_stop=lambda: stopping, once=once, interval=interval)
        finally:
            deliverer.close()


def work_loop(deliverer: delivery.Deliverer, conf, *, should_stop, once: bool = False, interval: float = 1.0) -> None:
    """Pass after pass until `should_stop()`: a full pass at least every FULL_PASS_EVERY_SECONDS, and
    between full passes, while a channel is busy, batches of the busy channels only."""
    next_recovery = 0.0
    next_full_pass = 0.0
    busy: frozenset = frozenset()
    while not should_stop():
        if time.monotonic() >= next_recovery:
            next_recovery = time.monotonic() + RECOVERY_EVERY_SECONDS
            _guarded(lambda: _recover_lost(conf))
        full = not busy or time.monotonic() >= next_full_pass
        if full:
            next_full_pass = time.monotonic() + FULL_PASS_EVERY_SECONDS
        worked, wait, busy = _one_pass(deliverer, conf, busy=None if full else busy)
        if once:
            break
        if not worked:
            time.sleep(min(MAX_WAIT_SECONDS, wait) if wait else interval)


def _one_pass(deliverer: delivery.Deliverer, conf, *, busy: frozenset | None = None) -> tuple[bool, float, frozenset]:
    """One pass; (did anything, seconds to wait, the channels still busy).

    busy None: a full pass (fan out one batch, one batch per person channel, the group robots, link
    followers). Otherwise one batch of each busy channel only.
    """
    fanned = linked = 0
    try:
        if busy is None:
            with unit_of_work():  # one fan-out batch: its rows, credits and cursor commit together
                fanned = broadcasts.fan_out_next(now=now_utc(), batch_size=conf["delivery"]["fanout_batch_size"])
            result = deliverer.deliver_once(now=now_utc())
            linked = followers.link_new_followers(get_gateway(), now=now_utc())
        else:
            result = deliverer.deliver_once(now=now_utc(), channels=[c for c in delivery.PERSON_CHANNELS if c in busy],
                                            robots=False, busy=busy)
    except redis.RedisError as exc:
        logger.warning("redis unavailable (%s); delivery paused", type(exc).__name__)
        db.session.rollback()
        return False, MAX_WAIT_SECONDS, frozenset()
    except Exception:
        logger.exception("delivery pass failed; retrying")
        db.session.rollback()
        return False, MAX_WAIT_SECONDS, frozenset()
    finally:
        db.session.remove()
    if result.worked or fanned or linked:
        logger.info("delivery pass: fanned out %d, %s, linked %d", fanned, dict(result.counts), linked)
    return bool(result.worked or fanned or linked), result.wait_seconds, result.busy


def _recover_lost(conf) -> int:
    with unit_of_work():
        return delivery.recover_lost(now=now_utc(), lease_seconds=conf["delivery"]["lease_seconds"])


def _guarded(step) -> None:
    try:
        step()
    except Exception:
        logger.exception("delivery recovery failed; will retry")
        db.session.rollback()
    finally:
        db.session.remove()
