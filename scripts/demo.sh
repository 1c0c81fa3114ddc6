#!/usr/bin/env bash
# Runs the demo city: loads it (once), loads the real Seattle layers when ../shared/data is there,
# then runs the ASGI server, a Celery worker and beat, the CoT listener and the feed simulators
# until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
HOST=${DEMO_HOST:-127.0.0.1}
PORT=${DEMO_PORT:-8000}
export DEMO_PASSWORD=${DEMO_PASSWORD:-rtcc-demo-2026!}
# Every process below connects as the app role (no superuser; scripts/setup_db.sh made it).
export DATABASE_URL=${DATABASE_URL:-postgis://rtcc_app@127.0.0.1:5432/rtcc_gis}
# The owner's and the admin's credentials are for set-up and migrate only: no process started here gets them.
unset DATABASE_OWNER_URL DATABASE_ADMIN_URL
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
LOGS=var/log
# DEBUG off as in production (export DJANGO_DEBUG=1 for Django's debug pages), with a generated secret
# key and local allowed hosts over plain HTTP.
source scripts/local_env.sh
mkdir -p "$LOGS"

say() { printf '\033[1m[demo]\033[0m %s\n' "$*"; }

"$PY" manage.py load_demo_city --password "$DEMO_PASSWORD"

shared=$("$PY" manage.py shell --no-imports -c "from django.conf import settings; print(settings.RTCC_SHARED_DATA_DIR)" 2>/dev/null || true)
if [ -n "$shared" ] && [ -d "$shared" ]; then
  say "real Seattle data found in $shared: importing it through the agency import command"
  bash scripts/import_seattle.sh "$shared" || say "some real-data imports reported problems (see above); the demo goes on"
else
  say "no real data folder (../shared/data); the simulated demo city is all there is"
fi

pids=()
cleanup() {
  say "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$VENV/bin/celery" -A rtcc_gis worker -Q celery,feeds,analytics --loglevel INFO --concurrency 2 >"$LOGS/celery-worker.log" 2>&1 &
pids+=($!)
"$VENV/bin/celery" -A rtcc_gis beat --loglevel INFO --schedule var/celerybeat-schedule >"$LOGS/celery-beat.log" 2>&1 &
pids+=($!)
# Daphne through rtcc_gis/serve.py: the same server, with feed tokens redacted from its access log.
"$PY" -m rtcc_gis.serve -b "$HOST" -p "$PORT" rtcc_gis.asgi:application >"$LOGS/asgi.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "http://$HOST:$PORT/accounts/login/" 2>/dev/null && break
  sleep 0.5
done

# A live HLS test pattern for the demo cameras that play video (apps/demo/views.py serves it, through
# the stream proxy, on an audited grant). Without ffmpeg those cameras were loaded as snapshots.
if command -v ffmpeg >/dev/null 2>&1; then
  HLS_DIR=var/demo-hls
  mkdir -p "$HLS_DIR" && rm -f "$HLS_DIR"/index*
  ffmpeg -hide_banner -loglevel error -re -f lavfi -i "testsrc2=size=640x360:rate=15" \
    -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p -g 30 \
    -f hls -hls_time 2 -hls_list_size 6 -hls_flags delete_segments "$HLS_DIR/index.m3u8" \
    >"$LOGS/demo-hls.log" 2>&1 &
  pids+=($!)
fi

# Live simulated feeds, through the same endpoints and listener a real source uses. The CoT
# listener starts first so the simulator's CoT units find it.
COT_PORT=${DEMO_COT_PORT:-8087}
COT_ID=$("$PY" manage.py simulate_city --print-cot-source)
"$PY" manage.py cot_listen --source "$COT_ID" --host 127.0.0.1 --tcp "$COT_PORT" --udp "$COT_PORT" \
  >"$LOGS/cot-listen.log" 2>&1 &
pids+=($!)
"$PY" manage.py simulate_city --base-url "http://$HOST:$PORT" --cot-host 127.0.0.1 --cot-port "$COT_PORT" \
  >"$LOGS/simulator.log" 2>&1 &
pids+=($!)

cat <<MSG

  rtcc-gis demo is running.
    Map:    http://$HOST:$PORT/
    Admin:  http://$HOST:$PORT/admin/
    API:    http://$HOST:$PORT/api/incidents/   (schema: /api/schema/)
    Login:  operator / $DEMO_PASSWORD   (also: commander, planner, auditor, admin)
    Feeds:  simulated CAD, AVL (OsmAnd + CoT on tcp/udp $COT_PORT), ALPR, gunshots, CAP alarms
    Logs:   $LOGS/  (asgi.log, celery-*.log, cot-listen.log, simulator.log)
  Ctrl-C stops it.

MSG
wait -n "${pids[@]}"
say "a demo process exited; see $LOGS/"
