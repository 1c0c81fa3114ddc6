#!/usr/bin/env bash
# The database roles and databases, created idempotently with the admin connection (DATABASE_ADMIN_URL, a
# superuser; used for nothing else): the owner role (owns the schema, runs migrations: DATABASE_OWNER_URL), the app
# role (what the web, ASGI and Celery processes use: DATABASE_URL; no superuser, no CREATEDB/CREATEROLE, not a
# member of the owner), the database with PostGIS, and the template test databases are copied from (the owner may
# not CREATE EXTENSION postgis itself). Objects a superuser created before (an older set-up) are handed to the
# owner. The app role's privileges are granted by `manage.py migrate` (apps/core/dbroles.py). Called by setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export DATABASE_URL=${DATABASE_URL:-postgis://rtcc_app@127.0.0.1:5432/rtcc_gis}
export DATABASE_OWNER_URL=${DATABASE_OWNER_URL:-postgis://rtcc_owner@127.0.0.1:5432/rtcc_gis}
export DATABASE_ADMIN_URL=${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
eval "$($PY scripts/urlparts.py)"
TEMPLATE=${TEST_DATABASE_TEMPLATE:-${DB_NAME}_template}
TEST_DB=${TEST_DATABASE_NAME:-test_${DB_NAME}}

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
admin() { PGPASSWORD="$ADMIN_PASSWORD" psql -X -v ON_ERROR_STOP=1 -q -h "$ADMIN_HOST" -p "$ADMIN_PORT" -U "$ADMIN_USER" \
  -v app="$DB_USER" -v app_pw="$DB_PASSWORD" -v owner="$OWNER_USER" -v owner_pw="$OWNER_PASSWORD" "$@"; }

if [ "$DB_USER" = "$OWNER_USER" ] || [ "$DB_USER" = "$ADMIN_USER" ]; then
  say "DATABASE_URL's user ($DB_USER) must be its own role, not the owner's or the admin's"; exit 1
fi

admin -d postgres <<'SQL'
SET client_min_messages = warning;
SELECT format('CREATE ROLE %I', :'owner') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I', :'app') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', :'owner') \gexec
-- NOINHERIT: should the app role ever be granted a membership by mistake, it does not silently gain its rights.
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT', :'app')
\gexec
-- A password only when the URL gives one: a URL without one (peer or .pgpass authentication) leaves a password
-- set some other way as it is, instead of erasing it on every run.
SELECT format('ALTER ROLE %I PASSWORD %L', :'owner', :'owner_pw') WHERE :'owner_pw' <> '' \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'app', :'app_pw') WHERE :'app_pw' <> '' \gexec
SELECT format('REVOKE %I FROM %I', m.roleid::regrole, :'app') FROM pg_auth_members m
 WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = :'app') \gexec
SQL

# A test database left by an older set-up (a superuser's) is handed over too, so the owner may drop it.
for db in "$DB_NAME" "$TEMPLATE" "$TEST_DB"; do
  if admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    admin -d postgres -c "ALTER DATABASE \"$db\" OWNER TO \"$OWNER_USER\""
  elif [ "$db" = "$TEST_DB" ]; then
    continue
  else
    say "creating database $db (owner $OWNER_USER)"
    admin -d postgres -c "CREATE DATABASE \"$db\" OWNER \"$OWNER_USER\""
  fi
  admin -d "$db" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('GRANT USAGE, CREATE ON SCHEMA public TO %I', :'owner') \gexec
SET rtcc.setup_owner = :'owner';
-- Hand tables, sequences and functions a superuser created (an older set-up) to the owner; extensions' stay.
DO $$
DECLARE
    r record;
    o text := current_setting('rtcc.setup_owner');
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS obj, c.relkind FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND pg_get_userbyid(c.relowner) <> o
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype IN ('e', 'a', 'i'))
        ORDER BY c.relkind = 'S'
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I',
            CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                           WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.obj, o);
    END LOOP;
    FOR r IN
        SELECT p.oid::regprocedure AS fn FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> o
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO %I', r.fn, o);
    END LOOP;
END
$$;
SQL
done
admin -d postgres -c "ALTER DATABASE \"$TEMPLATE\" IS_TEMPLATE true" >/dev/null
