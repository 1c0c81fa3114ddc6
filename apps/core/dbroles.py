"""The two database roles: the owner (owns the schema, runs migrations) and the app (everything else).

The web, ASGI and Celery processes connect as the app role (DATABASE_URL): it may read and write the
application's rows but owns nothing, so it can neither change the schema nor lift a trigger. Tables an app
declares narrower (the audit trail: SELECT and INSERT only, no UPDATE, DELETE or TRUNCATE) and functions it
may call (the retention purge's one door into the audit table) are registered here from that app's
`AppConfig.ready()`; `app_role_grant()` applies it all after every `manage.py migrate`, which runs as the owner
(`apps/core/management/commands/migrate.py`).
"""

from __future__ import annotations

import os

import dj_database_url
from django.conf import settings
from psycopg import sql

# The owner role's URL when DATABASE_OWNER_URL is not set (only its user and password are used by migrate).
OWNER_URL_DEFAULT = "postgis://rtcc_owner@127.0.0.1:5432/rtcc_gis"

# table name -> the only privileges the app role gets on it (instead of SELECT, INSERT, UPDATE, DELETE)
_NARROW_TABLES: dict[str, tuple[str, ...]] = {}
# "name(argument types)" of functions the app role may EXECUTE (every other function of ours: not granted)
_APP_FUNCTIONS: set[str] = set()

FULL = ("SELECT", "INSERT", "UPDATE", "DELETE")


def app_table_privileges(table: str, privileges: tuple[str, ...]) -> None:
    """Declare that the app role gets only `privileges` on `table` (call from AppConfig.ready())."""
    unknown = set(privileges) - set(FULL)
    if unknown:
        raise ValueError(f"unknown privileges for {table}: {sorted(unknown)}")
    _NARROW_TABLES[table] = tuple(privileges)


def app_function(signature: str) -> None:
    """Declare that the app role may EXECUTE this function, e.g. `audit_purge_batch(integer)`."""
    _APP_FUNCTIONS.add(signature)


def narrow_tables() -> dict[str, tuple[str, ...]]:
    return dict(_NARROW_TABLES)


def app_role_name() -> str:
    """The role the application connects as: DATABASE_URL's user."""
    return settings.DATABASE_APP_ROLE


def owner_url() -> str:
    """DATABASE_OWNER_URL, read from the environment only where the owner is needed (`manage.py migrate`, the test
    harness, the benches, the set-up scripts): never a setting, so the web, ASGI and Celery processes neither hold
    the owner's password nor show it on a debug page or in `diffsettings`."""
    return os.environ.get("DATABASE_OWNER_URL") or OWNER_URL_DEFAULT


def owner_credentials() -> dict[str, str]:
    """USER and PASSWORD of the owner role, to put in a connection's settings_dict."""
    parsed = dj_database_url.parse(owner_url())
    return {"USER": parsed.get("USER") or "", "PASSWORD": parsed.get("PASSWORD") or ""}


def owner_role_name() -> str:
    return owner_credentials()["USER"]


def _privs(names: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(p) for p in names)


def app_role_grant(cursor, *, app_role: str) -> list[str]:
    """Give `app_role` what the application needs on every table, sequence and declared function the current
    (owner) role owns in `public`, and no more; idempotent. Returns the tables granted narrowly.

    Runs as the owner, after migrations. Default privileges cover tables created later by the owner
    (until the next migrate re-applies the narrow ones)."""
    role = sql.Identifier(app_role)
    cursor.execute(
        "SELECT c.relname, c.relkind FROM pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
        "AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
        "AND d.deptype = 'e') ORDER BY 1"
    )
    narrowed = []
    for name, kind in cursor.fetchall():
        obj = sql.Identifier(name)
        if kind == "S":
            cursor.execute(sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(obj, role))
            continue
        wanted = _NARROW_TABLES.get(name, FULL)
        cursor.execute(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(obj, role))
        cursor.execute(sql.SQL("GRANT {} ON TABLE {} TO {}").format(_privs(wanted), obj, role))
        if name in _NARROW_TABLES:
            narrowed.append(name)
    for signature in sorted(_APP_FUNCTIONS):
        cursor.execute("SELECT to_regprocedure(%s)", [signature])
        if cursor.fetchone()[0] is None:
            continue  # its migration has not run (a partial migrate)
        func = sql.SQL(signature)  # a declared constant from our own code, never user input
        cursor.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(func))
        cursor.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(func, role))
    defaults = "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {} ON {} TO {}"
    cursor.execute(sql.SQL(defaults).format(_privs(FULL), sql.SQL("TABLES"), role))
    cursor.execute(sql.SQL(defaults).format(sql.SQL("USAGE, SELECT"), sql.SQL("SEQUENCES"), role))
    return narrowed
