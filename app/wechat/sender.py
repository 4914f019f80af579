"""The lean HTTP path of the high-volume sends (subscribe and template messages).

requests + wechatpy cost about 0.7 ms of CPU per send (the proxy environment and ~/.netrc read
again per request, the access token read from Redis twice, wechatpy's wrapping). This sender posts
a body that is already JSON over a kept-alive connection per thread: no retries, the proxy setting
read once when it is made, the API host chosen once (`api_base`), the token passed in by the caller.

How a failure maps is the same as through requests (app.wechat.gateway._transport_error):

- the connection could not be made (refused, no route, name unknown, connect timeout):
  `WeChatUnavailable`, the request never left, safe to retry;
- no answer within the timeout once the request was written: `WeChatTimeout` (ambiguous);
- anything else after the connection was made (reset, closed early, an HTTP error status,
  a body that is not a JSON object): `WeChatBadResponse` (ambiguous).

Behind an HTTP(S) proxy (the environment's, read once) the requests go through urllib3's
ProxyManager instead, mapped the same way.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

from app.wechat.errors import WeChatBadResponse, WeChatTimeout, WeChatUnavailable

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
# As wechatpy decodes (strict=False: control characters inside strings allowed); made once.
_DECODER = json.JSONDecoder(strict=False)


def environment_proxy(url: str) -> str | None:
    """The proxy the environment sets for `url` (honouring no_proxy), as requests would pick it; read once."""
    from requests.utils import get_environ_proxies, select_proxy

    return select_proxy(url, get_environ_proxies(url))


class _Closed(Exception):
    """The peer closed the connection before a whole answer came."""


class LeanSender:
    """POST a JSON body to `api_base` + path; the answer's JSON object, or a WeChatError."""

    def __init__(self, api_base: str, timeout: float, *, service: str = "WeChat"):
        parts = urlsplit(api_base.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {api_base!r}")
        self.api_base = api_base.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path
        self.timeout = float(timeout)
        self.service = service
        default_port = (parts.scheme == "https" and self.port == 443) or (parts.scheme == "http" and self.port == 80)
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal keeps its brackets
        self._host_header = host if default_port else f"{host}:{self.port}"
        self._ssl = _ssl_context() if parts.scheme == "https" else None
        self.proxy = environment_proxy(self.api_base)
        self._proxy_manager = None
        if self.proxy:
            import urllib3

            self._proxy_manager = urllib3.ProxyManager(self.proxy, num_pools=2, maxsize=32, block=False,
                                                       ca_certs=_ca_file() if self._ssl else None)
        self._local = threading.local()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    # --- public ----------------------------------------------------------------------------------

    def post_json(self, path_and_query: str, body: bytes) -> dict[str, Any]:
        """POST `body` (JSON, UTF-8) to the API; return the answer's JSON object or raise a WeChatError."""
        if self._proxy_manager is not None:
            status, data = self._post_via_proxy(path_and_query, body)
        else:
            status, data = self._post_direct(self.base_path + path_and_query, body)
        if status >= 400:
            raise WeChatBadResponse(f"{self.service} answered HTTP {status}")
        try:
            result = _DECODER.decode(data.decode("utf-8", "ignore"))
        except ValueError:
            raise WeChatBadResponse(f"{self.service} answered HTTP {status} without JSON") from None
        if not isinstance(result, dict):
            raise WeChatBadResponse(f"{self.service} answered HTTP {status} with JSON that is not an object")
        return result

    def close(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close_quietly(sock)
        if self._proxy_manager is not None:
            self._proxy_manager.clear()

    # --- direct: one kept-alive socket per thread --------------------------------------------------

    def _post_direct(self, target: str, body: bytes) -> tuple[int, bytes]:
        head = (f"POST {target} HTTP/1.1\r\nHost: {self._host_header}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nAccept: application/json\r\nConnection: keep-alive\r\n\r\n").encode()
        sock = getattr(self._local, "sock", None)
        if sock is not None and _dropped(sock):
            self._discard(sock)
            sock = None
        if sock is None:
            sock = self._connect()
        try:
            sock.sendall(head + body)
            status, data, keep = _read_response(sock, self._local)
        except TimeoutError:
            self._discard(sock)
            raise WeChatTimeout(f"no answer from {self.service} within {self.timeout} s") from None
        except (OSError, _Closed, ValueError) as exc:
            self._discard(sock)
            raise WeChatBadResponse(f"{self.service} call failed: {type(exc).__name__}") from None
        if not keep:
            self._discard(sock)
        return status, data

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:  # refused, unreachable, unknown name, connect timeout: nothing left
            raise WeChatUnavailable(f"cannot reach {self.service}: {type(exc).__name__}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=self.host)
        except TimeoutError:  # the TLS handshake timed out: no request left, as urllib3's connect timeout
            _close_quietly(sock)
            raise WeChatUnavailable(f"cannot reach {self.service}: ConnectTimeout") from None
        except OSError as exc:  # as requests: a TLS failure is an SSLError, mapped as a bad response
            _close_quietly(sock)
            raise WeChatBadResponse(f"{self.service} call failed: {type(exc).__name__}") from None
        self._local.sock = sock
        self._local.buffer = b""
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _discard(self, sock: socket.socket) -> None:
        if getattr(self._local, "sock", None) is sock:
            self._local.sock = None
            self._local.buffer = b""
        with self._lock:
            self._sockets.discard(sock)
        _close_quietly(sock)

    # --- through the environment's proxy ------------------------------------------------------------

    def _post_via_proxy(self, path_and_query: str, body: bytes) -> tuple[int, bytes]:
        import urllib3
        from urllib3 import exceptions as u3

        try:
            response = self._proxy_manager.urlopen(
                "POST", self.api_base + path_and_query, body=body, retries=False, redirect=False,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))
            return response.status, response.data
        except Exception as exc:
            cause = getattr(exc, "original_error", None) if isinstance(exc, u3.ProxyError) else exc
            if isinstance(cause, (u3.ConnectTimeoutError, u3.NewConnectionError)) or "Connection refused" in repr(exc):
                raise WeChatUnavailable(f"cannot reach {self.service}: {type(exc).__name__}") from None
            if isinstance(exc, (u3.TimeoutError, TimeoutError)):
                raise WeChatTimeout(f"no answer from {self.service} within {self.timeout} s") from None
            if isinstance(exc, (u3.HTTPError, OSError)):
                raise WeChatBadResponse(f"{self.service} call failed: {type(exc).__name__}") from None
            raise


def _ca_file() -> str | None:
    try:
        import certifi

        return certifi.where()
    except ImportError:  # pragma: no cover - requests brings certifi
        return None


def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=_ca_file())


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def _dropped(sock: socket.socket) -> bool:
    """An idle kept-alive connection the peer closed (or wrote to unasked) must not carry a request."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _read_response(sock: socket.socket, state: Any) -> tuple[int, bytes, bool]:
    """Read one HTTP/1.x answer: (status, body, whether the connection may carry another request)."""
    buffer = state.buffer if getattr(state, "buffer", None) else b""
    state.buffer = b""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buffer) > MAX_HEADER_BYTES:
            raise ValueError("header too long")
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed()
        buffer += chunk
    head, rest = buffer[:end].decode("latin-1").lower(), buffer[end + 4:]
    status_line, _, fields = head.partition("\r\n")
    version, _, status_text = status_line.partition(" ")
    if not version.startswith("http/1."):
        raise ValueError("not an HTTP/1.x answer")
    status = int(status_text[:3])
    headers = _fields(fields) if fields else {}
    connection = headers.get("connection", "")
    keep = ("close" not in connection) if version == "http/1.1" else ("keep-alive" in connection)
    if status in (204, 304) or 100 <= status < 200:
        state.buffer = rest
        return status, b"", keep
    if "chunked" in headers.get("transfer-encoding", ""):
        body, rest = _read_chunked(sock, rest)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_BODY_BYTES:
            raise ValueError("body too long")
        while len(rest) < length:
            chunk = sock.recv(max(65536, length - len(rest)))
            if not chunk:
                raise _Closed()
            rest += chunk
        body, rest = rest[:length], rest[length:]
    else:  # the body runs to the end of the connection
        parts = [rest]
        size = len(rest)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ValueError("body too long")
        return status, b"".join(parts), False
    state.buffer = rest
    return status, body, keep


def _fields(fields: str) -> dict[str, str]:
    """The header fields that matter here, from the lower-cased header block."""
    found = {}
    for line in fields.split("\r\n"):
        name, _, value = line.partition(":")
        name = name.strip()
        if name in ("content-length", "transfer-encoding", "connection"):
            found[name] = value.strip()
    return found


def _read_chunked(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes]:
    body = bytearray()
    while True:
        while b"\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise _Closed()
            buffer += chunk
        size_line, _, buffer = buffer.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while b"\r\n\r\n" not in b"\r\n" + buffer:  # trailers end with an empty line
                chunk = sock.recv(65536)
                if not chunk:
                    raise _Closed()
                buffer += chunk
            end = (b"\r\n" + buffer).find(b"\r\n\r\n")
            return bytes(body), buffer[end + 2:]
        while len(buffer) < size + 2:
            chunk = sock.recv(65536)
            if not chunk:
                raise _Closed()
            buffer += chunk
        body += buffer[:size]
        if len(body) > MAX_BODY_BYTES:
            raise ValueError("body too long")
        buffer = buffer[size + 2:]


__all__ = ["LeanSender", "environment_proxy"]
