"""The lean sender of subscribe and template messages: kept-alive connections, errors mapped as through requests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from app.wechat.clients import StableTokenClient
from app.wechat.errors import WeChatAPIError, WeChatBadResponse, WeChatTimeout, WeChatUnavailable
from app.wechat.sender import LeanSender


@contextmanager
def http_server(answer: Callable[[BaseHTTPRequestHandler, bytes], None], *,
                protocol: str = "HTTP/1.1") -> Iterator[tuple[str, dict]]:
    """A local HTTP server whose every POST is answered by `answer`; yields (base URL, stats)."""
    stats = {"connections": 0, "requests": [], "paths": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = protocol

        def setup(self):
            stats["connections"] += 1
            super().setup()

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            stats["requests"].append(body)
            stats["paths"].append(self.path)
            answer(self, body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", stats
    finally:
        server.shutdown()
        server.server_close()


def reply(status: int, body: bytes, *, content_type: str = "application/json", chunked: bool = False,
          close: bool = False) -> Callable[[BaseHTTPRequestHandler, bytes], None]:
    def answer(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        if close:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for start in range(0, len(body), 7):
                part = body[start:start + 7]
                handler.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")
        else:
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
    return answer


OK = json.dumps({"errcode": 0, "errmsg": "ok", "msgid": 7}).encode()


def test_posts_reuse_one_kept_alive_connection(monkeypatch):
    with http_server(reply(200, OK)) as (url, stats):
        lean = LeanSender(url + "/base", 2)
        for _ in range(5):
            assert lean.post_json("/cgi-bin/x?access_token=t", b'{"a":"\xe4\xbd\xa0"}') == {"errcode": 0, "errmsg": "ok",
                                                                                            "msgid": 7}
        lean.close()
    assert stats["connections"] == 1
    assert stats["paths"] == ["/base/cgi-bin/x?access_token=t"] * 5
    assert json.loads(stats["requests"][0]) == {"a": "你"}


@pytest.mark.parametrize("options", [{"chunked": True}, {"close": True}])
def test_chunked_and_closing_answers_are_read(options):
    with http_server(reply(200, OK, **options)) as (url, stats):
        lean = LeanSender(url, 2)
        assert [lean.post_json("/p", b"{}")["msgid"] for _ in range(3)] == [7, 7, 7]
        lean.close()
    assert stats["connections"] == (3 if options.get("close") else 1)


def test_an_http_1_0_server_that_closes_after_each_answer():
    with http_server(reply(200, OK), protocol="HTTP/1.0") as (url, stats):
        lean = LeanSender(url, 2)
        assert [lean.post_json("/p", b"{}")["msgid"] for _ in range(3)] == [7, 7, 7]
    assert stats["connections"] == 3


def test_an_idle_connection_the_server_closed_is_replaced_not_failed():
    closed = threading.Event()

    def answer(handler, body):
        reply(200, OK)(handler, body)
        handler.wfile.flush()
        handler.close_connection = True  # no Connection: close header: the client learns it by the close
        closed.set()

    with http_server(answer) as (url, stats):
        lean = LeanSender(url, 2)
        lean.post_json("/p", b"{}")
        closed.wait(2)
        time.sleep(0.1)
        assert lean.post_json("/p", b"{}")["msgid"] == 7
    assert stats["connections"] == 2


def test_connection_refused_is_unavailable_never_ambiguous():
    with pytest.raises(WeChatUnavailable) as caught:
        LeanSender("http://127.0.0.1:9", 0.5).post_json("/p", b"{}")
    assert caught.value.retryable and not caught.value.ambiguous


def test_an_unknown_host_is_unavailable():
    with pytest.raises(WeChatUnavailable):
        LeanSender("http://no-such-host.invalid", 0.5).post_json("/p", b"{}")


@pytest.mark.parametrize("answer, message", [
    (reply(500, b"<html>oops</html>", content_type="text/html"), "HTTP 500"),
    (reply(404, OK), "HTTP 404"),
    (reply(200, b"<html>not json</html>", content_type="text/html"), "without JSON"),
    (reply(200, b"[1, 2]"), "not an object"),
])
def test_http_errors_and_bodies_that_are_not_json_objects_are_ambiguous(answer, message):
    with http_server(answer) as (url, _):
        with pytest.raises(WeChatBadResponse) as caught:
            LeanSender(url, 2).post_json("/p", b"{}")
    assert message in str(caught.value)
    assert caught.value.ambiguous and caught.value.retryable


def test_no_answer_within_the_timeout_is_an_ambiguous_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts (the kernel does), never answers
    try:
        started = time.monotonic()
        with pytest.raises(WeChatTimeout) as caught:
            LeanSender(f"http://127.0.0.1:{listener.getsockname()[1]}", 0.3).post_json("/p", b"{}")
        assert time.monotonic() - started < 2
    finally:
        listener.close()
    assert caught.value.ambiguous and "within 0.3 s" in str(caught.value)


def test_a_connection_closed_before_the_answer_is_ambiguous():
    def answer(handler, _):
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    with http_server(answer) as (url, _):
        with pytest.raises(WeChatBadResponse) as caught:
            LeanSender(url, 2).post_json("/p", b"{}")
    assert caught.value.ambiguous


def test_the_proxy_environment_is_read_once_when_the_sender_is_made(monkeypatch):
    calls = []
    shipped = requests.utils.get_environ_proxies

    def counting(url, no_proxy=None):
        calls.append(url)
        return shipped(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.utils, "get_environ_proxies", counting)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with http_server(reply(200, OK)) as (url, _):
        lean = LeanSender(url, 2)
        # A proxy set later is not seen: the environment is not read again per request.
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
        monkeypatch.setenv("NO_PROXY", "")
        for _ in range(3):
            assert lean.post_json("/p", b"{}")["msgid"] == 7
    assert len(calls) == 1


def test_behind_the_environments_proxy_requests_go_through_it(monkeypatch):
    with http_server(reply(200, OK)) as (target, target_stats):
        forwarded = []

        def proxy_answer(handler, body):
            forwarded.append(handler.path)  # absolute form: the proxy is asked for the target URL
            plain = requests.Session()
            plain.trust_env = False  # not through itself
            answer = plain.post(handler.path, data=body, timeout=2)
            reply(answer.status_code, answer.content)(handler, body)

        with http_server(proxy_answer) as (proxy, _):
            monkeypatch.setenv("http_proxy", proxy)
            monkeypatch.setenv("no_proxy", "")
            monkeypatch.setenv("NO_PROXY", "")
            lean = LeanSender(target, 2)
            assert lean.proxy == proxy
            assert lean.post_json("/p?access_token=t", b"{}")["msgid"] == 7
            lean.close()
    assert forwarded == [f"{target}/p?access_token=t"]
    assert target_stats["requests"] == [b"{}"]


def test_an_unreachable_proxy_is_unavailable(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(WeChatUnavailable):
        LeanSender("http://192.0.2.1:80", 0.5).post_json("/p", b"{}")


# --- through the gateway: the token ------------------------------------------------------------------

def count_token_reads(monkeypatch) -> list[str]:
    reads: list[str] = []
    shipped = StableTokenClient._cached_token

    def counting(self):
        reads.append(self.appid)
        return shipped(self)

    monkeypatch.setattr(StableTokenClient, "_cached_token", counting)
    return reads


def test_a_send_reads_the_token_once_and_a_given_token_not_at_all(app, simulator, monkeypatch):
    gateway = app.extensions["wechat_gateway"]
    token = gateway.access_token_of(gateway.miniprogram)
    official = gateway.access_token_of(gateway.official)  # both warm: a cold cache reads again under the lock
    reads = count_token_reads(monkeypatch)
    gateway.send_subscribe_message("sim_a", "tmpl", {"thing1": "x"})
    assert len(reads) == 1  # wechatpy's path read it twice
    gateway.send_subscribe_message("sim_a", "tmpl", {"thing1": "y"}, access_token=token)
    gateway.send_template_message("sim_a", "tmpl_t", {"thing1": "z"}, access_token=official)
    assert len(reads) == 1
    assert len(simulator.messages(api="subscribe")) == 2 and len(simulator.messages(api="template")) == 1


def test_a_rejected_given_token_is_dropped_and_the_send_retried_once_with_a_fresh_one(app, simulator):
    gateway = app.extensions["wechat_gateway"]
    token = gateway.access_token_of(gateway.miniprogram)
    simulator.fault(api="subscribe", errcode=40001, count=1)
    assert gateway.send_subscribe_message("sim_a", "tmpl", {"thing1": "x"}, access_token=token) is not None
    assert simulator.stats()["faults_served"] == 1
    simulator.fault(api="subscribe", errcode=42001, count=2)
    with pytest.raises(WeChatAPIError) as caught:
        gateway.send_subscribe_message("sim_a", "tmpl", {"thing1": "x"}, access_token=token)
    assert caught.value.errcode == 42001 and caught.value.retryable


def test_sends_of_many_threads_share_nothing_but_the_connections_they_own(app, simulator):
    gateway = app.extensions["wechat_gateway"]
    token = gateway.access_token_of(gateway.miniprogram)
    errors = []

    def send_some(index):
        try:
            for count in range(5):
                gateway.send_subscribe_message(f"sim_t{index}", "tmpl", {"thing1": str(count)}, access_token=token)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=send_some, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(simulator.messages(api="subscribe")) == 40


# --- HTTPS, as WeChat's real API is ----------------------------------------------------------------

def _self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for localhost (its own CA) and its key, made with `cryptography`."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_https_with_a_verified_certificate_keeps_one_connection(tmp_path, monkeypatch):
    import ssl

    cert, key = _self_signed(tmp_path)
    stats = {"connections": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            stats["connections"] += 1
            super().setup()

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            reply(200, OK)(self, b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        # Not trusted by the default CA bundle: a TLS failure after connecting is a bad response, as with requests.
        with pytest.raises(WeChatBadResponse):
            LeanSender(f"https://localhost:{port}", 2).post_json("/p", b"{}")
        monkeypatch.setattr("app.wechat.sender._ca_file", lambda: cert)
        lean = LeanSender(f"https://localhost:{port}", 2)
        assert [lean.post_json("/p", b"{}")["msgid"] for _ in range(3)] == [7, 7, 7]
        lean.close()
    finally:
        server.shutdown()
        server.server_close()
    assert stats["connections"] == 1  # one kept-alive TLS connection (the refused handshake never reached a handler)
