"""Thread-safe in-memory state of the simulator: apps, tokens, messages, rate limit, faults, QR tickets."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import count
from typing import Any

TOKEN_TTL_SECONDS = 7200
# WeChat keeps a replaced token valid this much longer, and rotates a stable token this long before expiry.
TOKEN_OVERLAP_SECONDS = 300
TEMPLATE_DEDUP_SECONDS = 600
DEFAULT_BLOCKED_WORDS = ("违禁词", "赌博")
SEND_APIS = ("subscribe", "template", "custom", "robot")
# A WeCom group robot posts at most this many messages a minute (per webhook key).
ROBOT_POSTS_PER_MINUTE = 20
# Names accepted by POST /_sim/faults ("*": any API call).
FAULT_APIS = frozenset({
    "stable_token", "token", "jscode2session", "subscribe", "template", "custom", "qrcode", "showqrcode",
    "wxacode", "msg_sec_check", "user_info", "robot", "getuserphonenumber", "*",
})


@dataclass(frozen=True)
class SimApp:
    name: str  # "official" or "miniprogram"
    app_id: str
    app_secret: str


@dataclass
class Token:
    value: str
    app_id: str
    endpoint: str           # "stable_token" or "token": the two kinds never replace each other
    expires_at: float
    revoked_at: float | None = None  # set when a newer token replaced this one (after the overlap)


@dataclass
class Fault:
    api: str
    remaining: int
    errcode: int | None = None
    delay_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"api": self.api, "remaining": self.remaining, "errcode": self.errcode,
                "delay_seconds": self.delay_seconds}


@dataclass
class QRTicket:
    ticket: str
    url: str
    action_name: str
    scene: str | int
    expires_at: float | None  # None: permanent


@dataclass
class _Bucket:
    rate: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        if self.rate <= 0:
            return True
        capacity = max(self.rate, 1.0)
        self.tokens = min(capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Stats:
    tokens_issued: Counter = field(default_factory=Counter)
    tokens_by_endpoint: dict[str, Counter] = field(default_factory=lambda: {"stable_token": Counter(), "token": Counter()})
    messages: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)
    rate_limited: int = 0
    faults_served: int = 0
    deduplicated: int = 0


class SimulatorState:
    """Everything the simulator remembers; every public method takes the lock.

    `clock` (seconds, like time.time) and `sleep` can be replaced so tests need no real time.
    """

    def __init__(self, wechat: Mapping[str, Any], *, rate_limit_per_second: float = 0,
                 blocked_words: Iterable[str] | None = None, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None):
        self.apps = {
            name: SimApp(name, str(wechat[name]["app_id"]), str(wechat[name]["app_secret"]))
            for name in ("official", "miniprogram")
        }
        self.by_app_id = {app.app_id: app for app in self.apps.values()}
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        self._lock = threading.RLock()
        self._tokens: dict[str, Token] = {}
        self._current: dict[tuple[str, str], str] = {}  # (app_id, endpoint) -> newest token
        self._messages: list[dict[str, Any]] = []
        self._message_ids = count(1)
        self._msgids = count(1_000_000_001)
        self._template_sent: dict[tuple[str, str], tuple[int, float]] = {}
        self._faults: list[Fault] = []
        self._robot_posts: dict[str, list[float]] = {}
        self._tickets: dict[str, QRTicket] = {}
        self._phone_codes_used: set[str] = set()
        self._stats = _Stats()
        self._bucket = _Bucket(0, 0, self.clock())
        self.blocked_words: list[str] = list(DEFAULT_BLOCKED_WORDS if blocked_words is None else blocked_words)
        self.set_rate_limit(rate_limit_per_second)

    def use_phone_code(self, code: str) -> bool:
        """Spend a getPhoneNumber code: True the first time, False after (WeChat's codes are single-use)."""
        with self._lock:
            if code in self._phone_codes_used:
                return False
            self._phone_codes_used.add(code)
            return True

    # --- settings -----------------------------------------------------------------------------

    @property
    def rate_limit_per_second(self) -> float:
        return self._bucket.rate

    def set_rate_limit(self, rate: float) -> None:
        """Change the send rate; the bucket starts full (burst = one second's worth, at least 1)."""
        if rate < 0:
            raise ValueError("rate_limit_per_second must be >= 0")
        with self._lock:
            self._bucket = _Bucket(float(rate), max(float(rate), 1.0), self.clock())

    def set_blocked_words(self, words: Iterable[str]) -> None:
        with self._lock:
            self.blocked_words = [w for w in words if w]

    def config(self) -> dict[str, Any]:
        with self._lock:
            return {"rate_limit_per_second": self._bucket.rate, "blocked_words": list(self.blocked_words)}

    # --- access tokens ------------------------------------------------------------------------

    def issue_token(self, app_id: str, *, endpoint: str, force_refresh: bool = False) -> tuple[str, int]:
        """Return (token, expires_in).

        stable_token in normal mode hands back the current token while it has more than the
        overlap left; the legacy `token` endpoint and force_refresh always issue a new one. The
        replaced token stays valid for at most TOKEN_OVERLAP_SECONDS more, as on WeChat.
        """
        with self._lock:
            now = self.clock()
            key = (app_id, endpoint)
            current = self._tokens.get(self._current.get(key, ""))
            reusable = (endpoint == "stable_token" and not force_refresh and current is not None
                        and current.revoked_at is None and current.expires_at - now > TOKEN_OVERLAP_SECONDS)
            if reusable:
                return current.value, int(current.expires_at - now)
            if current is not None:
                current.revoked_at = min(current.expires_at, now + TOKEN_OVERLAP_SECONDS)
            value = _new_token()
            self._tokens[value] = Token(value, app_id, endpoint, now + TOKEN_TTL_SECONDS)
            self._current[key] = value
            self._stats.tokens_issued[app_id] += 1
            self._stats.tokens_by_endpoint[endpoint][app_id] += 1
            self._prune_tokens(now)
            return value, TOKEN_TTL_SECONDS

    def check_token(self, value: str | None) -> tuple[int, str | None]:
        """Return (errcode, app_id): 0 if valid, 41001 missing, 40001 unknown/replaced, 42001 expired."""
        if not value:
            return 41001, None
        with self._lock:
            token = self._tokens.get(value)
            if token is None:
                return 40001, None
            now = self.clock()
            # Replaced before its natural end and past the overlap: "not latest" (40001), not expired.
            if token.revoked_at is not None and token.revoked_at < token.expires_at and now >= token.revoked_at:
                return 40001, token.app_id
            if now >= token.expires_at:
                return 42001, token.app_id
            return 0, token.app_id

    def _prune_tokens(self, now: float) -> None:
        # Forget tokens a day after they died, so the legacy endpoint cannot grow memory for ever.
        dead = [v for v, t in self._tokens.items() if min(t.expires_at, t.revoked_at or t.expires_at) < now - 86400]
        for value in dead:
            del self._tokens[value]

    # --- faults -------------------------------------------------------------------------------

    def add_fault(self, api: str, *, count: int = 1, errcode: int | None = None, delay_seconds: float = 0.0) -> Fault:
        if api not in FAULT_APIS:
            raise ValueError(f"unknown api {api!r}; one of {sorted(FAULT_APIS)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        if errcode is None and delay_seconds <= 0:
            raise ValueError("give errcode, delay_seconds or both")
        if delay_seconds < 0:
            raise ValueError("delay_seconds must be >= 0")
        fault = Fault(api, count, errcode, float(delay_seconds))
        with self._lock:
            self._faults.append(fault)
        return fault

    def take_fault(self, api: str) -> Fault | None:
        """Consume one use of the oldest fault for `api` (or, failing that, for "*")."""
        with self._lock:
            self._stats.calls[api] += 1
            for wanted in (api, "*"):
                for fault in self._faults:
                    if fault.api == wanted and fault.remaining > 0:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                        self._stats.faults_served += 1
                        return Fault(fault.api, fault.remaining, fault.errcode, fault.delay_seconds)
            return None

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # --- sends --------------------------------------------------------------------------------

    def record_send(self, api: str, app_id: str, fields: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """Record one accepted send, atomically with the rate limit and the template dedup.

        Returns ("recorded", message), ("duplicate", the original message: same openid +
        client_msg_id within 10 minutes, nothing recorded, no quota used) or ("rate_limited", None).
        """
        with self._lock:
            now = self.clock()
            dedup_key = None
            if api == "template" and fields.get("client_msg_id"):
                dedup_key = (str(fields.get("touser")), str(fields["client_msg_id"]))
                seen = self._template_sent.get(dedup_key)
                if seen and now - seen[1] < TEMPLATE_DEDUP_SECONDS:
                    self._stats.deduplicated += 1
                    return "duplicate", dict(seen[0])
            if not self._bucket.take(now):
                self._stats.rate_limited += 1
                return "rate_limited", None
            message = {
                "id": next(self._message_ids), "api": api, "app_id": app_id,
                "touser": fields.get("touser"), "template_id": fields.get("template_id"),
                "data": fields.get("data"), "page": fields.get("page"), "content": fields.get("content"),
                "received_at": datetime.fromtimestamp(now, timezone.utc).isoformat(), "msgid": next(self._msgids),
            }
            message.update({k: v for k, v in fields.items() if k not in message})
            self._messages.append(message)
            self._stats.messages[api] += 1
            if dedup_key:
                self._template_sent[dedup_key] = (message, now)
            return "recorded", dict(message)

    def record_robot_post(self, webhook_key: str, fields: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """Record a group-robot post, at most ROBOT_POSTS_PER_MINUTE per key in any 60 s: ("recorded" | "rate_limited", message)."""
        with self._lock:
            now = self.clock()
            recent = [t for t in self._robot_posts.get(webhook_key, []) if now - t < 60]
            if len(recent) >= ROBOT_POSTS_PER_MINUTE:
                self._robot_posts[webhook_key] = recent
                self._stats.rate_limited += 1
                return "rate_limited", None
            self._robot_posts[webhook_key] = recent + [now]
            message = {
                "id": next(self._message_ids), "api": "robot", "app_id": None, "touser": webhook_key,
                "template_id": None, "data": None, "page": None, "content": fields.get("content"),
                "msgtype": fields.get("msgtype"),
                "received_at": datetime.fromtimestamp(now, timezone.utc).isoformat(), "msgid": None,
            }
            self._messages.append(message)
            self._stats.messages["robot"] += 1
            return "recorded", dict(message)

    def messages(self, **filters: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._messages
                    if all(value in (None, "") or str(m.get(key)) == value for key, value in filters.items())]

    def clear_messages(self) -> None:
        with self._lock:
            self._messages.clear()
            self._template_sent.clear()

    # --- QR tickets ---------------------------------------------------------------------------

    def add_ticket(self, *, action_name: str, scene: str | int, expire_seconds: int | None) -> QRTicket:
        with self._lock:
            ticket = "gQ" + secrets.token_urlsafe(30).replace("-", "+").replace("_", "/") + "=="
            now = self.clock()
            qr = QRTicket(ticket, f"http://weixin.qq.com/q/sim_{secrets.token_hex(10)}", action_name, scene,
                          None if expire_seconds is None else now + expire_seconds)
            self._tickets[ticket] = qr
            return qr

    def ticket(self, value: str) -> QRTicket | None:
        with self._lock:
            qr = self._tickets.get(value)
            if qr is None or (qr.expires_at is not None and self.clock() >= qr.expires_at):
                return None
            return qr

    # --- stats --------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self._lock:
            s = self._stats
            return {
                "tokens_issued": dict(s.tokens_issued),
                "tokens_issued_by_endpoint": {k: dict(v) for k, v in s.tokens_by_endpoint.items()},
                "messages": {api: s.messages.get(api, 0) for api in SEND_APIS},
                "calls": dict(s.calls),
                "rate_limited": s.rate_limited,
                "faults_served": s.faults_served,
                "deduplicated": s.deduplicated,
                "qr_tickets": len(self._tickets),
            }


def _new_token() -> str:
    # Real tokens are opaque strings of ~140 characters; callers must store at least 512.
    return "sim_" + secrets.token_urlsafe(96)
