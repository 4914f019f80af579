"""Real processes for the delivery fault tests: a Redis server, the WeChat simulator, delivery workers.

Every process is the test's own (its own port, its own process group), started with the suite's
configuration (the conftest's APP_CONFIG and database), so a test may kill any of them without
touching the machine's shared services. `Broadcast` seeds a large audience with bulk inserts and
queues one announcement through `broadcasts.create`; the workers fan it out themselves.
`Outcome` reads back what the database and the simulator say, and names what went wrong.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import func, insert, select

from app.config import thaw
from app.extensions import db, settings
from app.services import broadcasts
from app.wechat.gateway import WeChatGateway
from models import Account, Notification, NotificationStatus, SubscriptionCredit, Volunteer, VolunteerStatus
from tests import factories as f

ROOT = Path(__file__).resolve().parents[2]
HAVE_REDIS_SERVER = shutil.which("redis-server") is not None
OPENID_PREFIX = "sim_fault_"
# The last error `recover_lost` writes: the row was in flight in a worker that died.
LOST_IN_WORKER = "the sending worker stopped before recording an outcome"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str,
             details: Callable[[], Any] | None = None, every: float = 0.25) -> Any:
    """Poll until `condition()` is truthy; on timeout fail naming what was awaited and where things stood."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            state = f"; state: {details()}" if details is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{state}")
        time.sleep(every)


def _start(argv: list[str], *, log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start a process in its own process group (so it and anything it spawns can be killed as one)."""
    with open(log, "ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=dict(env) if env is not None else None, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def _end(process: subprocess.Popen, *, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not gone within `grace` seconds."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process, signal.SIGKILL)  # whatever is left of the group
    if process.poll() is None:
        process.wait(timeout=10)


# --- Redis ------------------------------------------------------------------------------------------

class RedisServer:
    """A redis-server of the test's own, without persistence; it can be stopped and started again on its port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "redis-server is already running"
        self.starts += 1
        self.process = _start(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder)],
                              log=self.folder / f"redis-{self.starts}.log")
        wait_for(self.ping, timeout=15, what=f"redis-server on port {self.port} to answer",
                 details=lambda: (self.folder / f"redis-{self.starts}.log").read_text(errors="replace")[-2000:])

    def ping(self) -> bool:
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM (nothing is saved: --save ""), and wait until the port no longer answers."""
        assert self.process is not None
        _end(self.process)
        wait_for(lambda: not self.ping(), timeout=10, what="redis-server to stop")

    def close(self) -> None:
        if self.process is not None:
            _end(self.process)


# --- the WeChat simulator -------------------------------------------------------------------------

class SimulatorProcess:
    """`flask wechat-sim` on a port of its own, with the suite's [wechat] configuration."""

    def __init__(self, folder: Path, env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "simulator.log"
        self.process = _start([sys.executable, "-m", "flask", "wechat-sim", "--host", "127.0.0.1",
                               "--port", str(self.port)], log=self.log, env=env)
        self.http = requests.Session()
        try:
            wait_for(self._healthy, timeout=30, what="the simulator to answer",
                     details=lambda: self.log.read_text(errors="replace")[-2000:])
        except BaseException:
            self.close()
            raise

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the simulator exited: {self.log.read_text(errors='replace')[-2000:]}")
        try:
            return self.http.get(f"{self.url}/_sim/health", timeout=1).ok
        except requests.RequestException:
            return False

    def stats(self) -> dict[str, Any]:
        return self.http.get(f"{self.url}/_sim/stats", timeout=30).json()

    def sent(self, api: str = "subscribe") -> int:
        return int(self.stats()["messages"][api])

    def messages(self, **filters: str) -> list[dict[str, Any]]:
        return self.http.get(f"{self.url}/_sim/messages", params=filters, timeout=60).json()["messages"]

    def fault(self, **spec: Any) -> None:
        self.http.post(f"{self.url}/_sim/faults", json=spec, timeout=10).raise_for_status()

    def faults(self) -> list[dict[str, Any]]:
        return self.http.get(f"{self.url}/_sim/faults", timeout=10).json()["faults"]

    def configure(self, **values: Any) -> dict[str, Any]:
        answer = self.http.post(f"{self.url}/_sim/config", json=values, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def gateway(self, app) -> WeChatGateway:
        """A gateway of the test's app that talks to this simulator."""
        wechat = thaw(app.extensions["settings"]["wechat"])
        return WeChatGateway({**wechat, "api_base": self.url, "wecom_api_base": self.url},
                             redis_client=app.extensions["redis"])

    def close(self) -> None:
        self.http.close()
        _end(self.process)


# --- delivery workers -----------------------------------------------------------------------------

# Delivery settings for the fault tests: short lease and backoff so a test takes seconds, not minutes.
WORKER_DEFAULTS = {
    "APP_WECHAT__TIMEOUT_SECONDS": "2",
    "APP_DELIVERY__LEASE_SECONDS": "4",
    "APP_DELIVERY__BATCH_SIZE": "100",
    "APP_DELIVERY__CONCURRENCY": "16",
    "APP_DELIVERY__SUBSCRIBE_PER_SECOND": "1000",
    "APP_DELIVERY__BACKOFF_SECONDS": "1",
    "APP_DELIVERY__BACKOFF_MAX_SECONDS": "4",
    "APP_DELIVERY__MAX_ATTEMPTS": "10",
    "APP_DELIVERY__FANOUT_BATCH_SIZE": "2000",
}


def process_env(database_url: str, **app_settings: str) -> dict[str, str]:
    """The environment of a child process: the suite's config file, the test database, extra APP_* values."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
    env.update({"APP_CONFIG": os.environ["APP_CONFIG"], "FLASK_APP": "app:create_app", "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1", "APP_DATABASE__URL": database_url})
    env.update(app_settings)
    return env


class Workers:
    """`flask jobs worker` processes pointed at the test database, a Redis server and a simulator."""

    def __init__(self, folder: Path, database_url: str, redis_url: str, simulator_url: str, **delivery: str) -> None:
        self.folder = folder
        self.settings = {**WORKER_DEFAULTS, **delivery}
        self.env = process_env(database_url, APP_REDIS__URL=redis_url, APP_WECHAT__API_BASE=simulator_url,
                               APP_WECHAT__WECOM_API_BASE=simulator_url, **self.settings)
        self.processes: list[subprocess.Popen] = []

    def delivery(self, key: str) -> float:
        """A [delivery] setting the workers run with."""
        return float(self.settings[f"APP_DELIVERY__{key.upper()}"])

    def start(self) -> subprocess.Popen:
        log = self.folder / f"worker-{len(self.processes)}.log"
        process = _start([sys.executable, "-m", "flask", "jobs", "worker", "--interval", "0.2"], log=log, env=self.env)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL: no signal handler runs, the batch in hand is never recorded."""
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=10)

    def alive(self) -> list[subprocess.Popen]:
        return [process for process in self.processes if process.poll() is None]

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
                         for path in sorted(self.folder.glob("worker-*.log")))

    def each_log(self) -> list[str]:
        return [(self.folder / f"worker-{index}.log").read_text(errors="replace") for index in range(len(self.processes))]

    def close(self) -> None:
        for process in self.processes:
            _end(process)


# --- the broadcast --------------------------------------------------------------------------------

@dataclass
class Broadcast:
    announcement_id: int
    openids: list[str]
    account_ids: list[int]


def seed_broadcast(app, simulator: SimulatorProcess, recipients: int, *, chunk: int = 2000) -> Broadcast:
    """`recipients` approved volunteers in one community, each with one announcement credit, and an
    announcement to their city queued through `broadcasts.create` (content-checked by the simulator).

    The audience is inserted with executemany (Core) in chunks: 10,000 people take seconds.
    """
    now = datetime.now(timezone.utc)
    with app.app_context():
        tree = f.region_tree("F")
        org = f.organization("故障测试志愿者协会", tree["city"], now)
        organizer = f.organizer("sim_fault_organizer", org, now)
        db.session.commit()
        template_id = settings()["wechat"]["templates"]["announcement"]
        openids = [f"{OPENID_PREFIX}{i:05d}" for i in range(recipients)]
        connection = db.session.connection()
        for start in range(0, recipients, chunk):
            part = openids[start:start + chunk]
            connection.execute(insert(Account), [{"mp_openid": openid, "created_at": now, "last_login_at": now}
                                                 for openid in part])
            ids = list(connection.execute(select(Account.id).where(Account.mp_openid.in_(part))).scalars())
            connection.execute(insert(Volunteer), [
                {"account_id": account_id, "real_name": "测试志愿者", "mobile": "13900000000",
                 "region_id": tree["community"].id, "status": VolunteerStatus.APPROVED, "categories": [],
                 "skills": [], "created_at": now, "updated_at": now} for account_id in ids])
            connection.execute(insert(SubscriptionCredit), [
                {"account_id": account_id, "template_id": template_id, "remaining": 1, "updated_at": now}
                for account_id in ids])
            db.session.commit()
            connection = db.session.connection()
        draft = broadcasts.prepare(
            organizer.id, org.id, title="防汛志愿者集合通知", body="请于明早八点到社区服务站集合。",
            audience=broadcasts.Audience("region", tree["city"].id), activity_id=None)
        organizer_id = organizer.id  # read now: after the commit it would load again, inside a transaction
        db.session.commit()
        checked = broadcasts.check_security(simulator.gateway(app), draft)
        announcement, reach = broadcasts.create(organizer_id, checked, now=now)
        db.session.commit()
        assert reach.recipients == recipients and reach.unreachable == 0, reach
        account_ids = list(db.session.scalars(
            select(Account.id).where(Account.mp_openid.startswith(OPENID_PREFIX, autoescape=True))
            .order_by(Account.id)))
        broadcast = Broadcast(announcement.id, openids, account_ids)
        db.session.remove()
        return broadcast


# --- what happened ----------------------------------------------------------------------------------

def status_counts(app, announcement_id: int) -> Counter:
    """Outbox rows of the announcement by status (a short read: on SQLite it queues behind the workers)."""
    with app.app_context():
        try:
            return Counter({status.value: count for status, count in db.session.execute(
                select(Notification.status, func.count()).where(Notification.announcement_id == announcement_id)
                .group_by(Notification.status))})
        finally:
            db.session.remove()


def settled(app, broadcast: Broadcast) -> bool:
    """Every recipient has its row and none is waiting or in flight."""
    counts = status_counts(app, broadcast.announcement_id)
    return (sum(counts.values()) == len(broadcast.openids)
            and counts[NotificationStatus.PENDING.value] == 0 and counts[NotificationStatus.SENDING.value] == 0)


@dataclass
class Row:
    id: int
    openid: str
    status: NotificationStatus
    attempts: int
    wechat_msgid: int | None
    last_error: str | None


@dataclass
class Outcome:
    """The database's rows of one broadcast next to the simulator's record of what it received."""

    rows: list[Row]
    received: list[dict[str, Any]]
    recipients: set[str]
    by_openid: dict[str, list[dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_openid = {}
        for message in self.received:
            self.by_openid.setdefault(message["touser"], []).append(message)

    @classmethod
    def read(cls, app, broadcast: Broadcast, simulator: SimulatorProcess) -> Outcome:
        with app.app_context():
            try:
                rows = [Row(*found) for found in db.session.execute(
                    select(Notification.id, Account.mp_openid, Notification.status, Notification.attempts,
                           Notification.wechat_msgid, Notification.last_error)
                    .join(Account, Account.id == Notification.account_id)
                    .where(Notification.announcement_id == broadcast.announcement_id).order_by(Notification.id))]
            finally:
                db.session.remove()
        template_id = settings_of(app)["wechat"]["templates"]["announcement"]
        return cls(rows, simulator.messages(api="subscribe", template_id=template_id), set(broadcast.openids))

    def with_status(self, status: NotificationStatus) -> list[Row]:
        return [row for row in self.rows if row.status is status]

    @property
    def duplicated(self) -> list[str]:
        """Openids that received the announcement more than once."""
        return sorted(openid for openid, messages in self.by_openid.items() if len(messages) > 1)

    @property
    def strangers(self) -> list[str]:
        """Openids the simulator received the announcement for that are not in the audience."""
        return sorted(set(self.by_openid) - self.recipients)

    @property
    def lost(self) -> list[str]:
        """Recipients without a final, accounted-for outcome: no row, a row not sent and not ambiguous,
        or a row `sent` that the simulator never received (or received under another msgid)."""
        by_openid = {row.openid: row for row in self.rows}
        missing = [openid for openid in self.recipients if openid not in by_openid]
        unsent = [row.openid for row in self.rows
                  if row.status not in (NotificationStatus.SENT, NotificationStatus.AMBIGUOUS)]
        unrecorded = [row.openid for row in self.with_status(NotificationStatus.SENT)
                      if [m["msgid"] for m in self.by_openid.get(row.openid, [])] != [row.wechat_msgid]]
        return sorted(set(missing) | set(unsent) | set(unrecorded))

    def figures(self) -> dict[str, int]:
        ambiguous = self.with_status(NotificationStatus.AMBIGUOUS)
        return {
            "recipients": len(self.recipients), "rows": len(self.rows),
            "sent": len(self.with_status(NotificationStatus.SENT)), "ambiguous": len(ambiguous),
            "ambiguous_received": sum(1 for row in ambiguous if row.openid in self.by_openid),
            "lost": len(self.lost), "duplicated": len(self.duplicated), "strangers": len(self.strangers),
            "received": len(self.received), "retried": sum(1 for row in self.rows if row.attempts > 1),
            **{f"status_{status}": count for status, count in
               Counter(row.status.value for row in self.rows).items()
               if status not in ("sent", "ambiguous")},
        }

    def assert_exactly_once_or_ambiguous(self) -> None:
        """Nobody twice, nobody outside the audience, nobody lost: the promise of the outbox."""
        figures = self.figures()
        assert not self.duplicated, f"received twice: {self.duplicated[:10]}; {figures}"
        assert not self.strangers, f"received but not in the audience: {self.strangers[:10]}; {figures}"
        assert not self.lost, f"lost: {self.lost[:10]}; {figures}"
        for row in self.with_status(NotificationStatus.AMBIGUOUS):
            # An unknown outcome is never resent: at most the one send whose answer went missing.
            assert len(self.by_openid.get(row.openid, [])) <= 1, (row, figures)


def settings_of(app) -> Mapping[str, Any]:
    return app.extensions["settings"]
