#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (run as root, or with sudo available):
# system packages, PostgreSQL+PostGIS and Redis (started if nothing answers), the virtualenv,
# the database and its migrations. `make demo` and `make test` both start here.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_BROWSER=${WITH_BROWSER:-0}
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- system packages --------------------------------------------------------------------------
apt_pkgs=(postgresql postgresql-contrib postgresql-15-postgis-3 gdal-bin libgdal-dev libgeos-dev libproj-dev
          binutils redis-server python3-venv curl ffmpeg)
[ "$WITH_BROWSER" = 1 ] && apt_pkgs+=(chromium fonts-liberation)
# Node.js builds the front end's pinned third-party files (scripts/build_frontend.sh); a machine that
# already has node and npm (e.g. from NodeSource) keeps them, since Debian's npm would conflict.
command -v npm >/dev/null 2>&1 || apt_pkgs+=(nodejs npm)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- services: use what answers at DATABASE_URL / REDIS_URL, else start a local one ----------------
# The app's own role (no superuser); the owner role migrates; the admin (a superuser) only creates roles,
# databases and extensions (scripts/setup_db.sh).
export DATABASE_URL=${DATABASE_URL:-postgis://rtcc_app@127.0.0.1:5432/rtcc_gis}
export DATABASE_OWNER_URL=${DATABASE_OWNER_URL:-postgis://rtcc_owner@127.0.0.1:5432/rtcc_gis}
export DATABASE_ADMIN_URL=${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}

# A generated secret key and local hosts, so manage.py starts with DEBUG off (the default).
source scripts/local_env.sh

eval "$($PY scripts/urlparts.py)"   # sets DB_HOST DB_PORT DB_USER DB_NAME DB_PASSWORD (the app's), OWNER_*, ADMIN_*, REDIS_HOST REDIS_PORT

if ! pg_isready -q -h "$DB_HOST" -p "$DB_PORT"; then
  say "no PostgreSQL at $DB_HOST:$DB_PORT; starting the local cluster"
  cluster=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start 2>/dev/null || $SUDO service postgresql start
  for _ in $(seq 1 30); do pg_isready -q -h "$DB_HOST" -p "$DB_PORT" && break; sleep 1; done
fi
if ! redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  say "no Redis at $REDIS_HOST:$REDIS_PORT; starting a local one"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/rtcc-redis.log
  for _ in $(seq 1 20); do redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

# --- python -------------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  $PY -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing Python requirements"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

# --- database -----------------------------------------------------------------------------------
bash scripts/setup_db.sh   # roles, database, PostGIS, the test template (as the admin)
"$VENV/bin/python" manage.py migrate --noinput -v 0   # as the owner role; then grants the app role
bash scripts/build_frontend.sh
"$VENV/bin/python" manage.py collectstatic --noinput -v 0
say "ready: database $DB_NAME at $DB_HOST:$DB_PORT, Redis at $REDIS_HOST:$REDIS_PORT"
