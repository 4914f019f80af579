"""The WeChat simulator as a WSGI factory for gunicorn (bench/broadcast.py runs it with one process).

    gunicorn -w 1 -k gthread --threads 8 "bench.broadcast_sim:create()"

The simulator keeps its state (recorded messages, the rate-limit bucket) in its one process, so it
must run as a single gunicorn worker; threads serve the workers' parallel sends. Settings come from
APP_CONFIG / APP_* as for the service; BENCH_SIM_RATE sets the send rate limit (0: none).
"""

from __future__ import annotations

import os

from flask import Flask


def create() -> Flask:
    from app.config import load_settings, thaw
    from app.wechat.simulator import create_simulator_app

    conf = load_settings()
    rate = float(os.environ.get("BENCH_SIM_RATE", conf["simulator"]["rate_limit_per_second"]))
    return create_simulator_app(thaw(conf["wechat"]), rate_limit_per_second=rate)
