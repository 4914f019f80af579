#!/usr/bin/env bash
# The console's unit tests (Vitest; only when no pytest arguments are given), then the suite twice:
# on the embedded defaults, then on real PostgreSQL and Redis.
# With CI=true a missing PostgreSQL or Redis fails the run instead of skipping it.
# The end-to-end tests (tests/e2e: real processes, a real browser, their own SQLite file) run in the
# first pass only; without chromium or a console build they are skipped (CI=true: they fail).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PG_URL=${TEST_PG_SERVER_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
REDIS_URL=${TEST_REDIS_SERVER_URL:-redis://127.0.0.1:6379/15}

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

echo "== suite on SQLite + in-process Redis =="
env -u TEST_DATABASE_URL -u TEST_REDIS_URL "$BIN/python" -m pytest -q -p no:cacheprovider "$@"
sqlite_status=$?

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

if [ "$services_ok" = 1 ]; then
  echo "== suite on PostgreSQL + Redis =="
  TEST_DATABASE_URL="$PG_URL" TEST_REDIS_URL="$REDIS_URL" "$BIN/python" -m pytest -q -p no:cacheprovider \
    --ignore=tests/e2e "$@"
  services_status=$?
  # Arguments that select only end-to-end tests leave this pass nothing to collect (pytest's 5).
  [ "$services_status" = 5 ] && services_status=0
elif [ "${CI:-}" = "true" ]; then
  echo "CI=true: PostgreSQL and Redis are required for the second run" >&2
  services_status=1
else
  echo "NOTICE: PostgreSQL/Redis not reachable; the second run was skipped (CI would fail here)" >&2
  services_status=0
fi

[ "$console_status" = 0 ] && [ "$sqlite_status" = 0 ] && [ "$services_status" = 0 ]
