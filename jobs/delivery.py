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
        next_recovery = 0.0
        try:
            while not stopping:
                if time.monotonic() >= next_recovery:
                    next_recovery = time.monotonic() + RECOVERY_EVERY_SECONDS
                    _guarded(lambda: _recover_lost(conf))
                worked, wait = _one_pass(deliverer, conf)
                if once:
                    break
                if not worked:
                    time.sleep(min(MAX_WAIT_SECONDS, wait) if wait else interval)
        finally:
            deliverer.close()


def _one_pass(deliverer: delivery.Deliverer, conf) -> tuple[bool, float]:
    """Fan out one batch, send one batch per channel, link followers; (did anything, seconds to wait)."""
    try:
        with unit_of_work():  # one fan-out batch: its rows, credits and cursor commit together
            fanned = broadcasts.fan_out_next(now=now_utc(), batch_size=conf["delivery"]["fanout_batch_size"])
        result = deliverer.deliver_once(now=now_utc())
        linked = followers.link_new_followers(get_gateway(), now=now_utc())
    except redis.RedisError as exc:
        logger.warning("redis unavailable (%s); delivery paused", type(exc).__name__)
        db.session.rollback()
        return False, MAX_WAIT_SECONDS
    except Exception:
        logger.exception("delivery pass failed; retrying")
        db.session.rollback()
        return False, MAX_WAIT_SECONDS
    finally:
        db.session.remove()
    if result.worked or fanned or linked:
        logger.info("delivery pass: fanned out %d, %s, linked %d", fanned, dict(result.counts), linked)
    return bool(result.worked or fanned or linked), result.wait_seconds


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
