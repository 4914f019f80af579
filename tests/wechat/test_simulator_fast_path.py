"""The simulator's fast path (app/wechat/simulator/fast.py) answers exactly as the Flask views do.

Every case runs twice, on a simulator with the fast path and on one without (the sends through the
Flask views), with the same fake clock and the same tokens: the answers (status, headers, bytes),
the record, the stats and the injected delays must be identical. Then the record under concurrent
posting from 16 threads, through the WSGI app and through granian serving it as `flask wechat-sim`
does (one process, 16 threads, kept-alive connections).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.wechat.simulator import create_simulator_app, simulator_state
from app.wechat.simulator.fast import FastSends, access_token

from .test_simulator import MINI, OFFICIAL, T0, WECHAT, FakeClock

SUBSCRIBE = "/cgi-bin/message/subscribe/send"
TEMPLATE = "/cgi-bin/message/template/send"


def sub_body(**changes: Any) -> dict[str, Any]:
    body = {"touser": "sim_alice", "template_id": "tmpl_a", "page": "pages/me/index",
            "data": {"thing1": {"value": "你好"}, "time2": {"value": "2026-12-06 09:00"}}}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def tmpl_body(**changes: Any) -> dict[str, Any]:
    body = {"touser": "sim_bob", "template_id": "tmpl_t", "data": {"thing1": {"value": "通知"}}}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def js(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


# A case: requests (method, path with {mp} / {oa} for the tokens, body), optional set-up on the state.
Step = tuple[str, str, bytes | None]
MP, OA = "?access_token={mp}", "?access_token={oa}"
CASES: dict[str, tuple[list[Step], Callable[[Any, FakeClock], None] | None]] = {
    "subscribe ok": ([("POST", SUBSCRIBE + MP, js(sub_body()))], None),
    "subscribe ok, all options": ([("POST", SUBSCRIBE + MP, js(sub_body(lang="en_US", miniprogram_state="trial",
                                                                        page=None)))], None),
    "subscribe twice, msgids in order": ([("POST", SUBSCRIBE + MP, js(sub_body()))] * 2, None),
    "subscribe, numbers as values": ([("POST", SUBSCRIBE + MP, js(sub_body(data={"number1": {"value": 12}})))], None),
    "token missing": ([("POST", SUBSCRIBE, js(sub_body()))], None),
    "token empty": ([("POST", SUBSCRIBE + "?access_token=", js(sub_body()))], None),
    "token unknown": ([("POST", SUBSCRIBE + "?access_token=sim_nope", js(sub_body()))], None),
    "token after other parameters": ([("POST", SUBSCRIBE + "?x=1&access_token={mp}", js(sub_body()))], None),
    "token percent-encoded": ([("POST", SUBSCRIBE + "?access_token=%73{mp_tail}", js(sub_body()))], None),
    "token given twice, first wins": ([("POST", SUBSCRIBE + "?access_token=bad&access_token={mp}",
                                        js(sub_body()))], None),
    "token of the other app (48001)": ([("POST", SUBSCRIBE + OA, js(sub_body()))], None),
    "token expired (42001)": ([("POST", SUBSCRIBE + MP, js(sub_body()))], lambda s, c: c.advance(7200)),
    "body empty (44002)": ([("POST", SUBSCRIBE + MP, b"")], None),
    "body blank (44002)": ([("POST", SUBSCRIBE + MP, b" \n ")], None),
    "body not JSON (47001)": ([("POST", SUBSCRIBE + MP, b"{touser")], None),
    "body a JSON list (47001)": ([("POST", SUBSCRIBE + MP, b"[1, 2]")], None),
    "body not UTF-8 (47001)": ([("POST", SUBSCRIBE + MP, b'{"touser": "\xff"}')], None),
    "body nested too deep (47001)": ([("POST", SUBSCRIBE + MP, b"[" * 100_000 + b"]" * 100_000)], None),
    "touser missing (40003)": ([("POST", SUBSCRIBE + MP, js(sub_body(touser=...)))], None),
    "touser not an openid (40003)": ([("POST", SUBSCRIBE + MP, js(sub_body(touser="alice")))], None),
    "touser a number (40003)": ([("POST", SUBSCRIBE + MP, js(sub_body(touser=5)))], None),
    "template_id missing (40037)": ([("POST", SUBSCRIBE + MP, js(sub_body(template_id=...)))], None),
    "template_id blank (40037)": ([("POST", SUBSCRIBE + MP, js(sub_body(template_id="  ")))], None),
    "page too long (41030)": ([("POST", SUBSCRIBE + MP, js(sub_body(page="p" * 1025)))], None),
    "page not a string (41030)": ([("POST", SUBSCRIBE + MP, js(sub_body(page=3)))], None),
    "miniprogram_state bad (47003)": ([("POST", SUBSCRIBE + MP, js(sub_body(miniprogram_state="prod")))], None),
    "lang bad (47003)": ([("POST", SUBSCRIBE + MP, js(sub_body(lang="fr")))], None),
    "data missing (47003)": ([("POST", SUBSCRIBE + MP, js(sub_body(data=...)))], None),
    "data empty value, Chinese key (47003)": ([("POST", SUBSCRIBE + MP, js(sub_body(data={"名字1": {"value": " "}})))],
                                              None),
    "data thing too long (47003)": ([("POST", SUBSCRIBE + MP, js(sub_body(data={"thing1": {"value": "字" * 21}})))],
                                    None),
    "data time with seconds (47003)": ([("POST", SUBSCRIBE + MP,
                                         js(sub_body(data={"time4": {"value": "2026-12-06 11:50:00"}})))], None),
    "rate limit (45009)": ([("POST", SUBSCRIBE + MP, js(sub_body()))] * 3,
                           lambda s, c: s.set_rate_limit(2)),
    "fault errcode": ([("POST", SUBSCRIBE + MP, js(sub_body()))] * 2,
                      lambda s, c: s.add_fault("subscribe", errcode=-1)),
    "fault on any API": ([("POST", SUBSCRIBE + MP, js(sub_body()))],
                         lambda s, c: s.add_fault("*", errcode=45011)),
    "fault delay, then the send": ([("POST", SUBSCRIBE + MP, js(sub_body()))],
                                   lambda s, c: s.add_fault("subscribe", delay_seconds=2.5)),
    "fault delay and errcode, no token": ([("POST", SUBSCRIBE, b"")],
                                          lambda s, c: s.add_fault("subscribe", errcode=43101, delay_seconds=1)),
    "fault for another API": ([("POST", SUBSCRIBE + MP, js(sub_body()))],
                              lambda s, c: s.add_fault("template", errcode=-1)),
    "template ok": ([("POST", TEMPLATE + OA, js(tmpl_body(url="https://example.org",
                                                         miniprogram={"appid": "wx1", "pagepath": "p"})))], None),
    "template deduplicated by client_msg_id": ([("POST", TEMPLATE + OA, js(tmpl_body(client_msg_id="m1")))] * 2, None),
    "template client_msg_id too long (47001)": ([("POST", TEMPLATE + OA, js(tmpl_body(client_msg_id="m" * 65)))],
                                                None),
    "template data bad (47001)": ([("POST", TEMPLATE + OA, js(tmpl_body(data={"thing1": "x"})))], None),
    "template miniprogram bad (47001)": ([("POST", TEMPLATE + OA, js(tmpl_body(miniprogram={"pagepath": "p"})))],
                                         None),
    "template touser bad (40003)": ([("POST", TEMPLATE + OA, js(tmpl_body(touser="bob")))], None),
    "template with the mini-program's token (48001)": ([("POST", TEMPLATE + MP, js(tmpl_body()))], None),
    "template rate limit (45009)": ([("POST", TEMPLATE + OA, js(tmpl_body()))] * 2,
                                    lambda s, c: s.set_rate_limit(1)),
    "not the fast path: GET (405)": ([("GET", SUBSCRIBE + MP, None)], None),
    "not the fast path: trailing slash": ([("POST", SUBSCRIBE + "/" + MP, js(sub_body()))], None),
    "not the fast path: custom send": ([("POST", "/cgi-bin/message/custom/send" + MP,
                                         js({"touser": "sim_a", "msgtype": "text", "text": {"content": "hi"}}))], None),
}


def run_case(fast: bool, steps: list[Step], setup: Callable | None) -> dict[str, Any]:
    clock, sleeps = FakeClock(), []
    app = create_simulator_app(WECHAT, clock=clock, sleep=sleeps.append, fast_path=fast)
    assert isinstance(app.wsgi_app, FastSends) is fast
    state = simulator_state(app)
    # The same token values on both simulators, so the requests are byte for byte the same.
    tokens = {"mp": "sim_mp_token_fixed", "oa": "sim_oa_token_fixed"}
    state.issue_token(MINI["app_id"], endpoint="stable_token")
    state.issue_token(OFFICIAL["app_id"], endpoint="stable_token")
    with state._lock:
        for key, token in list(state._tokens.items()):
            name = "mp" if token.app_id == MINI["app_id"] else "oa"
            del state._tokens[key]
            token.value = tokens[name]
            state._tokens[tokens[name]] = token
    if setup:
        setup(state, clock)
    client = app.test_client()
    answers = []
    for method, path, body in steps:
        url = path.format(mp=tokens["mp"], oa=tokens["oa"], mp_tail=tokens["mp"][1:])
        response = client.open(url, method=method, data=body)
        answers.append((response.status, sorted(response.headers.items()), response.data))
    return {"answers": answers, "messages": state.messages(), "stats": state.stats(), "sleeps": sleeps,
            "faults": state.faults()}


@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_answers_as_the_flask_views(case):
    steps, setup = CASES[case]
    fast, views = run_case(True, steps, setup), run_case(False, steps, setup)
    assert fast == views
    # And the answers are WeChat's JSON (or Flask's own pages off the fast path).
    for status, _, data in fast["answers"]:
        if status == "200 OK":
            answer = json.loads(data)
            assert isinstance(answer["errcode"], int) and isinstance(answer["errmsg"], str)


def test_fast_path_cases_cover_each_answer():
    """The comparison above is only worth something if the cases reach every outcome."""
    seen = set()
    for steps, setup in CASES.values():
        for status, _, data in run_case(True, steps, setup)["answers"]:
            seen.add(json.loads(data)["errcode"] if status == "200 OK" else status)
    assert {0, 40001, 40003, 40037, 41001, 41030, 42001, 43101, 44002, 45009, 45011, 47001, 47003, 48001, -1,
            "405 METHOD NOT ALLOWED"} <= seen


def test_access_token_is_read_as_flask_reads_it():
    assert access_token("access_token=abc-_XYZ") == "abc-_XYZ"
    assert access_token("access_token=") == ""
    assert access_token("") is None
    assert access_token("a=1&access_token=x%2By+z&access_token=2") == "x+y z"
    assert access_token("access_token=a;b") == "a;b"


def _post_concurrently(post: Callable[[int], dict[str, Any]], threads: int, each: int) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def run(t: int) -> None:
        mine = [post(t * each + i) for i in range(each)]
        with lock:
            answers.extend(mine)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return answers


def test_record_is_complete_under_concurrent_posting():
    """16 threads post at once through the fast path: every accepted send recorded once, with its own
    id and msgid, and exactly the bucket's worth accepted (the clock stands still)."""
    app = create_simulator_app(WECHAT, clock=FakeClock(), rate_limit_per_second=1000)
    token, _ = simulator_state(app).issue_token(MINI["app_id"], endpoint="stable_token")
    clients = threading.local()

    def post(n: int) -> dict[str, Any]:
        if not hasattr(clients, "c"):
            clients.c = app.test_client()
        return clients.c.post(f"{SUBSCRIBE}?access_token={token}", data=js(sub_body(touser=f"sim_u{n}"))).json

    answers = _post_concurrently(post, threads=16, each=100)
    accepted = [a for a in answers if a["errcode"] == 0]
    assert len(accepted) == 1000 and len(answers) - len(accepted) == 600
    assert {a["errcode"] for a in answers} == {0, 45009}
    record = simulator_state(app).messages()
    assert len(record) == 1000
    assert sorted(m["msgid"] for m in record) == sorted(a["msgid"] for a in accepted)
    assert len({m["id"] for m in record}) == len({m["touser"] for m in record}) == 1000
    stats = simulator_state(app).stats()
    assert stats["messages"]["subscribe"] == 1000 and stats["rate_limited"] == 600 and stats["calls"]["subscribe"] == 1600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_by_granian_over_kept_alive_connections(tmp_path):
    """`flask wechat-sim`'s server (granian, one process, 16 threads): 16 kept-alive connections post
    1600 messages; all are answered on their connection and recorded once."""
    pytest.importorskip("granian")
    port = _free_port()
    env = {**os.environ, "APP_CONFIG": "", "WECHAT_SIM_RATE_LIMIT_PER_SECOND": "0"}
    log = (tmp_path / "granian.log").open("wb")
    code = ("import sys; from app.wechat.simulator.serve import serve; "
            f"serve('127.0.0.1', {port}, rate_limit=0, server='granian', access_log=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/_sim/health")
                health = conn.getresponse()
                health.read()
                assert health.status == 200
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "granian.log").read_text()
                time.sleep(0.2)
        from app.config import load_settings

        mp = load_settings(environ=env)["wechat"]["miniprogram"]
        conn.request("POST", "/cgi-bin/stable_token", js({"grant_type": "client_credential", "appid": mp["app_id"],
                                                         "secret": mp["app_secret"]}))
        token = json.loads(conn.getresponse().read())["access_token"]
        connections = threading.local()
        opened: list[http.client.HTTPConnection] = []

        def post(n: int) -> dict[str, Any]:
            if not hasattr(connections, "c"):
                connections.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                opened.append(connections.c)
            connections.c.request("POST", f"{SUBSCRIBE}?access_token={token}", js(sub_body(touser=f"sim_k{n}")))
            response = connections.c.getresponse()
            assert response.getheader("Connection", "keep-alive").lower() != "close"
            return json.loads(response.read())

        answers = _post_concurrently(post, threads=16, each=100)
        assert [a["errcode"] for a in answers] == [0] * 1600
        # Each thread used one connection for all its messages: still open, no reconnects.
        assert len(opened) == 16 and all(c.sock is not None for c in opened)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/_sim/messages?api=subscribe")
        record = json.loads(conn.getresponse().read())["messages"]
        assert len(record) == 1600
        assert {m["touser"] for m in record} == {f"sim_k{n}" for n in range(1600)}
        assert sorted(m["msgid"] for m in record) == sorted(a["msgid"] for a in answers)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
