"""The least a correct check-in can do on our stack: Flask + SQLAlchemy + psycopg on the same
PostgreSQL, one `INSERT … ON CONFLICT DO NOTHING` per scan, committed durably, nothing else.

No token, no rules, no code check, no nonce, no answer stored: the volunteer id is read from the
personal code (`V<id>-<digits>`) and the row goes into `bench_peer_checkins`, unique per (activity,
volunteer), which bench/checkin.py creates in its throwaway database. The connection runs in
autocommit, so the INSERT is its own transaction: one round trip, a durable commit (the server's
`synchronous_commit` as is), no pre-ping.

Serve with: BENCH_PEER_DATABASE_URL=postgresql+psycopg://… gunicorn bench.peers.checkin_insert:app
(from the repository root).
"""

import os

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_peer_checkins ("
    " id bigserial PRIMARY KEY, activity_id integer NOT NULL, volunteer_id integer NOT NULL,"
    " nonce varchar(64) NOT NULL, checked_in_at timestamptz NOT NULL DEFAULT now(),"
    " UNIQUE (activity_id, volunteer_id))"
)
_INSERT = text("INSERT INTO bench_peer_checkins (activity_id, volunteer_id, nonce) VALUES (:activity_id, "
               ":volunteer_id, :nonce) ON CONFLICT DO NOTHING RETURNING id")

# The same pool size as the service's (app/extensions.py), without its pre-ping.
engine = create_engine(os.environ.get("BENCH_PEER_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"),
                       isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=10, pool_timeout=10)
app = Flask(__name__)


@app.post("/peer/activities/<int:activity_id>/scans")
def scan(activity_id: int):
    body = request.get_json()
    code = body["code"]
    volunteer_id = int(code[1:code.index("-")])
    with engine.connect() as conn:
        inserted = conn.execute(_INSERT, {"activity_id": activity_id, "volunteer_id": volunteer_id,
                                          "nonce": body["nonce"]}).scalar()
    return jsonify(result="checked_in" if inserted is not None else "already_checked_in",
                   volunteer={"id": volunteer_id})
