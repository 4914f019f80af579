#!/usr/bin/env bash
# The console's unit tests (Vitest), the browser tests, then the suite twice at the same time: on the
# embedded defaults and on real PostgreSQL and Redis. The two passes share nothing (their own database,
# their own Redis or none, their own scratch folders), so they run side by side on two cores; the
# PostgreSQL pass's output is printed when it ends.
# With pytest arguments (`scripts/test.sh -k callbacks`) the two passes run one after the other with
# those arguments, and the end-to-end tests are in the first pass when the arguments select them.
# With CI=true a missing PostgreSQL or Redis fails the run instead of skipping it.
# The end-to-end tests (tests/e2e: real processes, a real browser, their own SQLite file) run alone,
# before the two passes, so that a busy machine does not slow the browser; without chromium or a
# console build they are skipped (CI=true: they fail).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PG_URL=${TEST_PG_SERVER_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
REDIS_URL=${TEST_REDIS_SERVER_URL:-redis://127.0.0.1:6379/15}
PYTEST=("$BIN/python" -m pytest -q -p no:cacheprovider)

# The bulletin PDF's cut-down font (a minute of CPU, once per checkout) is built while Vitest runs,
# so the PDF tests wait for a render, not for the font.
FLASK_APP=app:create_app "$BIN/flask" jobs pdf-font > /dev/null & font_pid=$!

console_status=0
if [ "$#" = 0 ] && [ -f console/package.json ]; then
  echo "== console unit tests (Vitest) =="
  scripts/console.sh npm test --silent
  console_status=$?
fi

wait "$font_pid" || echo "NOTICE: the PDF font could not be built ahead; the first PDF builds it" >&2

services_ok=1
"$BIN/python" - "$PG_URL" "$REDIS_URL" <<'PY' || services_ok=0
import sys
import redis
import sqlalchemy as sa
try:
    sa.create_engine(sys.argv[1], connect_args={"connect_timeout": 3}).connect().close()
    redis.Redis.from_url(sys.argv[2], socket_connect_timeout=3).ping()
except Exception as exc:
    print(f"PostgreSQL or Redis unreachable: {exc}", file=sys.stderr)
    sys.exit(1)
PY
if [ "$services_ok" = 0 ] && [ "${CI:-}" = "true" ]; then
  echo "CI=true: PostgreSQL and Redis are required for the second pass" >&2
fi

sqlite_pass() { env -u TEST_DATABASE_URL -u TEST_REDIS_URL "${PYTEST[@]}" "$@"; }
services_pass() {
  TEST_DATABASE_URL="$PG_URL" TEST_REDIS_URL="$REDIS_URL" "${PYTEST[@]}" --ignore=tests/e2e "$@"
  local status=$?
  # Arguments that select only end-to-end tests leave this pass nothing to collect (pytest's 5).
  [ "$status" = 5 ] && status=0
  return "$status"
}

e2e_status=0
services_status=0
if [ "$#" = 0 ]; then
  echo "== end-to-end tests (SQLite, real processes, chromium) =="
  sqlite_pass tests/e2e
  e2e_status=$?

  if [ "$services_ok" = 1 ]; then
    services_log=$(mktemp -t services-pass-XXXXXX.log)
    services_pass > "$services_log" 2>&1 & services_pid=$!
  fi
  echo "== suite on SQLite + in-process Redis (the PostgreSQL pass runs beside it) =="
  sqlite_pass --ignore=tests/e2e
  sqlite_status=$?
  if [ "$services_ok" = 1 ]; then
    wait "$services_pid"
    services_status=$?
    echo "== suite on PostgreSQL + Redis =="
    cat "$services_log"
    rm -f "$services_log"
  fi
else
  echo "== suite on SQLite + in-process Redis =="
  sqlite_pass "$@"
  sqlite_status=$?
  if [ "$services_ok" = 1 ]; then
    echo "== suite on PostgreSQL + Redis =="
    services_pass "$@"
    services_status=$?
  fi
fi

if [ "$services_ok" = 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    services_status=1
  else
    echo "NOTICE: PostgreSQL/Redis not reachable; the second pass was skipped (CI would fail here)" >&2
  fi
fi

[ "$console_status" = 0 ] && [ "$e2e_status" = 0 ] && [ "$sqlite_status" = 0 ] && [ "$services_status" = 0 ]
