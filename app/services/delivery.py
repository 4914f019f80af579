"""Delivering the outbox: claim due rows, send them under the shared rate limits, record each outcome.

A worker claims a batch of one channel with `FOR UPDATE SKIP LOCKED` (on SQLite, whose
transactions run one at a time, the same UPDATE without it), marking the rows `sending` with the
claim time, and commits before any request leaves. It then sends the batch in parallel and
records every outcome:

- accepted: `sent`, with WeChat's msgid;
- retryable (system busy, 45009 rate limit, WeChat unreachable): back to `pending` after an
  exponential backoff with jitter, until `max_attempts`;
- permanent (43101 refused, 40003 bad openid, 47003 bad data …): `failed`, never retried; 43101
  also clears the person's subscribe credits for the template (our ledger was wrong);
- unknown (a timeout after the request left, an unreadable answer): `ambiguous`. WeChat's send
  APIs take no idempotency key, so it is counted and never resent blindly.

A worker that dies leaves its batch `sending`; once `lease_seconds` have passed, `recover_lost`
marks those rows ambiguous: only the batch that was in flight can end that way. Tokens are taken
from the channel's bucket before rows are claimed, so a claimed row is sent at once and never waits
for the rate limit while it holds a lease.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import BigInteger, Connection, bindparam, select, text, update

from app.extensions import db
from app.services import group_robots, subscriptions
from app.services.rate_limits import TokenBucket
from app.wechat.errors import WeChatError
from app.wechat.gateway import CallInsideTransaction, WeChatGateway
from models import Account, Notification, NotificationChannel, NotificationStatus
from models.base import UTCDateTime

logger = logging.getLogger(__name__)

USER_REFUSED = 43101
PERSON_CHANNELS = (NotificationChannel.MINIPROGRAM_SUBSCRIBE, NotificationChannel.OFFICIAL_TEMPLATE)
_RATE_SETTING = {
    NotificationChannel.MINIPROGRAM_SUBSCRIBE: "subscribe_per_second",
    NotificationChannel.OFFICIAL_TEMPLATE: "template_per_second",
}
# The burst a channel's bucket saves up, in seconds of its rate. WeChat counts sends per second; what
# reaches it in any second is the rate plus this burst, spread further by the sends' own timing. With
# a tenth of a second, bench/broadcast.py saw 1.12 x the limit in the busiest second at the receiver.
CHANNEL_BURST_SECONDS = 0.05
# Teams whose group robots are served per pass: each gets at most one message (a digest) per token.
ROBOT_TEAMS_PER_PASS = 20


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: NotificationChannel
    payload: Mapping[str, Any]
    attempts: int
    account_id: int | None
    # Where it goes: the person's openid for the channel, or the team's robot webhook key.
    address: str | None


@dataclass(frozen=True)
class Outcome:
    row: Claimed
    msgid: int | None = None
    error: WeChatError | None = None


@dataclass
class PassResult:
    counts: Counter
    # Seconds until a rate limit gives another token, when a limit held the pass back.
    wait_seconds: float = 0.0
    # Person channels that likely have more due rows: their claim filled what the bucket granted,
    # or the bucket granted nothing while they were busy. The worker serves these first.
    busy: frozenset = frozenset()

    @property
    def worked(self) -> bool:
        return sum(self.counts.values()) > 0


class Deliverer:
    """One worker's sending machinery: the channel buckets, a thread pool, the settings."""

    def __init__(self, gateway: WeChatGateway, redis_client: redis.Redis, delivery: Mapping[str, Any], *,
                 pii_key: str):
        self.gateway = gateway
        self.conf = delivery
        self.pii_key = pii_key
        self.buckets = {channel: TokenBucket(redis_client, channel.value, rate=float(delivery[setting]),
                                             capacity=max(1.0, float(delivery[setting]) * CHANNEL_BURST_SECONDS))
                        for channel, setting in _RATE_SETTING.items()}
        self.redis = redis_client
        self.concurrency = int(delivery["concurrency"])
        # The calling thread sends too, so concurrency - 1 helpers.
        self.pool = ThreadPoolExecutor(max_workers=max(1, self.concurrency - 1), thread_name_prefix="send")
        # Claims and outcomes go through a database connection of the worker's own, kept from batch
        # to batch (no pool checkout and ping per statement); each claim and each batch of outcomes
        # is still its own committed transaction, and none is open while a batch is sent.
        self._connection: Connection | None = None

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self._drop_connection()

    def _db(self) -> Connection:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._drop_connection()
            self._connection = db.engine.connect()
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - a broken connection is being thrown away anyway
                logger.debug("closing the delivery connection failed", exc_info=True)

    def _in_own_transaction(self, step):
        """Run `step(connection)` on the worker's connection; on any failure roll back and start afresh next time."""
        connection = self._db()
        try:
            return step(connection)
        except BaseException:
            try:
                connection.rollback()
            except Exception:  # noqa: BLE001
                pass
            self._drop_connection()
            raise

    def deliver_once(self, *, now: datetime, channels: Sequence[NotificationChannel] = PERSON_CHANNELS,
                     robots: bool = True, busy: frozenset = frozenset()) -> PassResult:
        """One pass: at most one batch per person channel in `channels`, then (if `robots`) the group robots.

        `busy`: the channels the previous pass found busy; one whose bucket now grants nothing stays busy.
        """
        result = PassResult(Counter())
        batch_size = int(self.conf["batch_size"])
        still_busy = set()
        for channel in channels:
            grant = self.buckets[channel].take(batch_size)
            if grant.granted == 0:
                result.wait_seconds = max(result.wait_seconds, grant.wait_seconds)
                if channel in busy:
                    still_busy.add(channel)
                continue
            rows = self._in_own_transaction(
                lambda connection: claim(channel, grant.granted, now=now, connection=connection))
            if rows:
                result.counts.update(self._send_and_record(channel, rows, now=now))
            if len(rows) == grant.granted:
                still_busy.add(channel)
        result.busy = frozenset(still_busy)
        if robots:
            result.counts.update(self._deliver_robots(now=now))
        return result

    def _send_and_record(self, channel: NotificationChannel, rows: Sequence[Claimed], *, now: datetime) -> Counter:
        if self._connection is not None and self._connection.in_transaction():
            raise CallInsideTransaction("the delivery connection has a transaction open; a batch is sent after its claim commits")
        outcomes = self._send_batch(channel, rows)
        return self._in_own_transaction(lambda connection: record(outcomes, now=now, conf=self.conf, connection=connection))

    def _send_batch(self, channel: NotificationChannel, rows: Sequence[Claimed]) -> list[Outcome]:
        """Send a claimed batch in parallel; the channel's access token is read once for the whole batch."""
        client = self.gateway.official if channel is NotificationChannel.OFFICIAL_TEMPLATE else self.gateway.miniprogram
        try:
            token = self.gateway.access_token_of(client)
        except WeChatError as exc:  # the token fetch is itself a WeChat call: every row shares its failure
            return [Outcome(row, error=exc) for row in rows]
        outcomes: list[Outcome | None] = [None] * len(rows)
        work = iter(enumerate(rows))  # shared: each thread takes the next row (next() is atomic)

        def drain() -> None:
            for index, row in work:
                outcomes[index] = self._send(row, token)

        lanes = min(self.concurrency, len(rows))
        futures = [self.pool.submit(drain) for _ in range(lanes - 1)]
        drain()
        for future in futures:
            future.result()
        return outcomes  # type: ignore[return-value]

    def _send(self, row: Claimed, token: str | None = None) -> Outcome:
        try:
            return Outcome(row, msgid=send(self.gateway, row, token=token))
        except WeChatError as exc:
            return Outcome(row, error=exc)

    def _deliver_robots(self, *, now: datetime) -> Counter:
        counts: Counter = Counter()
        rate = float(self.conf["robot_per_minute"]) / 60
        for team_id in teams_with_due_robot_messages(now=now, limit=ROBOT_TEAMS_PER_PASS):
            # One token per message the robot posts; capacity 1 spaces a robot's posts evenly.
            if TokenBucket(self.redis, f"robot:{team_id}", rate=rate, capacity=1).take(1).granted == 0:
                continue
            digest = group_robots.claim_digest(team_id, now=now, pii_key=self.pii_key)
            if digest is None:
                continue
            post = Claimed(digest.rows[0].id, NotificationChannel.WECOM_ROBOT, {"text": digest.content},
                           max(row.attempts for row in digest.rows), None, digest.webhook_key)
            outcome = self._send(post)
            # Every message in the digest shares the post's outcome.
            counts.update(record([
                Outcome(Claimed(row.id, post.channel, {"text": row.text}, row.attempts, None, None),
                        msgid=outcome.msgid, error=outcome.error)
                for row in digest.rows
            ], now=now, conf=self.conf))
        return counts


def claim(channel: NotificationChannel, limit: int, *, now: datetime,
          connection: Connection | None = None) -> list[Claimed]:
    """Take up to `limit` due rows of a channel for sending; commits, so the claim outlives this worker.

    One statement: the UPDATE marks the rows and returns them with the recipient's openid for the
    channel (a subquery in RETURNING, on PostgreSQL and SQLite alike). `connection`: a connection
    of the caller's (committed here), instead of the session.
    """
    claimed = (connection or db.session.connection()).execute(
        _claim_statement(channel), {"now": now, "limit": limit}).all()
    (connection or db.session).commit()
    return sorted((Claimed(row_id, channel, payload, attempts, account_id, openid)
                   for row_id, account_id, payload, attempts, openid in claimed), key=lambda item: item.id)


_CLAIM_STATEMENTS: dict[NotificationChannel, Any] = {}


def _claim_statement(channel: NotificationChannel):
    """Built once per channel (SQLAlchemy then caches its compiled form); `now` and `limit` are parameters."""
    statement = _CLAIM_STATEMENTS.get(channel)
    if statement is None:
        table = Notification.__table__
        due = (select(table.c.id)
               .where(table.c.status == NotificationStatus.PENDING, table.c.channel == channel,
                      table.c.next_attempt_at <= bindparam("now", type_=UTCDateTime()))
               .order_by(table.c.next_attempt_at, table.c.id).limit(bindparam("limit", type_=BigInteger()))
               .with_for_update(skip_locked=True))
        openid_column = Account.mp_openid if channel is NotificationChannel.MINIPROGRAM_SUBSCRIBE else Account.oa_openid
        openid = (select(openid_column).where(Account.id == table.c.account_id)
                  .correlate(table).scalar_subquery())
        statement = _CLAIM_STATEMENTS[channel] = (
            update(table).where(table.c.id.in_(due.scalar_subquery()))
            .values(status=NotificationStatus.SENDING, claimed_at=bindparam("now", type_=UTCDateTime()),
                    attempts=table.c.attempts + 1)
            .returning(table.c.id, table.c.account_id, table.c.payload, table.c.attempts, openid))
    return statement


def send(gateway: WeChatGateway, row: Claimed, *, token: str | None = None) -> int | None:
    """Send one claimed row through its channel; return WeChat's msgid if it gave one.

    `token`: the channel's access token, read once for the batch (None: the gateway reads it).
    """
    payload = row.payload
    if row.address is None:
        raise NoAddress("no openid for this channel (the account has none linked)")
    if row.channel is NotificationChannel.MINIPROGRAM_SUBSCRIBE:
        return gateway.send_subscribe_message(row.address, payload["template_id"], payload["data"],
                                              page=payload.get("page"), access_token=token)
    if row.channel is NotificationChannel.OFFICIAL_TEMPLATE:
        return gateway.send_template_message(row.address, payload["template_id"], payload["data"],
                                             miniprogram=payload.get("miniprogram"), access_token=token)
    if row.channel is NotificationChannel.WECOM_ROBOT:
        gateway.send_group_robot_text(row.address, payload["text"])
        return None
    raise ValueError(f"no sender for channel {row.channel}")


class NoAddress(WeChatError):
    """The recipient has no address on this channel: nothing was sent, and nothing will be."""


def record(outcomes: Sequence[Outcome], *, now: datetime, conf: Mapping[str, Any],
           connection: Connection | None = None) -> Counter:
    """Write every outcome; a row a recovery sweep meanwhile called ambiguous still gets its known outcome.

    One transaction (committed here), on `connection` if given, else the session.
    """
    counts: Counter = Counter()
    sent, retry, final = [], [], []
    for outcome in outcomes:
        row, error = outcome.row, outcome.error
        if error is None:
            sent.append({"row_id": row.id, "msgid": outcome.msgid})
            counts["sent"] += 1
        elif error.ambiguous:
            final.append({"row_id": row.id, "status": NotificationStatus.AMBIGUOUS, "error": str(error)[:500]})
            counts["ambiguous"] += 1
        elif error.retryable and row.attempts < int(conf["max_attempts"]):
            retry.append({"row_id": row.id, "error": str(error)[:500],
                          "next_attempt_at": now + backoff(row.attempts, conf)})
            counts["retry"] += 1
        else:
            final.append({"row_id": row.id, "status": NotificationStatus.FAILED, "error": str(error)[:500]})
            counts["failed"] += 1
            if error.errcode == USER_REFUSED and row.account_id is not None:
                subscriptions.clear(row.account_id, row.payload["template_id"], now=now, connection=connection)
        if error is not None:
            logger.info("notification %s: %s", row.id, error)
    executor = connection or db.session.connection()
    if executor.dialect.name == "postgresql":
        _record_postgresql(executor, sent, retry, final, now=now)
    else:
        _record_portable(executor, sent, retry, final, now=now)
    (connection or db.session).commit()
    return counts


# PostgreSQL: one statement per outcome kind, the rows' values as arrays. Only a row still in
# flight (sending, or ambiguous after a recovery sweep) takes an outcome: a recorded one is final.
_IN_FLIGHT = "notifications.status IN ('sending', 'ambiguous')"
_RECORD_SENT = text(f"""
UPDATE notifications SET status = 'sent', sent_at = :now, wechat_msgid = v.msgid, last_error = NULL
FROM unnest(CAST(:ids AS BIGINT[]), CAST(:msgids AS BIGINT[])) AS v(id, msgid)
WHERE notifications.id = v.id AND {_IN_FLIGHT}
""").bindparams(bindparam("now", type_=UTCDateTime()))
_RECORD_RETRY = text(f"""
UPDATE notifications SET status = 'pending', last_error = v.error, next_attempt_at = v.next_attempt_at
FROM unnest(CAST(:ids AS BIGINT[]), CAST(:errors AS TEXT[]), CAST(:next_attempts AS TIMESTAMPTZ[]))
     AS v(id, error, next_attempt_at)
WHERE notifications.id = v.id AND {_IN_FLIGHT}
""")
_RECORD_FINAL = text(f"""
UPDATE notifications SET status = v.status, last_error = v.error
FROM unnest(CAST(:ids AS BIGINT[]), CAST(:statuses AS TEXT[]), CAST(:errors AS TEXT[])) AS v(id, status, error)
WHERE notifications.id = v.id AND {_IN_FLIGHT}
""")


def _record_postgresql(connection, sent: list[dict], retry: list[dict], final: list[dict], *, now: datetime) -> None:
    if sent:
        connection.execute(_RECORD_SENT, {"now": now, "ids": [item["row_id"] for item in sent],
                                          "msgids": [item["msgid"] for item in sent]})
    if retry:
        connection.execute(_RECORD_RETRY, {"ids": [item["row_id"] for item in retry],
                                           "errors": [item["error"] for item in retry],
                                           "next_attempts": [item["next_attempt_at"] for item in retry]})
    if final:
        connection.execute(_RECORD_FINAL, {"ids": [item["row_id"] for item in final],
                                           "statuses": [item["status"].value for item in final],
                                           "errors": [item["error"] for item in final]})


def _record_portable(connection, sent: list[dict], retry: list[dict], final: list[dict], *, now: datetime) -> None:
    """Elsewhere (SQLite): one executemany per outcome kind, with the same in-flight condition."""
    # Two comparisons, not IN: an expanding IN cannot run as one executemany.
    in_flight = (Notification.status == NotificationStatus.SENDING) | (Notification.status == NotificationStatus.AMBIGUOUS)
    where = (Notification.id == bindparam("row_id")) & in_flight
    if sent:
        connection.execute(update(Notification).where(where).values(
            status=NotificationStatus.SENT, sent_at=now, wechat_msgid=bindparam("msgid"), last_error=None), sent)
    if retry:
        connection.execute(update(Notification).where(where).values(
            status=NotificationStatus.PENDING, last_error=bindparam("error"),
            next_attempt_at=bindparam("next_attempt_at")), retry)
    if final:
        connection.execute(update(Notification).where(where).values(
            status=bindparam("status"), last_error=bindparam("error")), final)


def backoff(attempts: int, conf: Mapping[str, Any]) -> timedelta:
    """Exponential backoff with ±20 % jitter, so rows that failed together do not return together."""
    base = min(float(conf["backoff_max_seconds"]), float(conf["backoff_seconds"]) * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def recover_lost(*, now: datetime, lease_seconds: float) -> int:
    """Rows left `sending` past the lease were in flight in a worker that died: ambiguous, counted (the caller commits)."""
    lost = db.session.execute(
        update(Notification)
        .where(Notification.status == NotificationStatus.SENDING,
               Notification.claimed_at < now - timedelta(seconds=lease_seconds))
        .values(status=NotificationStatus.AMBIGUOUS, last_error="the sending worker stopped before recording an outcome")
        .execution_options(synchronize_session=False)
    ).rowcount
    if lost:
        logger.warning("%d notification(s) were in flight in a worker that stopped: marked ambiguous", lost)
    return lost


def teams_with_due_robot_messages(*, now: datetime, limit: int) -> list[int]:
    teams = list(db.session.scalars(
        select(Notification.team_id)
        .where(Notification.status == NotificationStatus.PENDING, Notification.channel == NotificationChannel.WECOM_ROBOT,
               Notification.next_attempt_at <= now)
        .group_by(Notification.team_id).order_by(Notification.team_id).limit(limit)
    ))
    db.session.commit()
    return teams
