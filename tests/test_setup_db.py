"""scripts/setup_db.sh's roles step, run through psql as the script runs it (the admin connection), on roles of
this test's own: a URL without a password leaves a password set some other way alone; one with a password sets it.
Skipped when no admin connection (DATABASE_ADMIN_URL, a superuser) is available."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "setup_db.sh"
ADMIN_URL = os.environ.get("DATABASE_ADMIN_URL") or "postgres://postgres@127.0.0.1:5432/postgres"


def _admin() -> psycopg.Connection:
    try:
        conn = psycopg.connect(ADMIN_URL.replace("postgis://", "postgres://", 1), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no admin connection: {exc}")
    if not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        conn.close()
        pytest.skip("DATABASE_ADMIN_URL is not a superuser")
    return conn


def _roles_sql() -> str:
    """The script's roles step: its first heredoc, fed to psql on the admin connection."""
    match = re.search(r"admin -d postgres <<'SQL'\n(.*?)\nSQL\n", SCRIPT.read_text(), re.S)
    assert match, "setup_db.sh's roles step moved"
    return match.group(1)


def _run(*, owner: str, owner_pw: str, app: str, app_pw: str) -> None:
    url = urlparse(ADMIN_URL)
    env = {**os.environ, "PGPASSWORD": unquote(url.password or "")}
    subprocess.run(
        [
            shutil.which("psql") or "psql",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-h",
            url.hostname or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            unquote(url.username or "postgres"),
            "-d",
            "postgres",
            "-v",
            f"app={app}",
            "-v",
            f"app_pw={app_pw}",
            "-v",
            f"owner={owner}",
            "-v",
            f"owner_pw={owner_pw}",
        ],
        input=_roles_sql(),
        text=True,
        env=env,
        check=True,
        capture_output=True,
        timeout=30,
    )


def _password(conn: psycopg.Connection, role: str) -> str | None:
    return conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role]).fetchone()[0]


@pytest.mark.skipif(not shutil.which("psql"), reason="psql is not installed")
def test_a_url_without_a_password_keeps_the_roles_password():
    conn = _admin()
    tag = uuid.uuid4().hex[:8]
    owner, app = f"setup_test_owner_{tag}", f"setup_test_app_{tag}"
    try:
        _run(owner=owner, owner_pw="owner-secret-1", app=app, app_pw="app-secret-1")
        set_by_url = _password(conn, owner), _password(conn, app)
        assert all(set_by_url)
        conn.execute(f"ALTER ROLE \"{app}\" PASSWORD 'set-some-other-way'")
        other = _password(conn, app)
        _run(owner=owner, owner_pw="", app=app, app_pw="")  # a re-run with URLs that carry no password
        assert (_password(conn, owner), _password(conn, app)) == (set_by_url[0], other)
        _run(owner=owner, owner_pw="owner-secret-2", app=app, app_pw="")
        assert _password(conn, owner) not in (None, set_by_url[0]) and _password(conn, app) == other
    finally:
        conn.execute(f'DROP ROLE IF EXISTS "{owner}"')
        conn.execute(f'DROP ROLE IF EXISTS "{app}"')
        conn.close()
