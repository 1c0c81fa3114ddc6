"""The application runs as its own non-superuser role (the whole suite does: tests/db_roles.py), and that role can
add to the audit trail and read it, never empty or rewrite it: a real PostgreSQL refusal, whatever code asks."""

from __future__ import annotations

import psycopg
import psycopg.errors
import pytest
from django.conf import settings
from django.db import connection

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core import dbroles

from .db_roles import conninfo, owner_connect


def _one(sql: str, params: list | None = None):
    with connection.cursor() as cur:
        cur.execute(sql, params or [])
        return cur.fetchone()


@pytest.fixture
def app_conn(db):
    """A connection of the app role's own (autocommit), for statements expected to fail."""
    with psycopg.connect(**conninfo(owner=False), autocommit=True) as conn:
        yield conn


def test_the_app_is_not_the_superuser_nor_the_owner(db):
    user, is_super, create_db, create_role, bypass_rls = _one(
        "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles "
        "WHERE rolname = current_user"
    )
    assert user == settings.DATABASE_APP_ROLE == dbroles.app_role_name()
    assert (is_super, create_db, create_role, bypass_rls) == (False, False, False, False)
    owner = dbroles.owner_role_name()
    assert owner and owner != user
    # Not a member of the owner (nor of anything that owns our tables), so it cannot SET ROLE to it.
    assert _one("SELECT pg_has_role(current_user, %s, 'MEMBER')", [owner]) == (False,)
    assert _one("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'audit_auditevent'") == (owner,)


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE audit_auditevent",
        "UPDATE audit_auditevent SET reason = 'x'",
        "DELETE FROM audit_auditevent",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER USER",
        "DROP TRIGGER audit_event_no_update_delete ON audit_auditevent",
        "CREATE TABLE audit_shadow (id int)",
        "SET session_replication_role = replica",
    ],
)
@pytest.mark.django_db(transaction=True)
def test_the_app_role_cannot_empty_or_rewrite_the_trail(app_conn, statement):
    audit_record(user=None, action=AuditAction.SEARCH, reason="kept")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute(statement)
    with owner_connect() as owner:
        assert owner.execute("SELECT count(*) FROM audit_auditevent WHERE reason = 'kept'").fetchone() == (1,)


def test_the_app_role_reads_and_appends_and_writes_other_tables(db):
    grants = {
        name: _one(
            "SELECT has_table_privilege(current_user, %s, 'SELECT'), has_table_privilege(current_user, %s, 'INSERT'),"
            " has_table_privilege(current_user, %s, 'UPDATE'), has_table_privilege(current_user, %s, 'DELETE'),"
            " has_table_privilege(current_user, %s, 'TRUNCATE')",
            [name] * 5,
        )
        for name in ("audit_auditevent", "units_unit", "retention_purgereceipt")
    }
    assert grants["audit_auditevent"] == (True, True, False, False, False)
    assert grants["units_unit"] == (True, True, True, True, False)
    assert grants["retention_purgereceipt"] == (True, True, True, True, False)


def test_the_purge_function_is_the_only_door_and_runs_as_the_owner(db):
    definer, owner, callable_by_app, by_public = _one(
        "SELECT p.prosecdef, pg_get_userbyid(p.proowner), has_function_privilege(current_user, p.oid, 'EXECUTE'), "
        "EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0) "
        "FROM pg_proc p WHERE p.oid = 'audit_purge_batch(integer)'::regprocedure"
    )
    assert (definer, owner, callable_by_app, by_public) == (True, dbroles.owner_role_name(), True, False)


def test_default_privileges_cover_tables_of_later_migrations(db):
    """A table a later migration creates (as the owner) is the app role's to use at once; migrate then re-applies
    the narrow grants (apps/core/dbroles.py)."""
    with owner_connect() as owner:
        default_acl = owner.execute(
            "SELECT array_to_string(defaclacl, ',') FROM pg_default_acl WHERE defaclobjtype = 'r'"
        ).fetchone()
    assert default_acl and f"{settings.DATABASE_APP_ROLE}=arwd/" in default_acl[0]
    with owner_connect(autocommit=True) as owner, psycopg.connect(**conninfo(owner=False), autocommit=True) as app:
        owner.execute("CREATE TABLE zz_later_table (id serial PRIMARY KEY, note text)")
        try:
            app.execute("INSERT INTO zz_later_table (note) VALUES ('x')")
            app.execute("UPDATE zz_later_table SET note = 'y'")
            assert app.execute("DELETE FROM zz_later_table RETURNING id").fetchall() == [(1,)]
        finally:
            owner.execute("DROP TABLE zz_later_table")


def test_the_owners_credentials_are_read_where_needed_never_held_as_settings(monkeypatch):
    """DATABASE_OWNER_URL is read from the environment by the few places that need the owner (migrate, the test
    harness, the benches); the settings of the app processes have no trace of it, so a debug page or
    `diffsettings` cannot show the owner's password."""
    marker = "owner-password-not-in-settings-7f3a"
    monkeypatch.setenv("DATABASE_OWNER_URL", f"postgis://someone:{marker}@db.example:5432/elsewhere")
    assert dbroles.owner_credentials() == {"USER": "someone", "PASSWORD": marker}
    assert dbroles.owner_role_name() == "someone"
    assert not [name for name in dir(settings) if "OWNER" in name]
    import runpy
    from pathlib import Path

    namespace = runpy.run_path(str(Path(settings.BASE_DIR) / "rtcc_gis" / "settings.py"))
    assert marker not in repr(namespace)
