#!/usr/bin/env bash
# The one-machine demo: migrate, seed, then run the WeChat simulator, the web service, a
# delivery worker and the scheduler on embedded defaults (SQLite, in-process Redis) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export FLASK_APP=app:create_app
WEB_PORT=${WEB_PORT:-5000}

"$BIN/flask" db upgrade
"$BIN/flask" seed demo
# One-time console logins (valid console.login_link_minutes) for the demo organiser and admin.
ORGANIZER_LINK=$("$BIN/flask" console login-link --openid sim_organizer --base-url "http://127.0.0.1:$WEB_PORT")
ADMIN_LINK=$("$BIN/flask" console login-link --openid sim_admin --base-url "http://127.0.0.1:$WEB_PORT")

pids=()
font_pid=
cleanup() {
  trap - EXIT INT TERM
  kill "${pids[@]}" $font_pid 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$BIN/flask" wechat-sim --no-access-log & pids+=($!)
"$BIN/flask" jobs worker & pids+=($!)
# Background tasks (exports): Huey's consumer on the SQLite queue in instance/.
"$BIN/flask" jobs tasks & pids+=($!)
# The bulletin PDF's cut-down font, built ahead (once) so the first PDF does not wait for it; not in
# pids, since its end is no reason to stop the demo.
"$BIN/flask" jobs pdf-font > /dev/null & font_pid=$!
# One scheduler: with the in-process Redis substitute a second one could not see the first's lease.
"$BIN/flask" jobs scheduler & pids+=($!)
# One web worker process: the in-process Redis substitute is not shared between processes.
"$BIN/flask" web --workers 1 --threads 8 --port "$WEB_PORT" & pids+=($!)

for _ in $(seq 1 50); do
  if "$BIN/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$WEB_PORT/healthz', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.2
done

cat <<TXT

  Volunteer service is running.
    Console:            http://127.0.0.1:$WEB_PORT/console/
    Health:             http://127.0.0.1:$WEB_PORT/healthz
    API description:    http://127.0.0.1:$WEB_PORT/api/v1/openapi.json
    WeChat simulator:   http://127.0.0.1:5100/_sim/messages   (messages the service sent)
  Try it:
    curl -s -X POST http://127.0.0.1:$WEB_PORT/api/v1/auth/login -H 'Content-Type: application/json' -d '{"code":"organizer"}'
    .venv/bin/flask wechat-sim push text --content 帮助
  Press Ctrl-C to stop.

TXT
cat <<TXT
  Console logins (each works once, within 10 minutes; more: .venv/bin/flask console login-link --openid OPENID):
    demo organiser:     $ORGANIZER_LINK
    demo admin:         $ADMIN_LINK

TXT
wait -n "${pids[@]}"
