"""A closed-loop HTTP/1.1 load generator on raw asyncio sockets, meant to run in its own process.

Each of N connections sends one request, waits for the whole answer, checks it, and sends the
next. A connection is reused while the server keeps it alive (gthread workers) and reopened when
the server answers `Connection: close` or closes it (sync workers); the reconnect is part of the
request's latency, as it would be for a real client.

Only requests started after the warm-up and finished before the deadline count towards
throughput and latency; bad answers are counted over the whole run (warm-up included).

`Client` (one connection slot) and `ErrorLog` also serve bench/checkin.py's own request loop.
Run it in a child process with bench.harness.ForkedCall, as bench/callback.py does.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MESSAGE_TEMPLATE = (
    "<xml><ToUserName><![CDATA[gh_sim]]></ToUserName>"
    "<FromUserName><![CDATA[sim_bench_{user}]]></FromUserName>"
    "<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[帮助]]></Content><MsgId>{msg_id}</MsgId></xml>"
)
CALLBACK_PATH = "/wechat/official/callback"
MAX_ERROR_SAMPLES = 5  # one per kind of error


def signature_of(*parts: str) -> str:
    """WeChat's callback signature: SHA-1 of the parts sorted and concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signed_paths(token: str, count: int = 64, *, timestamp: int | None = None) -> list[str]:
    """`count` callback paths signed with the current time and distinct nonces."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    paths = []
    for _ in range(count):
        nonce = secrets.token_hex(8)
        paths.append(f"{CALLBACK_PATH}?signature={signature_of(token, ts, nonce)}&timestamp={ts}&nonce={nonce}")
    return paths


def msg_id_base() -> int:
    """A MsgId base unique to this moment (microseconds); add a counter for each request."""
    return time.time_ns() // 1000


@dataclass
class LoadSpec:
    """Everything the client process needs (picklable)."""

    host: str
    port: int
    paths: list[str]                 # signed request targets, used round-robin
    msg_id_base: int                 # first MsgId; each request adds one
    markers: list[bytes]             # substrings a good answer contains
    connections: int = 20
    warmup: float = 2.0
    duration: float = 10.0
    timeout: float = 10.0
    users: int = 1000                # distinct FromUserName values
    keep_alive: bool = True          # False: send `Connection: close`, a new connection per request
    start_at: float | None = None    # time.monotonic() at which to start (system-wide clock)


@dataclass
class LoadResult:
    ok: int = 0                      # good answers inside the measurement window
    latencies: list[float] = field(default_factory=list)  # seconds, good answers inside the window
    errors: int = 0                  # bad answers, whole run
    error_kinds: Counter = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    requests_sent: int = 0           # whole run
    connects: int = 0                # whole run
    window_seconds: float = 0.0
    client_cpu_seconds: float = 0.0  # CPU of this process inside the window

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "latencies": self.latencies, "errors": self.errors,
            "error_kinds": dict(self.error_kinds), "error_samples": self.error_samples,
            "requests_sent": self.requests_sent, "connects": self.connects,
            "window_seconds": self.window_seconds, "client_cpu_seconds": self.client_cpu_seconds,
        }


class BadAnswer(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; `request()` resolves to (status, body, keep_alive)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.eof = False

    # asyncio callbacks
    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._try_complete()

    def eof_received(self) -> bool:
        self.eof = True
        self._try_complete()
        return False

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        self.closed = True
        self.eof = True
        self._try_complete(exc)

    # client side
    def request(self, data: bytes) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self.buffer.clear()
        assert self.transport is not None
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _try_complete(self, exc: BaseException | None = None) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            answer = self._parse()
        except BadAnswer as bad:
            self.waiter = None
            waiter.set_exception(bad)
            return
        if answer is not None:
            self.waiter = None
            waiter.set_result(answer)
        elif self.eof:
            self.waiter = None
            reason = f": {exc!r}" if exc else ""
            waiter.set_exception(ConnectionError(f"connection closed before a full answer{reason}"))

    def _parse(self) -> tuple[int, bytes, bool] | None:
        buf = self.buffer
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        lines = bytes(buf[:head_end]).split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise BadAnswer(f"malformed status line {lines[0][:80]!r}")
        status = int(parts[1])
        length = None
        chunked = False
        keep_alive = parts[0] == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"connection":
                keep_alive = value == b"keep-alive" or (keep_alive and value != b"close")
        body_start = head_end + 4
        if chunked:
            body = _dechunk(buf, body_start)
            return None if body is None else (status, body, keep_alive)
        if length is None:
            # Body delimited by the end of the connection.
            return (status, bytes(buf[body_start:]), False) if self.eof else None
        if len(buf) - body_start < length:
            return None
        return status, bytes(buf[body_start:body_start + length]), keep_alive


def _dechunk(buf: bytearray, pos: int) -> bytes | None:
    body = bytearray()
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2
        if size == 0:
            return bytes(body) if buf.find(b"\r\n", pos) >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos:pos + size]
        pos += size + 2


TRANSPORT_ERRORS = (OSError, ConnectionError, TimeoutError, asyncio.TimeoutError, BadAnswer)


class Client:
    """One client connection slot of a closed loop: (re)connects when needed, one request at a time."""

    def __init__(self, host: str, port: int, timeout: float, keep_alive: bool = True):
        self.host, self.port, self.timeout, self.keep_alive = host, port, timeout, keep_alive
        self.conn: _Connection | None = None
        self.connects = 0

    async def send(self, data: bytes) -> tuple[int, bytes]:
        """Send one request, return (status, body); raises one of TRANSPORT_ERRORS (and closes) on failure.

        The connection is closed afterwards unless both the server and `keep_alive` allow reuse.
        """
        loop = asyncio.get_running_loop()
        timer = None
        try:
            if self.conn is None or self.conn.closed:
                _, self.conn = await asyncio.wait_for(
                    loop.create_connection(_Connection, self.host, self.port), self.timeout)
                self.connects += 1
            waiter = self.conn.request(data)
            timer = loop.call_later(
                self.timeout, lambda w=waiter: w.done() or w.set_exception(TimeoutError("no answer in time")))
            status, body, keep_alive = await waiter
        except TRANSPORT_ERRORS:
            self.close()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if not (keep_alive and self.keep_alive):
            self.close()
        return status, body

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


class ErrorLog:
    """Bad answers by kind, with a few samples (at most `per_kind` of a kind, `total` in all)."""

    def __init__(self, per_kind: int, total: int | None = None):
        self.per_kind, self.total = per_kind, total
        self.kinds: Counter = Counter()
        self.samples: list[str] = []

    def add(self, kind: str, detail: str) -> None:
        self.kinds[kind] += 1
        if self.kinds[kind] <= self.per_kind and (self.total is None or len(self.samples) < self.total):
            self.samples.append(f"{kind}: {' '.join(detail.split())[:300]}")

    @property
    def count(self) -> int:
        return sum(self.kinds.values())


async def run_load(spec: LoadSpec) -> LoadResult:
    loop = asyncio.get_running_loop()
    if spec.start_at is not None:
        await asyncio.sleep(max(0.0, spec.start_at - time.monotonic()))
    result = LoadResult()
    errors = ErrorLog(per_kind=1, total=MAX_ERROR_SAMPLES)
    start = time.monotonic()
    window_start = start + spec.warmup
    deadline = window_start + spec.duration
    host_header = f"Host: {spec.host}:{spec.port}\r\n" + ("" if spec.keep_alive else "Connection: close\r\n")
    counter = 0
    cpu_marks: dict[str, float] = {}
    loop.call_at(window_start, lambda: cpu_marks.__setitem__("start", time.process_time()))
    loop.call_at(deadline, lambda: cpu_marks.__setitem__("end", time.process_time()))

    def next_request() -> bytes:
        nonlocal counter
        n = counter
        counter += 1
        body = MESSAGE_TEMPLATE.format(user=n % spec.users, ts=int(time.time()), msg_id=spec.msg_id_base + n).encode()
        return (
            f"POST {spec.paths[n % len(spec.paths)]} HTTP/1.1\r\n{host_header}"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def worker() -> None:
        client = Client(spec.host, spec.port, spec.timeout, spec.keep_alive)
        while True:
            t0 = time.monotonic()
            if t0 >= deadline:
                break
            data = next_request()
            result.requests_sent += 1
            try:
                status, body = await client.send(data)
            except TRANSPORT_ERRORS as exc:
                errors.add(type(exc).__name__, str(exc))
                continue
            t1 = time.monotonic()
            if status != 200:
                errors.add(f"HTTP {status}", body.decode("utf-8", "replace"))
                continue
            missing = [m for m in spec.markers if m not in body]
            if missing:
                errors.add("unexpected body", body.decode("utf-8", "replace"))
                continue
            if t0 >= window_start and t1 <= deadline:
                result.ok += 1
                result.latencies.append(t1 - t0)
        client.close()
        result.connects += client.connects

    await asyncio.gather(*(worker() for _ in range(spec.connections)))
    result.errors, result.error_kinds, result.error_samples = errors.count, errors.kinds, errors.samples
    result.window_seconds = spec.duration
    if "start" in cpu_marks:
        result.client_cpu_seconds = cpu_marks.get("end", time.process_time()) - cpu_marks["start"]
    return result
