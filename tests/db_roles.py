"""The test database is created and migrated by the owner role; the tests then run as the app role.

So the whole suite proves the application works without superuser or owner rights. The few things only the owner
may do are done on an owner connection of their own: emptying the tables between transactional tests (TRUNCATE,
which the app role may not do to the audit trail) and tests that play an attacker with owner rights
(`owner_connect()`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connections

from apps.core import dbroles

_APP: dict[str, str] = {}


def conninfo(*, owner: bool) -> dict:
    """psycopg connection arguments for the test database, as the owner or as the app role."""
    db = connections["default"].settings_dict
    creds = dbroles.owner_credentials() if owner else (_APP or {"USER": db["USER"], "PASSWORD": db["PASSWORD"]})
    info = {
        "dbname": db["NAME"],
        "host": db.get("HOST") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
        "user": creds["USER"],
    }
    if creds.get("PASSWORD"):
        info["password"] = creds["PASSWORD"]
    return info


@contextmanager
def owner_connect(**kwargs) -> Iterator[psycopg.Connection]:
    """A connection to the test database as the owner role (sees only committed rows)."""
    with psycopg.connect(**conninfo(owner=True), **kwargs) as conn:
        yield conn


def _flush_as_owner(self, sql_list):
    """`DatabaseOperations.execute_sql_flush`, on an owner connection: the app role may not TRUNCATE the audit
    trail, and nothing in the application needs to."""
    with psycopg.connect(**conninfo(owner=True)) as conn, conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '30s'")  # a leaked open transaction fails loudly, never hangs
        for statement in sql_list:
            conn.execute(statement)


def _use(creds: dict[str, str]) -> None:
    for alias in connections:
        connections[alias].close()
    settings.DATABASES["default"].update(creds)
    connections["default"].settings_dict.update(creds)


def become_owner() -> None:
    """Before the test database is created (and at teardown, to drop it)."""
    if not _APP:
        db = settings.DATABASES["default"]
        _APP.update({"USER": db["USER"], "PASSWORD": db["PASSWORD"]})
    _use(dbroles.owner_credentials())


def become_app() -> None:
    """Once the test database is migrated: every test connection is the app role's."""
    from django.contrib.gis.db.backends.postgis.operations import PostGISOperations

    PostGISOperations.execute_sql_flush = _flush_as_owner
    _use(dict(_APP))


@contextmanager
def as_owner() -> Iterator[None]:
    """The default connection as the owner role for a block of a transactional test: what only migrations do
    (DDL, a migration's data step), done as `manage.py migrate` does it."""
    become_owner()
    try:
        yield
    finally:
        become_app()
