"""Test doubles that are real servers on loopback: the WeChat simulator on its own port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from werkzeug.serving import make_server

from app.config import thaw
from app.wechat.gateway import WeChatGateway


@dataclass
class RunningSimulator:
    url: str
    app: Any

    def messages(self, **filters: str) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/_sim/messages", params=filters, timeout=5).json()["messages"]

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/_sim/stats", timeout=5).json()

    def fault(self, **spec: Any) -> None:
        requests.post(f"{self.url}/_sim/faults", json=spec, timeout=5).raise_for_status()


@contextmanager
def serve(wsgi_app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def running_simulator(app: Any, **options: Any) -> Iterator[RunningSimulator]:
    """Start the simulator and point the app's gateway at it for the duration."""
    from app.wechat.simulator import create_simulator_app

    wechat = thaw(app.extensions["settings"]["wechat"])
    simulator_app = create_simulator_app(wechat, **options)
    with serve(simulator_app) as url:
        original = app.extensions["wechat_gateway"]
        app.extensions["wechat_gateway"] = WeChatGateway({**wechat, "api_base": url, "wecom_api_base": url},
                                                         redis_client=app.extensions["redis"])
        try:
            yield RunningSimulator(url, simulator_app)
        finally:
            app.extensions["wechat_gateway"] = original


def deliver_all(app: Any, now: Any, *, max_passes: int = 50) -> dict[str, int]:
    """Run delivery passes inside `app` until nothing more is due at `now`; return the summed outcomes."""
    from collections import Counter

    from app.extensions import db
    from app.services import delivery

    totals: Counter = Counter()
    with app.app_context():
        conf = app.extensions["settings"]
        deliverer = delivery.Deliverer(app.extensions["wechat_gateway"], app.extensions["redis"], conf["delivery"],
                                       pii_key=conf["app"]["pii_key"])
        try:
            for _ in range(max_passes):
                result = deliverer.deliver_once(now=now)
                if not result.worked:
                    break
                totals.update(result.counts)
        finally:
            deliverer.close()
            db.session.remove()
    return dict(totals)


def fire(base_url: str, path: str, bodies_and_headers: list[tuple[dict, dict]]) -> list[tuple[int, dict]]:
    """Send every request at once (released together by a barrier) and return (status, body) in order."""
    barrier = threading.Barrier(len(bodies_and_headers))

    def send(item: tuple[dict, dict]) -> tuple[int, dict]:
        body, headers = item
        barrier.wait(timeout=30)
        response = requests.post(f"{base_url}{path}", json=body, headers=headers, timeout=60)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=len(bodies_and_headers)) as pool:
        return list(pool.map(send, bodies_and_headers))
