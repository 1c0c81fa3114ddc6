"""Private Redis and PostgreSQL servers a test can really stop and start, and a Daphne pointed at them.

Nothing here stands in for a part: the fault tests stop a real redis-server or a real PostgreSQL
cluster under a real Daphne, and check what the running server answers while it is down and after
it is back (without restarting Daphne).

- PrivateRedis: a redis-server on a free port, no persistence.
- PrivatePostgres: a throwaway cluster (initdb into a temp dir, run as the `postgres` OS user when
  we are root: initdb refuses root), on a free port, TCP only. clone() copies a database into it
  (pg_dump | psql: the migrated test database with whatever the test created, much faster than
  migrating from scratch), stop()/start() take it down and up on the same port and data.
- DaphneServer (tests/live_support.py): the real ASGI server in a subprocess with the given environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import psycopg
import redis
from psycopg import sql

from .live_support import DaphneServer, free_port, port_open, session_cookie

__all__ = ["DaphneServer", "port_open"]  # the one server every server test starts

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("RTCC_PG_BIN", "/usr/lib/postgresql/15/bin"))


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class PrivateRedis:
    """A redis-server of our own on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._pings, 10, f"redis-server on {self.port}")

    def _pings(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
        wait_for(lambda: not port_open(self.port), 5, f"redis-server on {self.port} to stop")


class PrivatePostgres:
    """A PostgreSQL 15 cluster of our own (PostGIS available from the system's extension files)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rtcc-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.running = False
        # initdb and postgres refuse to run as root.
        self.as_user: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *args], capture_output=True, text=True, check=check, timeout=120)

    def init(self) -> None:
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        result = self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"private PostgreSQL did not start:\n{result.stdout}{result.stderr}\n{self.logs()}")
        wait_for(self._accepts, 30, f"PostgreSQL on {self.port}")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session (a restart); `immediate` kills the server with no shutdown at all
        (a crash: recovery runs at the next start and every open transaction is gone)."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
        wait_for(lambda: not port_open(self.port), 30, f"PostgreSQL on {self.port} to stop")
        self.running = False

    def logs(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def url(self, dbname: str, scheme: str = "postgis") -> str:
        return f"{scheme}://postgres@127.0.0.1:{self.port}/{quote(dbname)}"

    def connect(self, dbname: str = "postgres", **kw) -> psycopg.Connection:
        return psycopg.connect(self.url(dbname, scheme="postgresql"), connect_timeout=3, **kw)

    def _accepts(self) -> bool:
        try:
            with self.connect():
                return True
        except psycopg.OperationalError:
            return False

    def clone(self, source_url: str, dbname: str) -> str:
        """Copy the database at `source_url` (schema and rows) into a new database here; its URL."""
        source = source_url.replace("postgis://", "postgresql://", 1)
        # The roles the schema may name (policies, SECURITY DEFINER owners): they are cluster-wide, so
        # a dump does not carry them. The server under test connects as the superuser anyway.
        with psycopg.connect(source, connect_timeout=5) as conn:
            roles = [r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_'")]
        with self.connect(autocommit=True) as conn:
            existing = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles")}
            for role in sorted(set(roles) - existing):
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        dump = subprocess.run(
            ["pg_dump", "--no-owner", "--no-privileges", "--dbname", source],
            capture_output=True,
            check=True,
            timeout=120,
        )
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", self.url(dbname, scheme="postgresql")],
            input=dump.stdout,
            capture_output=True,
            check=True,
            timeout=120,
        )
        return self.url(dbname)

    def destroy(self) -> None:
        if self.running:
            self.stop(mode="immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- signing in from outside: a session made here, CSRF as a browser sends it ---------------------------------------

CSRF = "faultsfaultsfaultsfaultsfaults42"  # any 32 letters and digits: the cookie and the form/header must agree


def session_headers(user, *, json_body: bool = False) -> dict[str, str]:
    """Headers of a browser signed in as `user` (a session row in the database the server reads)."""
    from django.conf import settings

    headers = {
        "Cookie": f"{session_cookie(user)}; {settings.CSRF_COOKIE_NAME}={CSRF}",
        "X-CSRFToken": CSRF,
        "Accept": "application/json",
    }
    if json_body:
        headers["Content-Type"] = "application/json"
    return headers


class CacheReadingMiddleware:
    """For tests: a middleware that reads the cache on the way in, as a session-timeout or
    rate-limit middleware would. A failure here is outside every view, so no process_exception
    hook sees it; apps.core.unavailable must still answer 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.core.cache import cache

        cache.get("rtcc-faults-probe")
        return self.get_response(request)
