"""The WeChat simulator as a WSGI factory for gunicorn (bench/broadcast.py runs it with one process).

    gunicorn -w 1 -k gthread --threads 8 "bench.broadcast_sim:create()"

The simulator keeps its state (recorded messages, the rate-limit bucket) in its one process, so it
must run as a single gunicorn worker; threads serve the workers' parallel sends. Settings come from
APP_CONFIG / APP_* as for the service; BENCH_SIM_RATE sets the send rate limit (0: none);
BENCH_SIM_FAST_PATH=0 serves the sends through the Flask views instead of the fast path (to compare).
"""

from __future__ import annotations

import os

from flask import Flask


def create() -> Flask:
    from app.config import load_settings, thaw
    from app.wechat.simulator import create_simulator_app

    conf = load_settings()
    rate = float(os.environ.get("BENCH_SIM_RATE", conf["simulator"]["rate_limit_per_second"]))
    fast_path = os.environ.get("BENCH_SIM_FAST_PATH", "1") != "0"
    return create_simulator_app(thaw(conf["wechat"]), rate_limit_per_second=rate, fast_path=fast_path)
